package admm

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// outliers are input channels scaled up as in the golden synthetic layer.
var outliers = map[int]float64{3: 12, 17: 25, 42: 8, 60: 40}

// synthetic draws a layer like the golden synthetic one: X = Z·(I+0.35·N)
// with outlier channels (those below in), W = N(0,1)/√in. Columns listed
// in dead are zero.
func synthetic(seed uint64, out, in, tokens int, dead ...int) (model.Linear, *prune.Stats, []float32) {
	r := rand.New(rand.NewPCG(seed, 7))
	mix := make([]float64, in*in)
	for i := range mix {
		mix[i] = 0.35 * r.NormFloat64()
	}
	for j := 0; j < in; j++ {
		mix[j*in+j]++
	}
	x := make([]float32, tokens*in)
	z := make([]float64, in)
	for t := 0; t < tokens; t++ {
		for i := range z {
			z[i] = r.NormFloat64()
		}
		for j := 0; j < in; j++ {
			s := 0.0
			for i := range z {
				s += z[i] * mix[i*in+j]
			}
			if f, ok := outliers[j]; ok {
				s *= f
			}
			x[t*in+j] = float32(s)
		}
		for _, j := range dead {
			x[t*in+j] = 0
		}
	}
	w := model.NewLinear(out, in)
	for i := range w.W {
		w.W[i] = float32(r.NormFloat64() / math.Sqrt(float64(in)))
	}
	st := prune.NewStats(in)
	if err := st.Add(x, tokens, 1); err != nil {
		panic(err)
	}
	return w, st, x
}

func clone(w model.Linear) model.Linear {
	return model.Linear{Out: w.Out, In: w.In, W: append([]float32(nil), w.W...)}
}

// exactRidge solves §6.3's damped least squares on the support of mask
// directly, one output row at a time: minimise ‖X(ŵ−w)‖² + λΣ d_j²(ŵ_j−w_j)²
// over ŵ with ŵ_j = 0 where pruned, λ = percdamp·mean(diag G).
func exactRidge(t *testing.T, w model.Linear, st *prune.Stats, mask prune.Mask, percdamp float64) []float64 {
	t.Helper()
	n := w.In
	g := st.Gram
	d := make([]float64, n)
	mean := 0.0
	for j := range d {
		d[j] = math.Sqrt(g[j*n+j]) + normEps
		mean += g[j*n+j] / (d[j] * d[j]) / float64(n)
	}
	lambda := percdamp * mean
	res := make([]float64, len(w.W))
	for o := 0; o < w.Out; o++ {
		var keep []int
		for j := 0; j < n; j++ {
			if !mask[o*n+j] {
				keep = append(keep, j)
			}
		}
		k := len(keep)
		if k == 0 {
			continue
		}
		a := mat.NewSymDense(k, nil)
		b := mat.NewVecDense(k, nil)
		for p, i := range keep {
			rhs := lambda * d[i] * d[i] * float64(w.W[o*n+i])
			for j := 0; j < n; j++ {
				rhs += g[i*n+j] * float64(w.W[o*n+j])
			}
			b.SetVec(p, rhs)
			for q := p; q < k; q++ {
				v := g[i*n+keep[q]]
				if q == p {
					v += lambda * d[i] * d[i]
				}
				a.SetSym(p, q, v)
			}
		}
		var ch mat.Cholesky
		if !ch.Factorize(a) {
			t.Fatalf("row %d: support system is not positive definite", o)
		}
		var sol mat.VecDense
		if err := ch.SolveVecTo(&sol, b); err != nil {
			t.Fatal(err)
		}
		for p, i := range keep {
			res[o*n+i] = sol.AtVec(p)
		}
	}
	return res
}

func relDist(got, want []float64) float64 {
	num, den := 0.0, 0.0
	for i, v := range want {
		num += (got[i] - v) * (got[i] - v)
		den += v * v
	}
	return math.Sqrt(num / den)
}

