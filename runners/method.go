package runners

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prunebench/prunebench/admm"
	"github.com/prunebench/prunebench/baselines"
	"github.com/prunebench/prunebench/prune"
)

// MethodNames lists the methods in the papers' table order.
var MethodNames = []string{"magnitude", "wanda", "sparsegpt", "admm1", "admm-grad"}

// MaskSources are the values of MethodSpec.Mask for admm1.
var MaskSources = []string{"normmag", "wanda", "sparsegpt", "magnitude"}

// MethodSpec names a method and overrides its options. A nil field keeps the
// method's default (PRUNING.md): options that do not apply to the method are
// errors rather than silently ignored. Resolved fills in the defaults.
type MethodSpec struct {
	Name      string   `json:"name"`
	Rho       *float64 `json:"rho,omitempty"`        // admm
	Iters     *int     `json:"iters,omitempty"`      // admm
	Steps     *int     `json:"steps,omitempty"`      // admm (admm-grad)
	Schedule  *string  `json:"schedule,omitempty"`   // admm-grad
	PercDamp  *float64 `json:"percdamp,omitempty"`   // sparsegpt, admm
	PerOutput *bool    `json:"per_output,omitempty"` // admm
	Mask      *string  `json:"mask,omitempty"`       // admm1
	BlockSize *int     `json:"blocksize,omitempty"`  // sparsegpt
}

// NewMethod builds the method. perRow tells the pipeline to verify
// unstructured masks per output row, the comparison group of Wanda and of
// ADMM's per-output selection.
func NewMethod(s MethodSpec) (m prune.Method, perRow bool, err error) {
	_, m, perRow, err = s.build()
	return m, perRow, err
}

// Resolved returns s with every option of its method set, to the value
// given or else to the method's default, after the same validation as
// NewMethod: what a method built from s runs, for a report to record.
// Options the method does not have stay nil.
func (s MethodSpec) Resolved() (MethodSpec, error) {
	r, _, _, err := s.build()
	return r, err
}

// build resolves s and builds the method from the resolved options in one
// pass, so that Resolved cannot disagree with NewMethod. The defaults come
// from the method packages (baselines.DefaultSparseGPT, admm.*Defaults).
func (s MethodSpec) build() (MethodSpec, prune.Method, bool, error) {
	if err := s.checkApplicable(); err != nil {
		return MethodSpec{}, nil, false, err
	}
	switch s.Name {
	case "magnitude":
		return s, baselines.Magnitude{}, false, nil
	case "wanda":
		return s, baselines.Wanda{}, true, nil
	case "sparsegpt":
		sg := baselines.DefaultSparseGPT()
		resolve(&s.BlockSize, &sg.BlockSize)
		resolve(&s.PercDamp, &sg.PercDamp)
		if err := sg.Validate(); err != nil {
			return MethodSpec{}, nil, false, err
		}
		return s, sg, false, nil
	case "admm1", "admm-grad":
		return s.buildADMM()
	}
	return MethodSpec{}, nil, false, fmt.Errorf("method %q: want one of %s", s.Name, strings.Join(MethodNames, ", "))
}

// resolve makes a spec field and the option it sets agree: a given value
// replaces the default in opt, and the field is set to a fresh copy of
// the result, so the resolved spec never aliases the caller's values.
func resolve[T any](field **T, opt *T) {
	if *field != nil {
		*opt = **field
	}
	v := *opt
	*field = &v
}

func (s MethodSpec) buildADMM() (MethodSpec, prune.Method, bool, error) {
	grad := s.Name == "admm-grad"
	o := admm.ADMM1Defaults()
	if grad {
		o = admm.ADMMGradDefaults()
	}
	resolve(&s.Rho, &o.Rho)
	resolve(&s.Iters, &o.Iters)
	resolve(&s.PercDamp, &o.PercDamp)
	resolve(&s.PerOutput, &o.PerOutput)
	perRow := o.PerOutput
	var m prune.Method
	var err error
	if grad {
		resolve(&s.Steps, &o.Steps)
		resolve(&s.Schedule, &o.Schedule)
		m, err = admm.NewADMMGrad(o)
	} else {
		mask := "normmag" // ADMM's own |B₀| score, MaskFrom nil
		resolve(&s.Mask, &mask)
		switch mask {
		case "normmag":
		case "wanda":
			o.MaskFrom, perRow = baselines.Wanda{}, true
		case "sparsegpt":
			o.MaskFrom = baselines.DefaultSparseGPT()
		case "magnitude":
			o.MaskFrom = baselines.Magnitude{}
		default:
			return MethodSpec{}, nil, false, fmt.Errorf("admm1: --mask %q: want one of %s", mask, strings.Join(MaskSources, ", "))
		}
		m, err = admm.NewADMM1(o)
	}
	if err != nil {
		return MethodSpec{}, nil, false, err
	}
	return s, m, perRow, nil
}

// checkApplicable refuses options the named method does not have.
func (s MethodSpec) checkApplicable() error {
	has := map[string][]string{
		"magnitude": nil,
		"wanda":     nil,
		"sparsegpt": {"percdamp", "blocksize"},
		"admm1":     {"rho", "iters", "percdamp", "per-output", "mask"},
		"admm-grad": {"rho", "iters", "steps", "schedule", "percdamp", "per-output"},
	}
	allowed, ok := has[s.Name]
	if !ok {
		return fmt.Errorf("method %q: want one of %s", s.Name, strings.Join(MethodNames, ", "))
	}
	set := map[string]bool{
		"rho": s.Rho != nil, "iters": s.Iters != nil, "steps": s.Steps != nil,
		"schedule": s.Schedule != nil, "percdamp": s.PercDamp != nil,
		"per-output": s.PerOutput != nil, "mask": s.Mask != nil, "blocksize": s.BlockSize != nil,
	}
	for _, opt := range []string{"rho", "iters", "steps", "schedule", "percdamp", "per-output", "mask", "blocksize"} {
		if set[opt] && !slices.Contains(allowed, opt) {
			return fmt.Errorf("method %s has no option %s", s.Name, opt)
		}
	}
	return nil
}
