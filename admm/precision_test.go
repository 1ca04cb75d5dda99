package admm

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/internal/goldentest"
	"github.com/prunebench/prunebench/linalg"
	"github.com/prunebench/prunebench/prune"
)

// TestPrecisionOfFactor measures, on the golden cases, what a float64
// factorisation would buy: the same ADMM1 and ADMM-Grad runs with A⁻¹
// computed in float32 (what the method does there, as the reference's fp32
// LU inverse) and in float64 and rounded, each compared with the
// reference's weights (max|Δ|/max|W_ref|, tolerance 1e-4) and error
// (relative difference, tolerance 1e-4). It fails if the method keeps to
// float64 here or misses the tolerances; the float64 figures are for the
// reader.
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
				if f32 && len(sys.f.notes) > 0 {
					t.Fatalf("%s %s: the float32 factor was refused: %v", file, c.tag, sys.f.notes)
				}
				if !f32 {
					sys.f = &factor{ainv: inverse64(t, st.Gram, sys.d, o)}
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
				if f32 && (worst > 1e-4*refMax || rel > 1e-4 || zeroDiff > 0) {
					t.Errorf("%s %s: outside the golden tolerances", file, c.tag)
				}
			}
		}
	}
}

// inverse64 is A⁻¹ of newFactor's float64 route (no retries), rounded.
func inverse64(t *testing.T, gram, d []float64, o Options) []float32 {
	t.Helper()
	n := len(d)
	mean := 0.0
	for j, dj := range d {
		mean += gram[j*n+j] / (dj * dj)
	}
	a := make([]float64, n*n)
	normalised(a, gram, d, o.PercDamp*mean/float64(n)+o.Rho)
	if err := linalg.InvertSPD(context.Background(), a, n); err != nil {
		t.Fatal(err)
	}
	inv := make([]float32, n*n)
	for i, v := range a {
		inv[i] = float32(v)
	}
	return inv
}

// collinearGram is the Gram of tokens inputs of width n that all follow
// one direction but for noise of relative size eps.
func collinearGram(n, tokens int, eps float64) []float64 {
	r := rand.New(rand.NewPCG(7, 7))
	u := make([]float64, n)
	for j := range u {
		u[j] = r.NormFloat64()
	}
	x := make([]float64, tokens*n)
	for k := 0; k < tokens; k++ {
		z := r.NormFloat64()
		for j := range u {
			x[k*n+j] = z*u[j] + eps*r.NormFloat64()
		}
	}
	g := make([]float64, n*n)
	linalg.Dgemm(true, false, n, n, tokens, 1, x, n, x, n, 0, g, n)
	return g
}

// TestFactorPrecision checks newFactor's choice: float32 on a well-posed
// system; float64, with a note, where ρ is so small that the float32
// inverse is found too far off, or that its Cholesky fails; and in every
// case an inverse within factorTol of the float64 one.
func TestFactorPrecision(t *testing.T) {
	const n = 192
	g := collinearGram(n, 2*n, 1e-3)
	d := inputNorms(g, n)
	for _, c := range []struct {
		rho  float64
		note string // what the note says, "" for none
	}{{1, ""}, {1e-3, "off by"}, {1e-7, "cholesky of G+λI+ρI failed"}} {
		o := Options{Rho: c.rho, PercDamp: 0}
		f, err := newFactor(context.Background(), g, d, o.PercDamp, o.Rho)
		if err != nil {
			t.Fatal(err)
		}
		if c.note == "" && len(f.notes) > 0 || c.note != "" && (len(f.notes) != 1 || !strings.Contains(f.notes[0], c.note)) {
			t.Errorf("ρ = %g: notes %q, want %q", c.rho, f.notes, c.note)
		}
		want := inverse64(t, g, d, o)
		num, den := 0.0, 0.0
		for i, v := range want {
			e := float64(f.ainv[i] - v)
			num += e * e
			den += float64(v) * float64(v)
		}
		if rel := math.Sqrt(num / den); rel > factorTol {
			t.Errorf("ρ = %g: inverse off by %.2g relative, want ≤ %g", c.rho, rel, factorTol)
		}
	}
}

// TestProbeError checks that probeError sees an error put into an
// accurate inverse: about the error's size, never much below it.
func TestProbeError(t *testing.T) {
	const n = 128
	g := collinearGram(n, 4*n, 0.3)
	d := inputNorms(g, n)
	o := Options{Rho: 1, PercDamp: 0.1}
	x := inverse64(t, g, d, o)
	mean := 0.0
	for j, dj := range d {
		mean += g[j*n+j] / (dj * dj)
	}
	shift := o.PercDamp*mean/n + o.Rho
	if e := probeError(x, g, d, shift); e > 1e-6 {
		t.Errorf("accurate inverse: probe error %.2g, want ≤ 1e-6", e)
	}
	r := rand.New(rand.NewPCG(3, 3))
	for _, delta := range []float64{1e-4, 1e-2} {
		// x + delta·‖x‖·E/‖E‖ for a random symmetric E.
		e := make([]float64, n*n)
		norm, xn := 0.0, 0.0
		for i := 0; i < n; i++ {
			for j := 0; j <= i; j++ {
				v := r.NormFloat64()
				e[i*n+j], e[j*n+i] = v, v
			}
		}
		for i := range e {
			norm += e[i] * e[i]
			xn += float64(x[i]) * float64(x[i])
		}
		y := make([]float32, n*n)
		for i := range y {
			y[i] = x[i] + float32(delta*math.Sqrt(xn/norm)*e[i])
		}
		if p := probeError(y, g, d, shift); !(p > delta/10 && p < delta*100) {
			t.Errorf("inverse off by %g: probe error %.2g", delta, p)
		}
	}
}
