package admm

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// Schedules for ADMM-Grad's gradual mask (PRUNING.md §6.5).
const (
	// ScheduleCubic ramps the sparsity as s_t = s·(1−(1−(t+1)/K)³).
	ScheduleCubic = "cubic"
	// ScheduleReferenceFull reproduces the public code: the layer-global
	// unstructured branch selects at the full s at each of the K steps;
	// per-output and N:M selection use the cubic ramp.
	ScheduleReferenceFull = "reference-full"
)

// Options configure ADMM1 and ADMM-Grad (PRUNING.md §6.7).
//
// Zero values that would be invalid take their defaults in the
// constructors: Rho 0 means 1, Schedule "" means cubic, and for ADMM-Grad
// Steps 0 means 15 and Iters 0 means 20. Iters of ADMM1 and PercDamp are
// taken literally because 0 means something (a mask-only prune, no ridge):
// start from ADMM1Defaults or ADMMGradDefaults and override.
type Options struct {
	Rho       float64 // ADMM penalty ρ, constant
	Iters     int     // T, total iterations; 0 = apply the mask only
	Steps     int     // K, iterations that re-select the mask (ADMM-Grad)
	Schedule  string  // ScheduleCubic or ScheduleReferenceFull
	PercDamp  float64 // ridge λ = PercDamp · mean(diag G)
	PerOutput bool    // select per row of W (Wanda's group), not per layer
	// MaskFrom, when set, supplies the mask (its weight update is
	// discarded) and ADMM1 runs Iters iterations on it; nil selects the
	// mask from |W|·‖x_j‖ ("normmag").
	MaskFrom prune.Method
}

// ADMM1Defaults are the paper's settings for ADMM1.
func ADMM1Defaults() Options {
	return Options{Rho: 1, Iters: 20, Schedule: ScheduleCubic, PercDamp: 0.1}
}

// ADMMGradDefaults are the paper's settings for ADMM-Grad, with
// prunebench's default cubic schedule.
func ADMMGradDefaults() Options {
	o := ADMM1Defaults()
	o.Steps = 15
	return o
}

// NewADMM1 returns ADMM1 ("admm1"): one mask, then Iters ADMM iterations.
func NewADMM1(opts Options) (prune.Method, error) {
	if opts.Steps != 0 {
		return nil, fmt.Errorf("admm1: steps %d: ADMM1 keeps one mask (steps 0); gradual masks are admm-grad", opts.Steps)
	}
	return newMethod("admm1", opts)
}

// NewADMMGrad returns ADMM-Grad ("admm-grad"): the mask is re-selected
// from |B+U| during the first Steps of Iters iterations.
func NewADMMGrad(opts Options) (prune.Method, error) {
	if opts.Steps == 0 {
		opts.Steps = 15
	}
	if opts.Iters == 0 {
		opts.Iters = 20
	}
	if opts.MaskFrom != nil {
		return nil, fmt.Errorf("admm-grad: mask from %s: a given mask cannot also be re-selected (steps %d); use admm1", opts.MaskFrom.Name(), opts.Steps)
	}
	return newMethod("admm-grad", opts)
}

func newMethod(name string, opts Options) (prune.Method, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &method{name: name, opts: opts}, nil
}

// withDefaults fills the fields whose zero value is invalid for both
// methods.
func (o Options) withDefaults() Options {
	if o.Rho == 0 {
		o.Rho = 1
	}
	if o.Schedule == "" {
		o.Schedule = ScheduleCubic
	}
	return o
}

func (o Options) validate() error {
	switch {
	case !(o.Rho > 0) || math.IsInf(o.Rho, 0):
		return fmt.Errorf("rho %g: must be positive and finite", o.Rho)
	case o.Steps < 0 || o.Iters < o.Steps:
		return fmt.Errorf("iters %d, steps %d: want iters ≥ steps ≥ 0", o.Iters, o.Steps)
	case o.Schedule != ScheduleCubic && o.Schedule != ScheduleReferenceFull:
		return fmt.Errorf("schedule %q: want %q or %q", o.Schedule, ScheduleCubic, ScheduleReferenceFull)
	case !(o.PercDamp >= 0) || math.IsInf(o.PercDamp, 0):
		return fmt.Errorf("percdamp %g: must be ≥ 0 and finite", o.PercDamp)
	case o.MaskFrom != nil && o.Steps > 0:
		return fmt.Errorf("mask from %s with steps %d: a given mask is fixed, so steps must be 0", o.MaskFrom.Name(), o.Steps)
	case o.MaskFrom != nil && o.PerOutput:
		return fmt.Errorf("mask from %s with per-output: the comparison group is %s's, per-output only applies to ADMM's own mask", o.MaskFrom.Name(), o.MaskFrom.Name())
	}
	return nil
}