func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// TestConvergence checks that the fixed-mask iteration goes to the exact
// damped masked least-squares solution, and that the errors are of the
// magnitude of PRUNING.md's table (a different random draw).
func TestConvergence(t *testing.T) {
	w, st, _ := synthetic(1, 16, 64, 512)
	opts := ADMM1Defaults()
	sys, err := newRefSystem(&w, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mask := prune.SelectPerMatrix(sys.absB(), prune.PruneCount(len(w.W), 0.6))
	exact := exactRidge(t, w, st, mask, opts.PercDamp)

	relErr := func(v []float32) float64 { return prune.RelError(w.W, v, w.Out, w.In, st) }
	masked := clone(w)
	mask.Apply(masked.W)
	errMask, errExact := relErr(masked.W), relErr(toFloat32(exact))
	t.Logf("mask only %.3g (doc 4.26e-3), exact %.3g (doc 1.29e-3)", errMask, errExact)
	sameMagnitude(t, "mask-only error", errMask, 4.26e-3)
	sameMagnitude(t, "exact error", errExact, 1.29e-3)

	prev := math.Inf(1)
	for _, c := range []struct {
		iters int
		doc   float64 // PRUNING.md's error at this many iterations
		dist  float64 // required ‖Z−exact‖/‖exact‖
	}{{1, 2.11e-3, 1}, {2, 1.56e-3, 1}, {5, 1.31e-3, 1}, {20, 1.29e-3, 1e-1}, {300, 1.29e-3, 1e-8}} {
		opts.Iters = c.iters
		res := solveFixed(t, w, st, mask, opts)
		v := toFloat32(res)
		dist, e := relDist(res, exact), relErr(v)
		t.Logf("%3d iterations: ‖Z−exact‖/‖exact‖ = %.3g, error %.4g (doc %.3g)", c.iters, dist, e, c.doc)
		if dist > c.dist || dist >= prev {
			t.Errorf("%d iterations: distance to the exact solution %.3g (previous %.3g, limit %.3g)", c.iters, dist, prev, c.dist)
		}
		if e < errExact*(1-1e-6) {
			t.Errorf("%d iterations: error %.6g below the optimum %.6g on this mask", c.iters, e, errExact)
		}
		sameMagnitude(t, "ADMM error", e, c.doc)
		prev = dist
		for i, m := range mask {
			if m && v[i] != 0 {
				t.Fatalf("pruned weight %d is %g", i, v[i])
			}
		}
	}
	// Gradual selection finds a better mask than |B₀| (doc 1.17e-3 and 1.13e-3).
	for _, c := range []struct {
		schedule string
		doc      float64
	}{{ScheduleReferenceFull, 1.17e-3}, {ScheduleCubic, 1.13e-3}} {
		o := ADMMGradDefaults()
		o.Schedule = c.schedule
		m, err := NewADMMGrad(o)
		if err != nil {
			t.Fatal(err)
		}
		v := clone(w)
		if _, _, err := m.Prune(context.Background(), &v, st, prune.Pattern{Ratio: 0.6}); err != nil {
			t.Fatal(err)
		}
		e := relErr(v.W)
		t.Logf("admm-grad %s: error %.4g (doc %.3g)", c.schedule, e, c.doc)
		sameMagnitude(t, "ADMM-Grad error", e, c.doc)
		if e >= errExact {
			t.Errorf("admm-grad %s: error %.4g not below the fixed |B₀| mask's optimum %.4g", c.schedule, e, errExact)
		}
	}
}

// sameMagnitude accepts a factor of 3 either way: the figures come from
// another random draw of the same construction.
func sameMagnitude(t *testing.T, what string, got, doc float64) {
	t.Helper()
	if got > 3*doc || got < doc/3 {
		t.Errorf("%s %.3g is not of the magnitude of PRUNING.md's %.3g", what, got, doc)
	}
}

// TestOptions checks every option's range, for both methods, by the full
// error text: the options are used as given, so 0 is refused wherever it
// is out of range instead of becoming the default.
func TestOptions(t *testing.T) {
	wanda := fakeMethod("wanda")
	one := func(edit func(*Options)) Options {
		o := ADMM1Defaults()
		edit(&o)
		return o
	}
	grad := func(edit func(*Options)) Options {
		o := ADMMGradDefaults()
		edit(&o)
		return o
	}
	cases := []struct {
		name    string
		grad    bool
		opts    Options
		wantErr string // the whole message; "" = valid and used as given
	}{
		{name: "admm1 defaults", opts: ADMM1Defaults()},
		{name: "grad defaults", grad: true, opts: ADMMGradDefaults()},
		{name: "admm1 mask only", opts: one(func(o *Options) { o.Iters, o.PerOutput = 0, true })},
		{name: "admm1 percdamp 0", opts: one(func(o *Options) { o.PercDamp = 0 })},
		{name: "admm1 mask from wanda", opts: one(func(o *Options) { o.MaskFrom = wanda })},
		{name: "grad steps = iters", grad: true, opts: grad(func(o *Options) { o.Steps, o.Iters = 7, 7 })},
		{name: "grad reference-full", grad: true, opts: grad(func(o *Options) { o.Schedule, o.Rho = ScheduleReferenceFull, 0.5 })},

		{name: "admm1 zero value", opts: Options{}, wantErr: "admm1: --rho 0: must be > 0 and finite"},
		{name: "grad zero value", grad: true, opts: Options{}, wantErr: "admm-grad: --rho 0: must be > 0 and finite"},
		{name: "rho 0", opts: one(func(o *Options) { o.Rho = 0 }), wantErr: "admm1: --rho 0: must be > 0 and finite"},
		{name: "rho -1", grad: true, opts: grad(func(o *Options) { o.Rho = -1 }), wantErr: "admm-grad: --rho -1: must be > 0 and finite"},
		{name: "rho NaN", opts: one(func(o *Options) { o.Rho = math.NaN() }), wantErr: "admm1: --rho NaN: must be > 0 and finite"},
		{name: "rho +Inf", opts: one(func(o *Options) { o.Rho = math.Inf(1) }), wantErr: "admm1: --rho +Inf: must be > 0 and finite"},
		{name: "percdamp -0.1", opts: one(func(o *Options) { o.PercDamp = -0.1 }), wantErr: "admm1: --percdamp -0.1: must be ≥ 0 and finite"},
		{name: "percdamp NaN", grad: true, opts: grad(func(o *Options) { o.PercDamp = math.NaN() }), wantErr: "admm-grad: --percdamp NaN: must be ≥ 0 and finite"},
		{name: "percdamp +Inf", opts: one(func(o *Options) { o.PercDamp = math.Inf(1) }), wantErr: "admm1: --percdamp +Inf: must be ≥ 0 and finite"},
		{name: "admm1 iters -1", opts: one(func(o *Options) { o.Iters = -1 }), wantErr: "admm1: --iters -1: must be ≥ 0 (0 applies the mask only)"},
		{name: "admm1 steps 3", opts: one(func(o *Options) { o.Steps = 3 }), wantErr: "admm1: --steps 3: ADMM1 keeps one mask, want 0; gradual masks are admm-grad"},
		{name: "admm1 schedule", opts: one(func(o *Options) { o.Schedule = ScheduleCubic }), wantErr: `admm1: --schedule "cubic": ADMM1 keeps one mask and has no schedule; gradual masks are admm-grad`},
		{name: "admm1 mask with per-output", opts: one(func(o *Options) { o.MaskFrom, o.PerOutput = wanda, true }),
			wantErr: "admm1: --mask wanda with --per-output: the comparison group is wanda's, per-output only applies to ADMM's own mask"},
		{name: "grad steps 0", grad: true, opts: grad(func(o *Options) { o.Steps = 0 }),
			wantErr: "admm-grad: --steps 0: must be ≥ 1 (ADMM-Grad re-selects the mask at least once; one fixed mask is admm1)"},
		{name: "grad steps -2", grad: true, opts: grad(func(o *Options) { o.Steps = -2 }),
			wantErr: "admm-grad: --steps -2: must be ≥ 1 (ADMM-Grad re-selects the mask at least once; one fixed mask is admm1)"},
		{name: "grad iters 0", grad: true, opts: grad(func(o *Options) { o.Iters = 0 }), wantErr: "admm-grad: --iters 0: must be ≥ --steps 15"},
		{name: "grad iters below steps", grad: true, opts: grad(func(o *Options) { o.Iters = 10 }), wantErr: "admm-grad: --iters 10: must be ≥ --steps 15"},
		{name: "grad schedule empty", grad: true, opts: grad(func(o *Options) { o.Schedule = "" }), wantErr: `admm-grad: --schedule "": want "cubic" or "reference-full"`},
		{name: "grad schedule linear", grad: true, opts: grad(func(o *Options) { o.Schedule = "linear" }), wantErr: `admm-grad: --schedule "linear": want "cubic" or "reference-full"`},
		{name: "grad mask", grad: true, opts: grad(func(o *Options) { o.MaskFrom = wanda }), wantErr: "admm-grad: --mask wanda: a given mask cannot also be re-selected; use admm1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			newM, name := NewADMM1, "admm1"
			if c.grad {
				newM, name = NewADMMGrad, "admm-grad"
			}
			m, err := newM(c.opts)
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("error %v, want %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Name() != name {
				t.Errorf("name %q, want %q", m.Name(), name)
			}
			if got := m.(*method).opts; got != c.opts {
				t.Errorf("options %+v, want them as given, %+v", got, c.opts)
			}
		})
	}
}

