package baselines

import (
	"math"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/safetensors"
)

// goldenFiles are the per-layer cases of /work/shared/golden (README.md).
var goldenFiles = []string{
	"stories260K_L0_q_proj.safetensors",
	"stories260K_L2_o_proj.safetensors",
	"stories260K_L4_down_proj.safetensors",
	"synthetic_96x48.safetensors",
}

// goldenChunkRows is the references' add_batch size: one sequence per chunk.
const goldenChunkRows = 512

type goldenCase struct {
	f       *safetensors.File
	w       model.Linear // dense weight
	st      *prune.Stats
	errs    map[string]float64
	maxWRef float64
}

func loadGolden(t *testing.T, name string) *goldenCase {
	t.Helper()
	f, err := safetensors.Open(datatest.Golden(t, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w, wShape, err := f.Float32("W")
	if err != nil {
		t.Fatal(err)
	}
	x, xShape, err := f.Float32("X")
	if err != nil {
		t.Fatal(err)
	}
	if len(wShape) != 2 || len(xShape) != 2 || xShape[1] != wShape[1] || xShape[0]%goldenChunkRows != 0 {
		t.Fatalf("%s: W %v and X %v do not fit together", name, wShape, xShape)
	}
	out, in := wShape[0], wShape[1]
	st := prune.NewStats(in)
	for lo := 0; lo < xShape[0]; lo += goldenChunkRows {
		if err := st.Add(x[lo*in:(lo+goldenChunkRows)*in], goldenChunkRows, 1); err != nil {
			t.Fatal(err)
		}
	}
	return &goldenCase{f: f, w: model.Linear{Out: out, In: in, W: w}, st: st}
}

func (g *goldenCase) f32(t *testing.T, name string) []float32 {
	t.Helper()
	v, _, err := g.f.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (g *goldenCase) mask(t *testing.T, name string) prune.Mask {
	t.Helper()
	v, _, err := g.f.Uint8(name)
	if err != nil {
		t.Fatal(err)
	}
	m := make(prune.Mask, len(v))
	for i, b := range v {
		m[i] = b != 0
	}
	return m
}

func (g *goldenCase) err(t *testing.T, tag string) float64 {
	t.Helper()
	v, _, err := g.f.Float64("err_" + tag)
	if err != nil || len(v) != 1 {
		t.Fatalf("err_%s: %v (%d values)", tag, err, len(v))
	}
	return v[0]
}

func (g *goldenCase) clone() *model.Linear {
	return &model.Linear{Out: g.w.Out, In: g.w.In, W: append([]float32(nil), g.w.W...)}
}

func relClose(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Abs(want)
}

func TestGoldenStatistics(t *testing.T) {
	for _, name := range goldenFiles {
		t.Run(name, func(t *testing.T) {
			g := loadGolden(t, name)
			if g.st.Tokens%goldenChunkRows != 0 || g.st.Seqs != g.st.Tokens/goldenChunkRows {
				t.Fatalf("tokens %d, seqs %d", g.st.Tokens, g.st.Seqs)
			}
			ref := g.f32(t, "wanda_scaler_row")
			for j, v := range ScalerRow(g.st) {
				if !relClose(v, float64(ref[j]), 1e-5) {
					t.Errorf("scaler_row[%d] = %g, reference %g", j, v, ref[j])
				}
			}
			h := g.f32(t, "sparsegpt_H")
			maxH := 0.0
			for _, v := range h {
				maxH = max(maxH, math.Abs(float64(v)))
			}
			for i, v := range g.st.Gram {
				got := 2 * v / float64(g.st.Seqs)
				if math.Abs(got-float64(h[i])) > 1e-5*maxH {
					t.Fatalf("H[%d,%d] = %g, reference %g", i/g.st.In, i%g.st.In, got, h[i])
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
	for _, name := range goldenFiles {
		g := loadGolden(t, name)
		for _, c := range cases {
			t.Run(name+"/"+c.mask, func(t *testing.T) {
				p, err := prune.ParsePattern(c.pattern)
				if err != nil {
					t.Fatal(err)
				}
				w := g.clone()
				mask, rep, err := c.method.Prune(w, g.st, p)
				if err != nil {
					t.Fatal(err)
				}
				want := g.mask(t, c.mask)
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
				got := prune.RelError(g.w.W, w.W, w.Out, w.In, g.st)
				if ref := g.err(t, c.errTag); !relClose(got, ref, 1e-4) {
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
	for _, name := range goldenFiles {
		g := loadGolden(t, name)
		for _, c := range cases {
			t.Run(name+"/"+c.ref, func(t *testing.T) {
				p, err := prune.ParsePattern(c.pattern)
				if err != nil {
					t.Fatal(err)
				}
				ref := g.f32(t, c.ref)
				w := g.clone()
				mask, _, err := SparseGPT{}.Prune(w, g.st, p)
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
				got := prune.RelError(g.w.W, w.W, w.Out, w.In, g.st)
				if want := g.err(t, c.errTag); !relClose(got, want, 1e-4) {
					t.Errorf("reconstruction error %.9g, reference %.9g", got, want)
				}

				// The same sweep on the reference's final support must land
				// on the same weights: selection and update are separable.
				fixed := g.clone()
				if _, err := (SparseGPT{}).PruneWithMask(fixed, g.st, refMask); err != nil {
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
	maxRef := 0.0
	for _, v := range ref {
		maxRef = max(maxRef, math.Abs(float64(v)))
	}
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
