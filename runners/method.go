package runners

import (
	"flag"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/prunebench/prunebench/admm"
	"github.com/prunebench/prunebench/baselines"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/results"
)

// Kind is the type of an option's value: its Go type in MethodSpec.Options
// is float64, int, string or bool.
type Kind int

// Option kinds.
const (
	Float Kind = iota
	Int
	String
	Bool
)

func (k Kind) String() string {
	return [...]string{"a number", "an integer", "a string", "true or false"}[k]
}

// Option is a method option as the user sees it. Its Name is the CLI flag
// (--rho), the YAML key and the grid key (admm-grad.rho); JSONKey is the
// record's key.
type Option struct {
	Name string
	Kind Kind
	Doc  string
	// Choices are the valid values of a String option.
	Choices []string
}

// JSONKey is the option's key in records and --json output: the name with
// '-' as '_', as JSON field names are spelled elsewhere in the records.
func (o Option) JSONKey() string { return strings.ReplaceAll(o.Name, "-", "_") }

// MethodOption is an option of one method: its default there and its range,
// which may differ between methods (SparseGPT needs damping > 0, ADMM's ρ
// already makes the system definite).
type MethodOption struct {
	Option
	Default any
	// Min bounds numeric values from below, excluded when MinOpen; floats
	// must also be finite.
	Min     float64
	MinOpen bool
	// Note explains the bound in the error message.
	Note string
	// Neutral, when set, is the value at which the option changes nothing:
	// what runs computed before the option existed. Records (and so run
	// IDs) leave the option out at that value, so that adding an option to
	// a method keeps the IDs and the stored results of every run that does
	// not use it; tables, compare and plots read a record without it as
	// having that value (results.SetNeutral).
	Neutral any
}

// methodDef is one row of the method table.
type methodDef struct {
	name    string
	options []MethodOption
	// build makes the method from fully resolved options (every option of
	// the method present, each valid on its own); it checks what involves
	// several options.
	build func(o map[string]any) (m prune.Method, perRow bool, err error)
}

// Option declarations, shared by the methods that have them.
var (
	optRho       = Option{Name: "rho", Kind: Float, Doc: "ADMM penalty ρ"}
	optIters     = Option{Name: "iters", Kind: Int, Doc: "ADMM iterations T in all"}
	optSteps     = Option{Name: "steps", Kind: Int, Doc: "ADMM-Grad: iterations that re-select the mask (gradual steps K)"}
	optSchedule  = Option{Name: "schedule", Kind: String, Doc: "ADMM-Grad: sparsity schedule of the gradual mask", Choices: []string{admm.ScheduleCubic, admm.ScheduleReferenceFull}}
	optPercDamp  = Option{Name: "percdamp", Kind: Float, Doc: "damping as a fraction of the mean diagonal of XᵀX"}
	optPerOutput = Option{Name: "per-output", Kind: Bool, Doc: "ADMM: select the mask per output row (Wanda's group) instead of per layer"}
	optMask      = Option{Name: "mask", Kind: String, Doc: "ADMM1: mask source", Choices: MaskSources}
	optBlockSize = Option{Name: "blocksize", Kind: Int, Doc: "SparseGPT: columns per lazy-update block"}
	optRelax     = Option{Name: "relax", Kind: Float, Doc: "ADMM over-relaxation α in [1, 2) (Boyd et al. §3.4.3): an ablation, 1 is the paper's ADMM"}
)

// MaskSources are the values of admm1's mask option: ADMM's own |W|·‖x‖
// score ("normmag") or another method's mask.
var MaskSources = []string{"normmag", "wanda", "sparsegpt", "magnitude"}