// fakeMethod is a mask source that prunes the first int(numel·s) weights.
type fakeMethod string

func (f fakeMethod) Name() string { return string(f) }

func (f fakeMethod) Prune(_ context.Context, w *model.Linear, _ *prune.Stats, p prune.Pattern) (prune.Mask, prune.Report, error) {
	mask := make(prune.Mask, len(w.W))
	for i := range prune.PruneCount(len(mask), p.Sparsity()) {
		mask[i] = true
	}
	mask.Apply(w.W)
	return mask, prune.Report{}, nil
}

func TestSparsityAt(t *testing.T) {
	// PRUNING.md §6.5's table of s_t/s for K = 15.
	doc := []float64{.187, .349, .488, .606, .704, .784, .848, .898, .936, .963, .981, .992, .9976, .9997, 1}
	for i, want := range doc {
		got := sparsityAt(0.6, i, 15) / 0.6
		if math.Abs(got-want) > 6e-4 {
			t.Errorf("step %d: s_t/s = %.4f, doc %.4f", i, got, want)
		}
	}
	if got := sparsityAt(0.57, 14, 15); got != 0.57 {
		t.Errorf("last step: %v, want exactly 0.57", got)
	}
}

// TestGradualCounts follows the selector through all K steps and checks
// the number pruned at each: the cubic ramp, the full target
// (reference-full, layer-global), and the protected top-N rule.
func TestGradualCounts(t *testing.T) {
	const out, in, k = 6, 24, 15
	r := rand.New(rand.NewPCG(3, 4))
	cases := []struct {
		p         prune.Pattern
		perOutput bool
		full      bool
	}{
		{prune.Pattern{Ratio: 0.57}, false, false},
		{prune.Pattern{Ratio: 0.57}, false, true},
		{prune.Pattern{Ratio: 0.57}, true, false},
		{prune.Pattern{Ratio: 0.57}, true, true},
		{prune.Pattern{N: 2, M: 4}, false, false},
		{prune.Pattern{N: 3, M: 8}, false, true},
		{prune.Pattern{N: 1, M: 3}, false, false},
	}
	for _, c := range cases {
		sel := &selector{out: out, in: in, p: c.p, perOutput: c.perOutput, steps: k, full: c.full}
		mask := make(prune.Mask, out*in)
		for step := 0; step < k; step++ {
			scores := make([]float32, out*in)
			for i := range scores {
				scores[i] = r.Float32()
			}
			if err := sel.step(step, scores, mask); err != nil {
				t.Fatal(err)
			}
			s := sparsityAt(c.p.Sparsity(), step, k)
			want := prune.PruneCount(out*in, s)
			switch {
			case step == k-1 || (c.full && !c.p.Structured() && !c.perOutput):
				w := model.NewLinear(out, in)
				if err := prune.Verify(mask, &w, c.p, c.perOutput); err != nil {
					t.Errorf("%s per-output %v full %v, step %d: %v", c.p, c.perOutput, c.full, step, err)
				}
				continue
			case c.perOutput:
				want = out * prune.PruneCount(in, s)
			case c.p.Structured():
				for g := 0; g < out*in; g += c.p.M {
					if kept := c.p.M - mask[g:g+c.p.M].Count(); kept < c.p.N {
						t.Errorf("%s step %d: group at %d keeps %d < N", c.p, step, g, kept)
					}
				}
			}
			if got := mask.Count(); got != want {
				t.Errorf("%s per-output %v full %v, step %d: %d pruned, want %d", c.p, c.perOutput, c.full, step, got, want)
			}
		}
	}
}

