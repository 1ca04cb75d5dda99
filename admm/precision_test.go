package admm

import (
	"context"
	"math"
	"testing"

	"github.com/prunebench/prunebench/internal/goldentest"
	"github.com/prunebench/prunebench/prune"
)

// invertSPD32 inverts the SPD n×n matrix a entirely in float32: Cholesky,
// then the inverse column by column by forward and back substitution.
func invertSPD32(a []float32, n int) []float32 {
	l := make([]float32, n*n)
	for j := 0; j < n; j++ {
		s := a[j*n+j]
		for k := 0; k < j; k++ {
			s -= l[j*n+k] * l[j*n+k]
		}
		d := float32(math.Sqrt(float64(s)))
		l[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := 0; k < j; k++ {
				s -= l[i*n+k] * l[j*n+k]
			}
			l[i*n+j] = s / d
		}
	}
	inv := make([]float32, n*n)
	y := make([]float32, n)
	for c := 0; c < n; c++ {
		for i := 0; i < n; i++ {
			s := float32(0)
			if i == c {
				s = 1
			}
			for k := 0; k < i; k++ {
				s -= l[i*n+k] * y[k]
			}
			y[i] = s / l[i*n+i]
		}
		for i := n - 1; i >= 0; i-- {
			s := y[i]
			for k := i + 1; k < n; k++ {
				s -= l[k*n+i] * inv[k*n+c]
			}
			inv[i*n+c] = s / l[i*n+i]
		}
	}
	return inv
}

// TestPrecisionOfFactor measures, on the golden cases, what the float64
// factorisation buys: the same ADMM1 and ADMM-Grad runs with A⁻¹ computed
// in float64 and rounded (what the method does) and computed entirely in
// float32 (as the reference's fp32 LU inverse), each compared with the
// reference's weights (max|Δ|/max|W_ref|, tolerance 1e-4) and error
// (relative difference, tolerance 1e-4). It fails only if the float64
// factor misses the tolerances; the float32 figures are for the reader.
func TestPrecisionOfFactor(t *testing.T) {
	cases := []struct {
		tag  string
		grad bool
		p    prune.Pattern
	}{
		{"admm1_60", false, prune.Pattern{Ratio: 0.6}},
		{"admm1_2of4", false, prune.Pattern{N: 2, M: 4}},
		{"admm_grad_60", true, prune.Pattern{Ratio: 0.6}},
		{"admm_grad_2of4", true, prune.Pattern{N: 2, M: 4}},
	}
	for _, file := range goldentest.Files {
		g := goldentest.Load(t, file)
		for _, c := range cases {
			want := g.F32(t, c.tag+"_W")
			wantErr := g.Err(t, c.tag)
			refMax := goldentest.MaxAbs(want)
			for _, f32 := range []bool{false, true} {
				o := ADMM1Defaults()
				if c.grad {
					o = ADMMGradDefaults()
					o.Schedule = ScheduleReferenceFull
				}
				w := g.Clone()
				st := *g.St // a private cache
				sys, err := newSystem(context.Background(), w, &st, o)
				if err != nil {
					t.Fatal(err)
				}
				if f32 {
					n := w.In
					a64 := make([]float64, n*n)
					mean := 0.0
					for j, dj := range sys.d {
						mean += st.Gram[j*n+j] / (dj * dj)
					}
					normalised(a64, st.Gram, sys.d, o.PercDamp*mean/float64(n)+o.Rho)
					a := make([]float32, n*n)
					for i, v := range a64 {
						a[i] = float32(v)
					}
					sys.f = &factor{ainv: invertSPD32(a, n)}
				}
				var mask prune.Mask
				var step stepFunc
				if c.grad {
					sel := &selector{out: w.Out, in: w.In, p: c.p, steps: o.Steps, full: true}
					step = sel.step
				} else if mask, err = prune.Select(absB0(w, sys.d), w.Out, w.In, c.p, false); err != nil {
					t.Fatal(err)
				}
				orig := g.Clone()
				mask, err = sys.solve(context.Background(), w, mask, o, step)
				if err != nil {
					t.Fatal(err)
				}
				worst, zeroDiff := 0.0, 0
				for i, v := range w.W {
					worst = math.Max(worst, math.Abs(float64(v)-float64(want[i])))
					if mask[i] != (want[i] == 0) {
						zeroDiff++
					}
				}
				got := prune.RelError(orig.W, w.W, w.Out, w.In, g.St)
				rel := math.Abs(got-wantErr) / wantErr
				kind := "float64 factor"
				if f32 {
					kind = "float32 factor"
				}
				t.Logf("%s %s %s: max|Δ|/max|W_ref| = %.2g, error rel. diff %.2g, zero pattern differs at %d", file, c.tag, kind, worst/refMax, rel, zeroDiff)
				if !f32 && (worst > 1e-4*refMax || rel > 1e-4 || zeroDiff > 0) {
					t.Errorf("%s %s: outside the golden tolerances", file, c.tag)
				}
			}
		}
	}
}
