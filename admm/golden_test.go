package admm_test

import (
	"context"
	"math"
	"testing"

	"github.com/prunebench/prunebench/admm"
	"github.com/prunebench/prunebench/internal/goldentest"
	"github.com/prunebench/prunebench/prune"
)

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
	for _, file := range goldentest.Files {
		g := goldentest.Load(t, file)
		for _, c := range cases {
			t.Run(file+"/"+c.tag+"/"+c.opts.Schedule, func(t *testing.T) {
				want := g.F32(t, c.tag+"_W")
				wantErr := g.Err(t, c.tag)
				m, err := c.newM(c.opts)
				if err != nil {
					t.Fatal(err)
				}
				w := g.Clone()
				mask, rep, err := m.Prune(context.Background(), w, g.St, c.pattern)
				if err != nil {
					t.Fatal(err)
				}
				if err := prune.Verify(mask, w, c.pattern, false); err != nil {
					t.Error(err)
				}
				refMax := goldentest.MaxAbs(want)
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
				got := prune.RelError(g.W.W, w.W, w.Out, w.In, g.St)
				if rel := math.Abs(got-wantErr) / wantErr; rel > 1e-4 {
					t.Errorf("reconstruction error %.7g, reference %.7g (relative difference %.2g)", got, wantErr, rel)
				}
				if want := float64(mask.Count()) / float64(len(mask)); rep.Sparsity != want {
					t.Errorf("reported sparsity %g, mask's %g", rep.Sparsity, want)
				}
				t.Logf("max|Δ|/max|W_ref| = %.2g, error %.6g (reference %.6g)", worst/refMax, got, wantErr)
			})
		}
	}
}