// TestDensity checks the exact counts (int(numel·s), per row, or exact
// N:M) for every method, option and schedule, including float artefacts
// (numel 100 at s = 0.57 prunes 56) and N:M other than 2:4.
func TestDensity(t *testing.T) {
	w, st, _ := synthetic(5, 4, 24, 96, 2)
	patterns := []prune.Pattern{{Ratio: 0.57}, {Ratio: 0.3}, {N: 2, M: 4}, {N: 3, M: 8}, {N: 1, M: 3}, {N: 5, M: 6}}
	odd := model.Linear{Out: 4, In: 25, W: make([]float32, 100)}
	copy(odd.W, w.W)
	oddSt := prune.NewStats(25)
	oddSt.Tokens, oddSt.Seqs = 1, 1
	for j := 0; j < 25; j++ {
		oddSt.Gram[j*25+j] = float64(j + 1)
	}
	for _, grad := range []bool{false, true} {
		schedules := []string{""} // ADMM1 has none
		if grad {
			schedules = []string{ScheduleCubic, ScheduleReferenceFull}
		}
		for _, perOutput := range []bool{false, true} {
			for _, schedule := range schedules {
				o := ADMM1Defaults()
				newM := NewADMM1
				if grad {
					o, newM = ADMMGradDefaults(), NewADMMGrad
				}
				o.PerOutput, o.Schedule = perOutput, schedule
				m, err := newM(o)
				if err != nil {
					t.Fatal(err)
				}
				run := func(w model.Linear, st *prune.Stats, p prune.Pattern) {
					v := clone(w)
					mask, rep, err := m.Prune(context.Background(), &v, st, p)
					if err != nil {
						t.Fatalf("%s %s per-output %v: %v", m.Name(), p, perOutput, err)
					}
					if err := prune.Verify(mask, &v, p, perOutput); err != nil {
						t.Errorf("%s %s %s per-output %v: %v", m.Name(), schedule, p, perOutput, err)
					}
					if want := float64(prune.Zeros(v.W)) / float64(len(v.W)); rep.Sparsity != want {
						t.Errorf("%s %s: reported sparsity %g, zeros give %g", m.Name(), p, rep.Sparsity, want)
					}
				}
				for _, p := range patterns {
					run(w, st, p)
				}
				run(odd, oddSt, prune.Pattern{Ratio: 0.57})
			}
		}
	}
}