// methods is the method table, in the papers' table order: the one place
// where each method's options, defaults and ranges are declared. CLI flags,
// YAML keys, validation and records all read it. The defaults come from
// the method packages' constructors of defaults.
var methods = func() []methodDef {
	sg := baselines.DefaultSparseGPT()
	a1, ag := admm.ADMM1Defaults(), admm.ADMMGradDefaults()
	finitePos := func(o Option, d float64) MethodOption {
		return MethodOption{Option: o, Default: d, MinOpen: true}
	}
	finiteNonNeg := func(o Option, d float64) MethodOption { return MethodOption{Option: o, Default: d} }
	// Its upper bound (α < 2) is admm.Options.Validate's.
	relax := func(o admm.Options) MethodOption {
		return MethodOption{Option: optRelax, Default: 1 + o.OverRelax, Min: 1, Neutral: 1.0}
	}
	return []methodDef{
		{name: "magnitude", build: func(map[string]any) (prune.Method, bool, error) { return baselines.Magnitude{}, false, nil }},
		{name: "wanda", build: func(map[string]any) (prune.Method, bool, error) { return baselines.Wanda{}, true, nil }},
		{name: "sparsegpt",
			options: []MethodOption{
				{Option: optPercDamp, Default: sg.PercDamp, MinOpen: true},
				{Option: optBlockSize, Default: sg.BlockSize, Min: 1},
			},
			build: func(o map[string]any) (prune.Method, bool, error) {
				m := baselines.SparseGPT{PercDamp: o["percdamp"].(float64), BlockSize: o["blocksize"].(int)}
				return m, false, m.Validate()
			}},
		{name: "admm1",
			options: []MethodOption{
				finitePos(optRho, a1.Rho),
				{Option: optIters, Default: a1.Iters, Note: "0 applies the mask only"},
				finiteNonNeg(optPercDamp, a1.PercDamp),
				{Option: optPerOutput, Default: a1.PerOutput},
				{Option: optMask, Default: "normmag"},
				relax(a1),
			},
			build: buildADMM1},
		{name: "admm-grad",
			options: []MethodOption{
				finitePos(optRho, ag.Rho),
				// Its lower bound is steps, which admm.NewADMMGrad checks.
				{Option: optIters, Default: ag.Iters},
				{Option: optSteps, Default: ag.Steps, Min: 1, Note: "ADMM-Grad re-selects the mask at least once; one fixed mask is admm1"},
				{Option: optSchedule, Default: ag.Schedule},
				finiteNonNeg(optPercDamp, ag.PercDamp),
				{Option: optPerOutput, Default: ag.PerOutput},
				relax(ag),
			},
			build: buildADMMGrad},
	}
}()

// Records leave options out at their neutral value; results reads them
// back as that value.
func init() {
	for _, d := range methods {
		for _, o := range d.options {
			if o.Neutral != nil {
				results.SetNeutral(d.name, o.JSONKey(), o.Neutral)
			}
		}
	}
}

// MethodNames lists the methods in the papers' table order.
var MethodNames = func() []string {
	names := make([]string, len(methods))
	for i, d := range methods {
		names[i] = d.name
	}
	return names
}()

func lookupMethod(name string) (*methodDef, error) {
	for i := range methods {
		if methods[i].name == name {
			return &methods[i], nil
		}
	}
	return nil, fmt.Errorf("method %q: want one of %s", name, strings.Join(MethodNames, ", "))
}

// MethodOptions returns the options of the named method, in declaration
// order.
func MethodOptions(method string) ([]MethodOption, error) {
	d, err := lookupMethod(method)
	if err != nil {
		return nil, err
	}
	return d.options, nil
}

// LookupOption returns the method's option called name; the error lists
// the options the method has.
func LookupOption(method, name string) (MethodOption, error) {
	d, err := lookupMethod(method)
	if err != nil {
		return MethodOption{}, err
	}
	for _, o := range d.options {
		if o.Name == name {
			return o, nil
		}
	}
	if len(d.options) == 0 {
		return MethodOption{}, fmt.Errorf("method %s has no option %s (it has no options)", method, name)
	}
	return MethodOption{}, fmt.Errorf("method %s has no option %s (options: %s)", method, name, strings.Join(optionNames(d.options), ", "))
}

func optionNames(opts []MethodOption) []string {
	names := make([]string, len(opts))
	for i, o := range opts {
		names[i] = o.Name
	}
	return names
}

