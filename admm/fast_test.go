package admm

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// TestFastMatchesReference compares the float32 iteration (delta form, A⁻¹
// rounded to float32) with its float64 twin, refSystem, which forms the
// right-hand side explicitly: on fixed masks (ADMM1's, and a dead-input
// layer), plain and over-relaxed, and through ADMM-Grad's gradual steps
// (same masks, since the selections see the same scores to float32
// rounding on these layers).
func TestFastMatchesReference(t *testing.T) {
	type layer struct {
		name string
		w    model.Linear
		st   *prune.Stats
	}
	var layers []layer
	w, st, _ := synthetic(1, 16, 64, 512)
	layers = append(layers, layer{"synthetic 16×64", w, st})
	w, st, _ = synthetic(9, 8, 48, 20, 5, 30)
	layers = append(layers, layer{"rank-deficient 8×48", w, st})
	for _, l := range layers {
		for _, relax := range []float64{0, 0.6} {
			for _, p := range []prune.Pattern{{Ratio: 0.6}, {N: 2, M: 4}} {
				for _, grad := range []bool{false, true} {
					o := ADMM1Defaults()
					if grad {
						o = ADMMGradDefaults()
					}
					o.OverRelax = relax
					ref, err := newRefSystem(&l.w, l.st, o)
					if err != nil {
						t.Fatal(err)
					}
					var mask prune.Mask
					var sel *selector
					if grad {
						sel = &selector{out: l.w.Out, in: l.w.In, p: p, steps: o.Steps}
					} else {
						if mask, err = prune.Select(ref.absB(), l.w.Out, l.w.In, p, false); err != nil {
							t.Fatal(err)
						}
					}
					want, wantMask := ref.solve(mask, o, sel)

					name := "admm1"
					if grad {
						name = "admm-grad"
					}
					m, err := newMethod(name, o)
					if err != nil {
						t.Fatal(err)
					}
					got := clone(l.w)
					gotMask, _, err := m.Prune(context.Background(), &got, l.st, p)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(gotMask, wantMask) {
						t.Errorf("%s %s grad %v relax %g: masks differ", l.name, p, grad, relax)
						continue
					}
					g64 := make([]float64, len(got.W))
					for i, v := range got.W {
						g64[i] = float64(v)
					}
					d := relDist(g64, want)
					eGot := prune.RelError(l.w.W, got.W, l.w.Out, l.w.In, l.st)
					eWant := prune.RelError(l.w.W, toFloat32(want), l.w.Out, l.w.In, l.st)
					t.Logf("%s %s grad %v relax %g: ‖fast−ref‖/‖ref‖ = %.2g, error %.7g vs %.7g", l.name, p, grad, relax, d, eGot, eWant)
					if d > 1e-5 || math.Abs(eGot-eWant) > 1e-5*eWant {
						t.Errorf("%s %s grad %v relax %g: distance %.3g, errors %.7g and %.7g", l.name, p, grad, relax, d, eGot, eWant)
					}
				}
			}
		}
	}
}

// TestFactorShared: linears reading the same statistics (q, k, v) share
// one A⁻¹ from the Stats' cache, with results bit-identical to pruning
// each with its own copy of the statistics; a different ρ or percdamp is
// another entry, Add empties the cache and ReleaseCache frees it.
func TestFactorShared(t *testing.T) {
	_, st, x := synthetic(4, 16, 64, 256)
	fresh := func() *prune.Stats {
		s := prune.NewStats(64)
		if err := s.Add(x, 256, 1); err != nil {
			t.Fatal(err)
		}
		return s
	}
	m, err := NewADMMGrad(ADMMGradDefaults())
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint64(20); seed < 23; seed++ { // q, k, v
		w, _, _ := synthetic(seed, 16, 64, 8)
		shared, alone := clone(w), clone(w)
		_, repShared, err := m.Prune(context.Background(), &shared, st, prune.Pattern{Ratio: 0.6})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.Prune(context.Background(), &alone, fresh(), prune.Pattern{Ratio: 0.6}); err != nil {
			t.Fatal(err)
		}
		for i := range shared.W {
			if math.Float32bits(shared.W[i]) != math.Float32bits(alone.W[i]) {
				t.Fatalf("linear %d: weight %d is %g with the shared factorisation, %g alone", seed, i, shared.W[i], alone.W[i])
			}
		}
		if f := repShared.Phases[0]; f.Name != "factor" || (seed == 20) != (f.Seconds > 0) {
			t.Errorf("linear %d: factor phase %+v: only the first linear should compute it", seed, f)
		}
	}
	if v, err := st.Memo(factorKey{0.1, 1}, func() (any, error) { t.Fatal("recomputed"); return nil, nil }); err != nil || v == nil {
		t.Fatalf("cached factor: %v %v", v, err)
	}
	n := 0
	for _, k := range []factorKey{{0.1, 1}, {0.1, 2}, {0.2, 1}} {
		if _, err := st.Memo(k, func() (any, error) { n++; return &factor{}, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if n != 2 {
		t.Errorf("%d computations for two new keys", n)
	}
	if err := st.Add(x[:64], 1, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Memo(factorKey{0.1, 1}, func() (any, error) { n++; return &factor{}, nil }); err != nil || n != 3 {
		t.Errorf("after Add the cache should be empty (%d computations, %v)", n, err)
	}
	st.ReleaseCache()
	if _, err := st.Memo(factorKey{0.1, 1}, func() (any, error) { n++; return &factor{}, nil }); err != nil || n != 4 {
		t.Errorf("after ReleaseCache the cache should be empty (%d computations, %v)", n, err)
	}
}