// TestDeadInputs runs on a rank-deficient Gram: fewer tokens than inputs
// and two all-zero inputs. The +1e-8 norm and the damping keep the system
// well posed, no recovery is needed, and the result is the exact damped
// least-squares solution.
func TestDeadInputs(t *testing.T) {
	w, st, _ := synthetic(9, 8, 48, 20, 5, 30)
	m, err := NewADMM1(ADMM1Defaults())
	if err != nil {
		t.Fatal(err)
	}
	v := clone(w)
	mask, rep, err := m.Prune(context.Background(), &v, st, prune.Pattern{Ratio: 0.6})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Notes) != 0 {
		t.Errorf("unexpected recovery: %v", rep.Notes)
	}
	for _, j := range []int{5, 30} {
		for o := 0; o < w.Out; o++ {
			// A dead input's score is |W|·1e-8: it is pruned first.
			if !mask[o*w.In+j] {
				t.Errorf("dead input %d of row %d kept", j, o)
			}
		}
	}
	opts := ADMM1Defaults()
	opts.Iters = 300
	res := solveFixed(t, w, st, mask, opts)
	if d := relDist(res, exactRidge(t, w, st, mask, opts.PercDamp)); d > 1e-8 {
		t.Errorf("distance to the exact solution after 300 iterations: %.3g", d)
	}
}