// Check validates v, a value of the option's kind, against its range.
// The message says what is wanted, without the option's name: callers
// prefix the flag or the YAML key.
func (o MethodOption) Check(v any) error {
	switch o.Kind {
	case Float:
		f, ok := v.(float64)
		if !ok {
			return fmt.Errorf("want %s", o.Kind)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || f < o.Min || o.MinOpen && f == o.Min {
			op := "≥"
			if o.MinOpen {
				op = ">"
			}
			return o.noted(fmt.Sprintf("must be %s %s and finite", op, strconv.FormatFloat(o.Min, 'g', -1, 64)))
		}
	case Int:
		i, ok := v.(int)
		if !ok {
			return fmt.Errorf("want %s", o.Kind)
		}
		if float64(i) < o.Min {
			return o.noted(fmt.Sprintf("must be ≥ %d", int(o.Min)))
		}
	case String:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want %s", o.Kind)
		}
		if !slices.Contains(o.Choices, s) {
			return fmt.Errorf("want one of %s", strings.Join(o.Choices, ", "))
		}
	case Bool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("want %s", o.Kind)
		}
	}
	return nil
}

func (o MethodOption) noted(problem string) error {
	if o.Note != "" {
		problem += " (" + o.Note + ")"
	}
	return fmt.Errorf("%s", problem)
}

// Parse reads the option's value from text (a flag's argument).
func (o Option) Parse(text string) (any, error) {
	switch o.Kind {
	case Float:
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return nil, fmt.Errorf("want %s", o.Kind)
		}
		return f, nil
	case Int:
		i, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil {
			return nil, fmt.Errorf("want %s", o.Kind)
		}
		return i, nil
	case Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, fmt.Errorf("want %s", o.Kind)
		}
		return b, nil
	}
	return text, nil
}

// FormatValue prints a value of an option as a flag, YAML or table would.
func FormatValue(v any) string {
	switch v := v.(type) {
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		return v
	}
	return fmt.Sprint(v)
}

// MethodSpec names a method and the options given for it, by option name
// (Option.Name): float64, int, string or bool values. Options not given
// take the method's default; options the method lacks are errors rather
// than silently ignored. Resolved fills in the defaults.
type MethodSpec struct {
	Name    string
	Options map[string]any
}

