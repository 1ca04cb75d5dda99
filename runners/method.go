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
// errors rather than silently ignored.
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
	if err := s.checkApplicable(); err != nil {
		return nil, false, err
	}
	switch s.Name {
	case "magnitude":
		return baselines.Magnitude{}, false, nil
	case "wanda":
		return baselines.Wanda{}, true, nil
	case "sparsegpt":
		sg := baselines.SparseGPT{}
		if s.BlockSize != nil {
			if *s.BlockSize <= 0 {
				return nil, false, fmt.Errorf("sparsegpt: blocksize %d: must be positive", *s.BlockSize)
			}
			sg.BlockSize = *s.BlockSize
		}
		if s.PercDamp != nil {
			if !(*s.PercDamp > 0) {
				return nil, false, fmt.Errorf("sparsegpt: percdamp %g: must be positive", *s.PercDamp)
			}
			sg.PercDamp = *s.PercDamp
		}
		return sg, false, nil
	case "admm1", "admm-grad":
		return newADMM(s)
	}
	return nil, false, fmt.Errorf("method %q: want one of %s", s.Name, strings.Join(MethodNames, ", "))
}

func newADMM(s MethodSpec) (prune.Method, bool, error) {
	o := admm.ADMM1Defaults()
	if s.Name == "admm-grad" {
		o = admm.ADMMGradDefaults()
	}
	if s.Rho != nil {
		o.Rho = *s.Rho
	}
	if s.Iters != nil {
		o.Iters = *s.Iters
	}
	if s.Steps != nil {
		o.Steps = *s.Steps
	}
	if s.Schedule != nil {
		o.Schedule = *s.Schedule
	}
	if s.PercDamp != nil {
		o.PercDamp = *s.PercDamp
	}
	if s.PerOutput != nil {
		o.PerOutput = *s.PerOutput
	}
	perRow := o.PerOutput
	if s.Mask != nil {
		switch *s.Mask {
		case "normmag":
		case "wanda":
			o.MaskFrom, perRow = baselines.Wanda{}, true
		case "sparsegpt":
			o.MaskFrom = baselines.SparseGPT{}
		case "magnitude":
			o.MaskFrom = baselines.Magnitude{}
		default:
			return nil, false, fmt.Errorf("%s: mask %q: want one of %s", s.Name, *s.Mask, strings.Join(MaskSources, ", "))
		}
	}
	var m prune.Method
	var err error
	if s.Name == "admm1" {
		m, err = admm.NewADMM1(o)
	} else {
		m, err = admm.NewADMMGrad(o)
	}
	return m, perRow, err
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