func TestBadInput(t *testing.T) {
	w, st, _ := synthetic(11, 4, 8, 32)
	m, err := NewADMMGrad(ADMMGradDefaults())
	if err != nil {
		t.Fatal(err)
	}
	withGram := func(f func(g []float64)) *prune.Stats {
		s := *st
		s.Gram = append([]float64(nil), st.Gram...)
		f(s.Gram)
		return &s
	}
	withW := func(i int, v float32) model.Linear {
		c := clone(w)
		c.W[i] = v
		return c
	}
	cases := []struct {
		name    string
		w       model.Linear
		st      *prune.Stats
		p       prune.Pattern
		wantErr string
	}{
		{"NaN weight", withW(9, float32(math.NaN())), st, prune.Pattern{Ratio: 0.5}, "weight [1,1] is NaN"},
		{"Inf weight", withW(3, float32(math.Inf(-1))), st, prune.Pattern{Ratio: 0.5}, "weight [0,3] is -Inf"},
		{"NaN gram", w, withGram(func(g []float64) { g[10] = math.NaN() }), prune.Pattern{Ratio: 0.5}, "gram [1,2] is NaN"},
		{"negative diagonal", w, withGram(func(g []float64) { g[2*8+2] = -1 }), prune.Pattern{Ratio: 0.5}, "gram diagonal [2,2] is -1"},
		{"no stats", w, nil, prune.Pattern{Ratio: 0.5}, "no input statistics"},
		{"wrong width", w, prune.NewStats(7), prune.Pattern{Ratio: 0.5}, "width 7"},
		{"M does not divide", w, st, prune.Pattern{N: 2, M: 3}, "M=3 does not divide"},
		{"bad ratio", w, st, prune.Pattern{Ratio: 1}, "must be in (0,1)"},
		// Not a Gram matrix: off-diagonals far beyond Cauchy–Schwarz make
		// G indefinite by more than 10⁴·(λ+ρ).
		{"indefinite beyond recovery", w, withGram(func(g []float64) {
			g[1], g[8] = 1e6*math.Sqrt(g[0]*g[9]), 1e6*math.Sqrt(g[0]*g[9])
		}), prune.Pattern{Ratio: 0.5}, "cholesky of G+λI+ρI failed 5 times"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := clone(c.w)
			_, _, err := m.Prune(context.Background(), &v, c.st, c.p)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.HasPrefix(err.Error(), "admm-grad: ") {
				t.Fatalf("error %v, want admm-grad: …%s…", err, c.wantErr)
			}
		})
	}
	// Mildly indefinite: the first retry (λ+ρ ten times larger, so λ goes
	// from ≈0.1 to ≈10) succeeds and the report says so.
	bad := withGram(func(g []float64) { g[1], g[8] = 5*math.Sqrt(g[0]*g[9]), 5*math.Sqrt(g[0]*g[9]) })
	v := clone(w)
	_, rep, err := m.Prune(context.Background(), &v, bad, prune.Pattern{Ratio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "retried with λ = 9.9999") {
		t.Errorf("notes %q, want one retry with λ ≈ 10", rep.Notes)
	}
}

// solveFixed runs the float64 reference iterations on a fixed mask and
// returns Z.
func solveFixed(t *testing.T, w model.Linear, st *prune.Stats, mask prune.Mask, opts Options) []float64 {
	t.Helper()
	sys, err := newRefSystem(&w, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := sys.solve(mask, opts, nil)
	return res
}