// Set returns a copy of s with the option set: specs are values, shared by
// the runs of a grid.
func (s MethodSpec) Set(name string, v any) MethodSpec {
	opts := make(map[string]any, len(s.Options)+1)
	for k, x := range s.Options {
		opts[k] = x
	}
	opts[name] = v
	return MethodSpec{Name: s.Name, Options: opts}
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
// NewMethod: what a method built from s runs, for a record to hold.
func (s MethodSpec) Resolved() (MethodSpec, error) {
	r, _, _, err := s.build()
	return r, err
}

// Record is the resolved spec as results store it: JSON keys, in the
// table's order, every option but those at their neutral value. s must be
// resolved.
func (s MethodSpec) Record() results.Method {
	r := results.Method{Name: s.Name, Options: map[string]any{}}
	d, err := lookupMethod(s.Name)
	if err != nil {
		return r
	}
	for _, o := range d.options {
		if v, ok := s.Options[o.Name]; ok && (o.Neutral == nil || v != o.Neutral) {
			r.Options[o.JSONKey()] = v
			r.Keys = append(r.Keys, o.JSONKey())
		}
	}
	return r
}

// String is the spec as flags would give it: "admm-grad rho=1 iters=20".
func (s MethodSpec) String() string {
	parts := []string{s.Name}
	if d, err := lookupMethod(s.Name); err == nil {
		for _, o := range d.options {
			if v, ok := s.Options[o.Name]; ok {
				parts = append(parts, o.Name+"="+FormatValue(v))
			}
		}
	}
	return strings.Join(parts, " ")
}

// OptionError is an option value out of its range or of the wrong kind.
type OptionError struct {
	Method, Option string
	Value          any
	Err            error
}

func (e *OptionError) Error() string {
	v := FormatValue(e.Value)
	if _, ok := e.Value.(string); ok {
		v = strconv.Quote(v)
	}
	return fmt.Sprintf("%s: --%s %s: %v", e.Method, e.Option, v, e.Err)
}

func (e *OptionError) Unwrap() error { return e.Err }

// build resolves s and builds the method from the resolved options in one
// pass, so that Resolved cannot disagree with NewMethod.
func (s MethodSpec) build() (MethodSpec, prune.Method, bool, error) {
	d, err := lookupMethod(s.Name)
	if err != nil {
		return MethodSpec{}, nil, false, err
	}
	for name := range s.Options {
		if _, err := LookupOption(s.Name, name); err != nil {
			return MethodSpec{}, nil, false, err
		}
	}
	resolved := MethodSpec{Name: s.Name, Options: make(map[string]any, len(d.options))}
	for _, o := range d.options {
		v, ok := s.Options[o.Name]
		if !ok {
			v = o.Default
		}
		if err := o.Check(v); err != nil {
			return MethodSpec{}, nil, false, &OptionError{s.Name, o.Name, v, err}
		}
		resolved.Options[o.Name] = v
	}
	m, perRow, err := d.build(resolved.Options)
	if err != nil {
		return MethodSpec{}, nil, false, err
	}
	return resolved, m, perRow, nil
}

func admmOptions(o map[string]any, base admm.Options) admm.Options {
	base.Rho = o["rho"].(float64)
	base.Iters = o["iters"].(int)
	base.PercDamp = o["percdamp"].(float64)
	base.PerOutput = o["per-output"].(bool)
	base.OverRelax = o["relax"].(float64) - 1
	return base
}

func buildADMM1(o map[string]any) (prune.Method, bool, error) {
	a := admmOptions(o, admm.ADMM1Defaults())
	perRow := a.PerOutput
	switch o["mask"].(string) {
	case "wanda":
		a.MaskFrom, perRow = baselines.Wanda{}, true
	case "sparsegpt":
		a.MaskFrom = baselines.DefaultSparseGPT()
	case "magnitude":
		a.MaskFrom = baselines.Magnitude{}
	}
	m, err := admm.NewADMM1(a)
	return m, perRow, err
}

func buildADMMGrad(o map[string]any) (prune.Method, bool, error) {
	a := admmOptions(o, admm.ADMMGradDefaults())
	a.Steps = o["steps"].(int)
	a.Schedule = o["schedule"].(string)
	m, err := admm.NewADMMGrad(a)
	return m, a.PerOutput, err
}

// MethodFlags are the method options as CLI flags: one per option of any
// method, typed by its kind, so that a flag the chosen method lacks is an
// error rather than ignored.
type MethodFlags struct {
	set map[string]*optionFlag
}

type optionFlag struct {
	opt   Option
	value any
	given bool
}

func (f *optionFlag) String() string {
	if f == nil || !f.given {
		return ""
	}
	return FormatValue(f.value)
}

func (f *optionFlag) Set(text string) error {
	v, err := f.opt.Parse(text)
	if err != nil {
		return err
	}
	f.value, f.given = v, true
	return nil
}

func (f *optionFlag) IsBoolFlag() bool { return f.opt.Kind == Bool }

// RegisterMethodFlags adds a flag per option to fs; its usage names the
// methods that have it with their defaults.
func RegisterMethodFlags(fs *flag.FlagSet) *MethodFlags {
	mf := &MethodFlags{set: map[string]*optionFlag{}}
	var order []string
	defaults := map[string][]string{}
	for _, d := range methods {
		for _, o := range d.options {
			if _, ok := mf.set[o.Name]; !ok {
				mf.set[o.Name] = &optionFlag{opt: o.Option}
				order = append(order, o.Name)
			}
			defaults[o.Name] = append(defaults[o.Name], d.name+" "+FormatValue(o.Default))
		}
	}
	for _, name := range order {
		f := mf.set[name]
		usage := f.opt.Doc
		if len(f.opt.Choices) > 0 {
			usage += ": " + strings.Join(f.opt.Choices, ", ")
		}
		fs.Var(f, name, usage+" (default: "+strings.Join(defaults[name], "; ")+")")
	}
	return mf
}

// Spec returns the spec of method with the options given on the command
// line.
func (mf *MethodFlags) Spec(method string) MethodSpec {
	s := MethodSpec{Name: method, Options: map[string]any{}}
	for name, f := range mf.set {
		if f.given {
			s.Options[name] = f.value
		}
	}
	return s
}