type method struct {
	name string
	opts Options
}

// Name implements prune.Method.
func (m *method) Name() string { return m.name }

// Prune implements prune.Method: it chooses the mask (from |B₀|, from
// |B+U| during the gradual steps, or from MaskFrom), runs the ADMM update
// and writes the exactly sparse result into w.
func (m *method) Prune(w *model.Linear, st *prune.Stats, p prune.Pattern) (prune.Mask, prune.Report, error) {
	start := time.Now()
	mask, notes, err := m.prune(w, st, p)
	if err != nil {
		return nil, prune.Report{}, fmt.Errorf("%s: %w", m.name, err)
	}
	return mask, report(w, start, notes), nil
}

func (m *method) prune(w *model.Linear, st *prune.Stats, p prune.Pattern) (prune.Mask, []string, error) {
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	if err := p.Fits(w.In); err != nil {
		return nil, nil, err
	}
	if err := checkInputs(w, st); err != nil {
		return nil, nil, err
	}
	o := m.opts
	var mask prune.Mask
	if o.MaskFrom != nil {
		c := model.Linear{Out: w.Out, In: w.In, W: slices.Clone(w.W)}
		mk, _, err := o.MaskFrom.Prune(&c, st, p)
		if err != nil {
			return nil, nil, fmt.Errorf("mask from %s: %w", o.MaskFrom.Name(), err)
		}
		if len(mk) != len(w.W) {
			return nil, nil, fmt.Errorf("mask from %s: %d entries for a %d×%d weight", o.MaskFrom.Name(), len(mk), w.Out, w.In)
		}
		mask = mk
	}
	sel := selector{out: w.Out, in: w.In, p: p, perOutput: o.PerOutput, steps: o.Steps,
		full: o.Schedule == ScheduleReferenceFull}
	sys, err := newSystem(w, st, o)
	if err != nil {
		return nil, nil, err
	}
	if mask == nil && o.Steps == 0 {
		mask, err = prune.Select(sys.absB(), w.Out, w.In, p, o.PerOutput)
		if err != nil {
			return nil, nil, err
		}
	}
	res, mask, err := sys.solve(mask, o, sel.step)
	if err != nil {
		return nil, nil, err
	}
	return mask, sys.notes, store(w, res)
}

// Solve is the fixed-mask ADMM weight update on its own: it replaces w by
// the opts.Iters-iteration ADMM solution on the support !mask (mask in W
// layout, true = pruned), the damped masked least-squares optimum in the
// limit. Only Rho, Iters and PercDamp are used (Rho 0 means 1); Steps
// must be 0.
func Solve(w *model.Linear, st *prune.Stats, mask prune.Mask, opts Options) (prune.Report, error) {
	start := time.Now()
	if opts.Steps != 0 {
		return prune.Report{}, fmt.Errorf("admm solve: steps %d: a fixed mask is not re-selected, want 0", opts.Steps)
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return prune.Report{}, fmt.Errorf("admm solve: %w", err)
	}
	if err := checkInputs(w, st); err != nil {
		return prune.Report{}, fmt.Errorf("admm solve: %w", err)
	}
	if len(mask) != len(w.W) {
		return prune.Report{}, fmt.Errorf("admm solve: mask has %d entries for a %d×%d weight", len(mask), w.Out, w.In)
	}
	sys, err := newSystem(w, st, opts)
	if err != nil {
		return prune.Report{}, fmt.Errorf("admm solve: %w", err)
	}
	res, _, err := sys.solve(mask, opts, nil)
	if err == nil {
		err = store(w, res)
	}
	if err != nil {
		return prune.Report{}, fmt.Errorf("admm solve: %w", err)
	}
	return report(w, start, sys.notes), nil
}

func report(w *model.Linear, start time.Time, notes []string) prune.Report {
	r := prune.Report{Elapsed: time.Since(start), Notes: notes}
	if n := len(w.W); n > 0 {
		r.Sparsity = float64(prune.Zeros(w.W)) / float64(n)
	}
	return r
}
