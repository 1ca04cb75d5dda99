package admm_test

import (
	"math"
	"testing"

	"github.com/prunebench/prunebench/admm"
	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/safetensors"
)

var goldenFiles = []string{
	"stories260K_L0_q_proj.safetensors",
	"stories260K_L2_o_proj.safetensors",
	"stories260K_L4_down_proj.safetensors",
	"synthetic_96x48.safetensors",
}

// goldenLayer is one golden file's dense weight and the statistics built
// from its stored X, fed in 512-row chunks as the reference did.
type goldenLayer struct {
	f  *safetensors.File
	w  model.Linear
	st *prune.Stats
}

func loadGolden(t *testing.T, name string) goldenLayer {
	t.Helper()
	f, err := safetensors.Open(datatest.Golden(t, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w, ws, err := f.Float32("W")
	if err != nil {
		t.Fatal(err)
	}
	x, xs, err := f.Float32("X")
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || len(xs) != 2 || xs[1] != ws[1] {
		t.Fatalf("%s: W %v and X %v do not fit", name, ws, xs)
	}
	st := prune.NewStats(ws[1])
	const chunk = 512
	for lo := 0; lo < xs[0]; lo += chunk {
		hi := min(lo+chunk, xs[0])
		if err := st.Add(x[lo*xs[1]:hi*xs[1]], hi-lo, 1); err != nil {
			t.Fatal(err)
		}
	}
	return goldenLayer{f: f, w: model.Linear{Out: ws[0], In: ws[1], W: w}, st: st}
}

func grad(schedule string) admm.Options {
	o := admm.ADMMGradDefaults()
	o.Schedule = schedule
	return o
}

// TestGolden reproduces the reference AdmmPruner outputs (and prunebench's
// cubic variant) from the stored X and W.
func TestGolden(t *testing.T) {
	cases := []struct {
		tag     string
		newM    func(admm.Options) (prune.Method, error)
		opts    admm.Options
		pattern prune.Pattern
	}{
		{"admm1_60", admm.NewADMM1, admm.ADMM1Defaults(), prune.Pattern{Ratio: 0.6}},
		{"admm1_2of4", admm.NewADMM1, admm.ADMM1Defaults(), prune.Pattern{N: 2, M: 4}},
		{"admm_grad_60", admm.NewADMMGrad, grad(admm.ScheduleReferenceFull), prune.Pattern{Ratio: 0.6}},
		{"admm_grad_2of4", admm.NewADMMGrad, grad(admm.ScheduleReferenceFull), prune.Pattern{N: 2, M: 4}},
		// For N:M both schedules are the cubic ramp.
		{"admm_grad_2of4", admm.NewADMMGrad, grad(admm.ScheduleCubic), prune.Pattern{N: 2, M: 4}},
		{"admm_grad_60_cubic", admm.NewADMMGrad, grad(admm.ScheduleCubic), prune.Pattern{Ratio: 0.6}},
	}
	for _, file := range goldenFiles {
		g := loadGolden(t, file)
		for _, c := range cases {
			t.Run(file+"/"+c.tag+"/"+c.opts.Schedule, func(t *testing.T) {
				want, _, err := g.f.Float32(c.tag + "_W")
				if err != nil {
					t.Fatal(err)
				}
				wantErr, _, err := g.f.Float64("err_" + c.tag)
				if err != nil {
					t.Fatal(err)
				}
				m, err := c.newM(c.opts)
				if err != nil {
					t.Fatal(err)
				}
				w := model.Linear{Out: g.w.Out, In: g.w.In, W: append([]float32(nil), g.w.W...)}
				mask, rep, err := m.Prune(&w, g.st, c.pattern)
				if err != nil {
					t.Fatal(err)
				}
				if err := prune.Verify(mask, &w, c.pattern, false); err != nil {
					t.Error(err)
				}
				refMax := 0.0
				for _, v := range want {
					refMax = math.Max(refMax, math.Abs(float64(v)))
				}
				worst, zeroDiff := 0.0, 0
				for i, v := range w.W {
					worst = math.Max(worst, math.Abs(float64(v)-float64(want[i])))
					if (v == 0) != (want[i] == 0) || mask[i] != (want[i] == 0) {
						zeroDiff++
					}
				}
				if zeroDiff != 0 {
					t.Errorf("zero pattern differs from the reference at %d of %d weights", zeroDiff, len(want))
				}
				if worst > 1e-4*refMax {
					t.Errorf("max |Δ| = %.3g > 1e-4·max|W_ref| = %.3g", worst, 1e-4*refMax)
				}
				got := prune.RelError(g.w.W, w.W, w.Out, w.In, g.st)
				if rel := math.Abs(got-wantErr[0]) / wantErr[0]; rel > 1e-4 {
					t.Errorf("reconstruction error %.7g, reference %.7g (relative difference %.2g)", got, wantErr[0], rel)
				}
				if want := float64(mask.Count()) / float64(len(mask)); rep.Sparsity != want {
					t.Errorf("reported sparsity %g, mask's %g", rep.Sparsity, want)
				}
				t.Logf("max|Δ|/max|W_ref| = %.2g, error %.6g (reference %.6g)", worst/refMax, got, wantErr[0])
			})
		}
	}
}
