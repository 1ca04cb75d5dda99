package admm_test

import (
	"context"
	"math"
	"testing"

	"github.com/prunebench/prunebench/admm"
	"github.com/prunebench/prunebench/baselines"
	"github.com/prunebench/prunebench/internal/goldentest"
	"github.com/prunebench/prunebench/prune"
)

// TestMaskOnlyIsWanda: with no iterations and per-output selection, ADMM1
// is Wanda (PRUNING.md §6.7), on real layers and on the synthetic layer
// whose dead input is pruned first by both.
func TestMaskOnlyIsWanda(t *testing.T) {
	o := admm.ADMM1Defaults()
	o.Iters, o.PerOutput = 0, true
	m, err := admm.NewADMM1(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range goldentest.Files {
		g := goldentest.Load(t, file)
		for _, p := range []prune.Pattern{{Ratio: 0.5}, {Ratio: 0.7}, {N: 2, M: 4}} {
			a, b := g.Clone(), g.Clone()
			got, _, err := m.Prune(context.Background(), a, g.St, p)
			if err != nil {
				t.Fatal(err)
			}
			want, _, err := baselines.Wanda{}.Prune(context.Background(), b, g.St, p)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if got[i] != want[i] || a.W[i] != b.W[i] {
					t.Fatalf("%s %s: weight %d: admm1 (pruned %v, %g), wanda (pruned %v, %g)", file, p, i, got[i], a.W[i], want[i], b.W[i])
				}
			}
		}
	}
}

// TestMaskFrom: ADMM1 on another method's mask keeps exactly that mask,
// and its update beats applying the mask alone.
func TestMaskFrom(t *testing.T) {
	g := goldentest.Load(t, "stories260K_L2_o_proj.safetensors")
	for _, src := range []prune.Method{baselines.Magnitude{}, baselines.Wanda{}, baselines.DefaultSparseGPT()} {
		for _, p := range []prune.Pattern{{Ratio: 0.6}, {N: 2, M: 4}} {
			o := admm.ADMM1Defaults()
			o.MaskFrom = src
			m, err := admm.NewADMM1(o)
			if err != nil {
				t.Fatal(err)
			}
			ref := g.Clone()
			want, _, err := src.Prune(context.Background(), ref, g.St, p)
			if err != nil {
				t.Fatal(err)
			}
			v := g.Clone()
			mask, _, err := m.Prune(context.Background(), v, g.St, p)
			if err != nil {
				t.Fatal(err)
			}
			for i := range mask {
				if mask[i] != want[i] || (v.W[i] == 0) != want[i] {
					t.Fatalf("%s %s: weight %d is %g, pruned %v; %s's mask says %v", src.Name(), p, i, v.W[i], mask[i], src.Name(), want[i])
				}
			}
			only := g.Clone()
			want.Apply(only.W)
			e, eMask := prune.RelError(g.W.W, v.W, v.Out, v.In, g.St), prune.RelError(g.W.W, only.W, v.Out, v.In, g.St)
			if e >= eMask {
				t.Errorf("%s %s: ADMM update error %.4g not below mask-only %.4g", src.Name(), p, e, eMask)
			}
			t.Logf("%s %s: mask only %.4g, %s's own update %.4g, ADMM update %.4g", src.Name(), p, eMask,
				src.Name(), prune.RelError(g.W.W, ref.W, v.Out, v.In, g.St), e)
		}
	}
}

// TestSparseGPTOnSameMask: on one fixed mask, SparseGPT's update cannot
// beat the least-squares optimum, which undamped ADMM converges to.
func TestSparseGPTOnSameMask(t *testing.T) {
	for _, file := range goldentest.Files {
		g := goldentest.Load(t, file)
		for _, p := range []prune.Pattern{{Ratio: 0.6}, {N: 2, M: 4}} {
			mask, _, err := baselines.Wanda{}.Prune(context.Background(), g.Clone(), g.St, p)
			if err != nil {
				t.Fatal(err)
			}
			sg := g.Clone()
			if _, err := baselines.DefaultSparseGPT().PruneWithMask(context.Background(), sg, g.St, mask); err != nil {
				t.Fatal(err)
			}
			opt := g.Clone()
			o := admm.ADMM1Defaults()
			o.Iters, o.PercDamp = 300, 0
			if _, err := admm.Solve(context.Background(), opt, g.St, mask, o); err != nil {
				t.Fatal(err)
			}
			def := g.Clone()
			if _, err := admm.Solve(context.Background(), def, g.St, mask, admm.ADMM1Defaults()); err != nil {
				t.Fatal(err)
			}
			relErr := func(v []float32) float64 { return prune.RelError(g.W.W, v, g.W.Out, g.W.In, g.St) }
			eSG, eOpt, eDef := relErr(sg.W), relErr(opt.W), relErr(def.W)
			t.Logf("%s %s: sparsegpt %.5g, admm optimum %.5g, admm defaults %.5g", file, p, eSG, eOpt, eDef)
			if eSG < eOpt*(1-1e-5) || math.IsNaN(eSG) {
				t.Errorf("%s %s: sparsegpt error %.6g below the least-squares optimum %.6g", file, p, eSG, eOpt)
			}
		}
	}
}
