package baselines

import (
	"context"
	"math"
	"testing"

	"github.com/prunebench/prunebench/internal/goldentest"
	"github.com/prunebench/prunebench/prune"
)

func relClose(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Abs(want)
}

func TestGoldenStatistics(t *testing.T) {
	for _, name := range goldentest.Files {
		t.Run(name, func(t *testing.T) {
			g := goldentest.Load(t, name)
			if g.St.Tokens%goldentest.ChunkRows != 0 || g.St.Seqs != g.St.Tokens/goldentest.ChunkRows {
				t.Fatalf("tokens %d, seqs %d", g.St.Tokens, g.St.Seqs)
			}
			ref := g.F32(t, "wanda_scaler_row")
			for j, v := range ScalerRow(g.St) {
				if !relClose(v, float64(ref[j]), 1e-5) {
					t.Errorf("scaler_row[%d] = %g, reference %g", j, v, ref[j])
				}
			}
			h := g.F32(t, "sparsegpt_H")
			maxH := goldentest.MaxAbs(h)
			for i, v := range g.St.Gram {
				got := 2 * v / float64(g.St.Seqs)
				if math.Abs(got-float64(h[i])) > 1e-5*maxH {
					t.Fatalf("H[%d,%d] = %g, reference %g", i/g.St.In, i%g.St.In, got, h[i])
				}
			}
		})
	}
}

func TestGoldenMasks(t *testing.T) {
	cases := []struct {
		method  prune.Method
		pattern string
		mask    string
		errTag  string
	}{
		{Magnitude{}, "0.5", "magnitude_50_exact_mask", "magnitude_50_exact"},
		{Magnitude{}, "2:4", "magnitude_2of4_mask", "magnitude_2of4"},
		{Wanda{}, "0.5", "wanda_50_mask", "wanda_50"},
		{Wanda{}, "2:4", "wanda_2of4_mask", "wanda_2of4"},
	}
	for _, name := range goldentest.Files {
		g := goldentest.Load(t, name)
		for _, c := range cases {
			t.Run(name+"/"+c.mask, func(t *testing.T) {
				p, err := prune.ParsePattern(c.pattern)
				if err != nil {
					t.Fatal(err)
				}
				w := g.Clone()
				mask, rep, err := c.method.Prune(context.Background(), w, g.St, p)
				if err != nil {
					t.Fatal(err)
				}
				want := g.Mask(t, c.mask)
				for i := range want {
					if mask[i] != want[i] {
						t.Fatalf("mask differs first at [%d,%d]: got %v, reference %v", i/w.In, i%w.In, mask[i], want[i])
					}
				}
				if err := prune.Verify(mask, w, p, c.method.Name() == "wanda"); err != nil {
					t.Fatal(err)
				}
				if got, want := rep.Sparsity, p.Sparsity(); math.Abs(got-want) > 1.0/float64(len(w.W)) {
					t.Errorf("sparsity %g, want %g", got, want)
				}
				got := prune.RelError(g.W.W, w.W, w.Out, w.In, g.St)
				if ref := g.Err(t, c.errTag); !relClose(got, ref, 1e-4) {
					t.Errorf("reconstruction error %.9g, reference %.9g", got, ref)
				}
			})
		}
	}
}

func TestGoldenSparseGPT(t *testing.T) {
	cases := []struct {
		pattern, ref, errTag string
	}{
		{"0.5", "sparsegpt_50_exact_W", "sparsegpt_50_exact"},
		{"2:4", "sparsegpt_2of4_W", "sparsegpt_2of4"},
	}
	for _, name := range goldentest.Files {
		g := goldentest.Load(t, name)
		for _, c := range cases {
			t.Run(name+"/"+c.ref, func(t *testing.T) {
				p, err := prune.ParsePattern(c.pattern)
				if err != nil {
					t.Fatal(err)
				}
				ref := g.F32(t, c.ref)
				w := g.Clone()
				mask, _, err := DefaultSparseGPT().Prune(context.Background(), w, g.St, p)
				if err != nil {
					t.Fatal(err)
				}
				compareWeights(t, w.W, ref, w.In)
				refMask := make(prune.Mask, len(ref))
				for i, v := range ref {
					refMask[i] = v == 0
				}
				for i := range mask {
					if mask[i] != refMask[i] {
						t.Fatalf("mask differs from the reference zero pattern first at [%d,%d]", i/w.In, i%w.In)
					}
				}
				if err := prune.Verify(mask, w, p, false); err != nil {
					t.Fatal(err)
				}
				got := prune.RelError(g.W.W, w.W, w.Out, w.In, g.St)
				if want := g.Err(t, c.errTag); !relClose(got, want, 1e-4) {
					t.Errorf("reconstruction error %.9g, reference %.9g", got, want)
				}

				// The same sweep on the reference's final support must land
				// on the same weights: selection and update are separable.
				fixed := g.Clone()
				if _, err := DefaultSparseGPT().PruneWithMask(context.Background(), fixed, g.St, refMask); err != nil {
					t.Fatal(err)
				}
				compareWeights(t, fixed.W, ref, w.In)
			})
		}
	}
}

// compareWeights checks |Δ| ≤ 1e-4·max|ref| and an identical zero pattern.
func compareWeights(t *testing.T, got, ref []float32, in int) {
	t.Helper()
	maxRef := goldentest.MaxAbs(ref)
	worst, at := 0.0, 0
	for i := range ref {
		if (got[i] == 0) != (ref[i] == 0) {
			t.Fatalf("zero pattern differs at [%d,%d]: got %g, reference %g", i/in, i%in, got[i], ref[i])
		}
		if d := math.Abs(float64(got[i]) - float64(ref[i])); d > worst {
			worst, at = d, i
		}
	}
	if worst > 1e-4*maxRef {
		t.Fatalf("max |Δ| %g at [%d,%d] exceeds 1e-4·max|W_ref| = %g", worst, at/in, at%in, 1e-4*maxRef)
	}
	t.Logf("max |Δ|/max|W_ref| = %.2g", worst/maxRef)
}
