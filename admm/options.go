package admm

import (
	"context"
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

// Options configure ADMM1 and ADMM-Grad (PRUNING.md §6.7). They are used
// exactly as given: start from ADMM1Defaults or ADMMGradDefaults, the one
// place that spells the defaults, and override. The constructors refuse
// values outside the ranges below instead of replacing them, so that what
// a run records is what it ran.
type Options struct {
	Rho       float64 // ADMM penalty ρ, constant; > 0 and finite
	Iters     int     // T, total iterations; ADMM1 ≥ 0 (0 = apply the mask only), ADMM-Grad ≥ Steps
	Steps     int     // K, iterations that re-select the mask: 0 for ADMM1, 1..Iters for ADMM-Grad
	Schedule  string  // ADMM-Grad only: ScheduleCubic or ScheduleReferenceFull
	PercDamp  float64 // ridge λ = PercDamp · mean(diag G); ≥ 0 (0 = no ridge, ρ keeps A definite) and finite
	PerOutput bool    // select per row of W (Wanda's group), not per layer
	// OverRelax is α−1 for the over-relaxed iteration (Boyd et al. 2011,
	// §3.4.3) with α in [1, 2): 0, the default, is the paper's plain ADMM;
	// the CLI's --relax is α itself. An ablation option, never a default.
	OverRelax float64
	// MaskFrom, when set, supplies the mask (its weight update is
	// discarded) and ADMM1 runs Iters iterations on it; nil selects the
	// mask from |W|·‖x_j‖ ("normmag").
	MaskFrom prune.Method
}

// ADMM1Defaults are the paper's settings for ADMM1.
func ADMM1Defaults() Options {
	return Options{Rho: 1, Iters: 20, PercDamp: 0.1}
}

// ADMMGradDefaults are the paper's settings for ADMM-Grad, with
// prunebench's default cubic schedule.
func ADMMGradDefaults() Options {
	o := ADMM1Defaults()
	o.Steps, o.Schedule = 15, ScheduleCubic
	return o
}

// NewADMM1 returns ADMM1 ("admm1"): one mask, then Iters ADMM iterations.
func NewADMM1(opts Options) (prune.Method, error) {
	return newMethod("admm1", opts)
}

// NewADMMGrad returns ADMM-Grad ("admm-grad"): the mask is re-selected
// from |B+U| during the first Steps of Iters iterations.
func NewADMMGrad(opts Options) (prune.Method, error) {
	return newMethod("admm-grad", opts)
}

func newMethod(name string, opts Options) (prune.Method, error) {
	if err := opts.validate(name == "admm-grad"); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &method{name: name, opts: opts}, nil
}

// validate checks every option against its range; grad selects
// ADMM-Grad's ranges for Steps and Schedule, ADMM1's otherwise. The
// messages name options as the CLI flags and config keys do.
func (o Options) validate(grad bool) error {
	if !(o.Rho > 0) || math.IsInf(o.Rho, 0) {
		return fmt.Errorf("--rho %g: must be > 0 and finite", o.Rho)
	}
	if !(o.PercDamp >= 0) || math.IsInf(o.PercDamp, 0) {
		return fmt.Errorf("--percdamp %g: must be ≥ 0 and finite", o.PercDamp)
	}
	if !(o.OverRelax >= 0 && o.OverRelax < 1) {
		return fmt.Errorf("--relax %g: must be in [1, 2) (1 is plain ADMM)", 1+o.OverRelax)
	}
	if grad {
		switch {
		case o.Steps < 1:
			return fmt.Errorf("--steps %d: must be ≥ 1 (ADMM-Grad re-selects the mask at least once; one fixed mask is admm1)", o.Steps)
		case o.Iters < o.Steps:
			return fmt.Errorf("--iters %d: must be ≥ --steps %d", o.Iters, o.Steps)
		case o.Schedule != ScheduleCubic && o.Schedule != ScheduleReferenceFull:
			return fmt.Errorf("--schedule %q: want %q or %q", o.Schedule, ScheduleCubic, ScheduleReferenceFull)
		case o.MaskFrom != nil:
			return fmt.Errorf("--mask %s: a given mask cannot also be re-selected; use admm1", o.MaskFrom.Name())
		}
		return nil
	}
	switch {
	case o.Iters < 0:
		return fmt.Errorf("--iters %d: must be ≥ 0 (0 applies the mask only)", o.Iters)
	case o.Steps != 0:
		return fmt.Errorf("--steps %d: ADMM1 keeps one mask, want 0; gradual masks are admm-grad", o.Steps)
	case o.Schedule != "":
		return fmt.Errorf("--schedule %q: ADMM1 keeps one mask and has no schedule; gradual masks are admm-grad", o.Schedule)
	case o.MaskFrom != nil && o.PerOutput:
		return fmt.Errorf("--mask %s with --per-output: the comparison group is %s's, per-output only applies to ADMM's own mask", o.MaskFrom.Name(), o.MaskFrom.Name())
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
func (m *method) Prune(ctx context.Context, w *model.Linear, st *prune.Stats, p prune.Pattern) (prune.Mask, prune.Report, error) {
	start := time.Now()
	mask, sys, err := m.prune(ctx, w, st, p)
	if err != nil {
		return nil, prune.Report{}, fmt.Errorf("%s: %w", m.name, err)
	}
	return mask, report(w, start, sys), nil
}

func (m *method) prune(ctx context.Context, w *model.Linear, st *prune.Stats, p prune.Pattern) (prune.Mask, *system, error) {
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
		mk, _, err := o.MaskFrom.Prune(ctx, &c, st, p)
		if err != nil {
			return nil, nil, fmt.Errorf("mask from %s: %w", o.MaskFrom.Name(), err)
		}
		if len(mk) != len(w.W) {
			return nil, nil, fmt.Errorf("mask from %s: %d entries for a %d×%d weight", o.MaskFrom.Name(), len(mk), w.Out, w.In)
		}
		mask = mk
	}
	sys, err := newSystem(ctx, w, st, o)
	if err != nil {
		return nil, nil, err
	}
	if mask == nil && o.Steps == 0 {
		mask, err = prune.Select(absB0(w, sys.d), w.Out, w.In, p, o.PerOutput)
		if err != nil {
			return nil, nil, err
		}
	}
	var step stepFunc
	if o.Steps > 0 {
		sel := &selector{out: w.Out, in: w.In, p: p, perOutput: o.PerOutput, steps: o.Steps,
			full: o.Schedule == ScheduleReferenceFull}
		step = sel.step
	}
	mask, err = sys.solve(ctx, w, mask, o, step)
	if err != nil {
		return nil, nil, err
	}
	return mask, sys, nil
}

// Solve is the fixed-mask ADMM weight update on its own: it replaces w by
// the opts.Iters-iteration ADMM solution on the support !mask (mask in W
// layout, true = pruned), the damped masked least-squares optimum in the
// limit. Only Rho, Iters and PercDamp are used, with ADMM1's ranges
// (Steps 0, no Schedule). It stops as Prune does when ctx is done.
func Solve(ctx context.Context, w *model.Linear, st *prune.Stats, mask prune.Mask, opts Options) (prune.Report, error) {
	start := time.Now()
	if err := opts.validate(false); err != nil {
		return prune.Report{}, fmt.Errorf("admm solve: %w", err)
	}
	if err := checkInputs(w, st); err != nil {
		return prune.Report{}, fmt.Errorf("admm solve: %w", err)
	}
	if len(mask) != len(w.W) {
		return prune.Report{}, fmt.Errorf("admm solve: mask has %d entries for a %d×%d weight", len(mask), w.Out, w.In)
	}
	sys, err := newSystem(ctx, w, st, opts)
	if err != nil {
		return prune.Report{}, fmt.Errorf("admm solve: %w", err)
	}
	if _, err := sys.solve(ctx, w, mask, opts, nil); err != nil {
		return prune.Report{}, fmt.Errorf("admm solve: %w", err)
	}
	return report(w, start, sys), nil
}

// report says what Prune and Solve did: sparsity, notes (retries of the
// factorisation) and where the time went. A factorisation reused from the
// statistics' cache costs this linear nothing and is reported as 0 s.
func report(w *model.Linear, start time.Time, sys *system) prune.Report {
	r := prune.Report{Elapsed: time.Since(start), Notes: sys.notes}
	if n := len(w.W); n > 0 {
		r.Sparsity = float64(prune.Zeros(w.W)) / float64(n)
	}
	ph := sys.phases
	if sys.f != nil {
		n := float64(sys.in)
		r.Phases = append(r.Phases, prune.Phase{Name: "factor", Seconds: ph.factor, Flops: n * n * n})
	}
	r.Phases = append(r.Phases,
		prune.Phase{Name: "gemm", Seconds: ph.gemm, Flops: ph.gemmFlops},
		prune.Phase{Name: "select", Seconds: ph.sel})
	return r
}
