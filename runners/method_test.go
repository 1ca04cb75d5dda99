package runners_test

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/admm"
	"github.com/prunebench/prunebench/baselines"
	"github.com/prunebench/prunebench/runners"
)

// spec builds a MethodSpec from name, value pairs.
func spec(name string, kv ...any) runners.MethodSpec {
	s := runners.MethodSpec{Name: name, Options: map[string]any{}}
	for i := 0; i < len(kv); i += 2 {
		s.Options[kv[i].(string)] = kv[i+1]
	}
	return s
}

// admmOpts are the paper's ADMM settings (PRUNING.md §6.7), spelled out
// here so that a changed default shows up as a failure: ADMM1 with steps
// 0, ADMM-Grad with its steps and the cubic schedule.
func admmOpts(steps int, edit func(*admm.Options)) admm.Options {
	o := admm.Options{Rho: 1, Iters: 20, PercDamp: 0.1}
	if steps > 0 {
		o.Steps, o.Schedule = steps, admm.ScheduleCubic
	}
	if edit != nil {
		edit(&o)
	}
	return o
}

func TestNewMethod(t *testing.T) {
	cases := []struct {
		name   string
		spec   runners.MethodSpec
		want   any // a prune.Method, or the admm.Options ADMM is built with
		perRow bool
		err    string // substring of the error; "" = success
	}{
		{"magnitude", spec("magnitude"), baselines.Magnitude{}, false, ""},
		{"wanda", spec("wanda"), baselines.Wanda{}, true, ""},
		{"sparsegpt defaults", spec("sparsegpt"), baselines.DefaultSparseGPT(), false, ""},
		{"sparsegpt options", spec("sparsegpt", "blocksize", 64, "percdamp", 0.05),
			baselines.SparseGPT{BlockSize: 64, PercDamp: 0.05}, false, ""},
		{"admm1 defaults", spec("admm1"), admmOpts(0, nil), false, ""},
		{"admm-grad defaults", spec("admm-grad"), admmOpts(15, nil), false, ""},
		{"admm1 options", spec("admm1", "rho", 0.5, "iters", 0, "percdamp", 0.0),
			admmOpts(0, func(o *admm.Options) { o.Rho, o.Iters, o.PercDamp = 0.5, 0, 0 }), false, ""},
		{"admm1 per-output", spec("admm1", "per-output", true),
			admmOpts(0, func(o *admm.Options) { o.PerOutput = true }), true, ""},
		{"admm1 per-output false", spec("admm1", "per-output", false),
			admmOpts(0, nil), false, ""},
		{"admm1 mask normmag", spec("admm1", "mask", "normmag"), admmOpts(0, nil), false, ""},
		{"admm1 mask wanda", spec("admm1", "mask", "wanda"),
			admmOpts(0, func(o *admm.Options) { o.MaskFrom = baselines.Wanda{} }), true, ""},
		{"admm1 mask sparsegpt", spec("admm1", "mask", "sparsegpt"),
			admmOpts(0, func(o *admm.Options) { o.MaskFrom = baselines.DefaultSparseGPT() }), false, ""},
		{"admm1 mask magnitude", spec("admm1", "mask", "magnitude"),
			admmOpts(0, func(o *admm.Options) { o.MaskFrom = baselines.Magnitude{} }), false, ""},
		{"admm-grad options", spec("admm-grad", "steps", 5, "iters", 30, "schedule", admm.ScheduleReferenceFull),
			admmOpts(5, func(o *admm.Options) { o.Iters, o.Schedule = 30, admm.ScheduleReferenceFull }), false, ""},
		{"admm-grad per-output", spec("admm-grad", "per-output", true),
			admmOpts(15, func(o *admm.Options) { o.PerOutput = true }), true, ""},
		{"admm-grad relax", spec("admm-grad", "relax", 1.75),
			admmOpts(15, func(o *admm.Options) { o.OverRelax = 0.75 }), false, ""},
		{"admm1 relax", spec("admm1", "relax", 1.5),
			admmOpts(0, func(o *admm.Options) { o.OverRelax = 0.5 }), false, ""},

		{"unknown method", spec("obs"), nil, false, `method "obs"`},
		{"empty name", spec(""), nil, false, `method ""`},
		{"magnitude rho", spec("magnitude", "rho", 1.0), nil, false, "method magnitude has no option rho (it has no options)"},
		{"magnitude percdamp", spec("magnitude", "percdamp", 0.1), nil, false, "magnitude has no option percdamp"},
		{"wanda per-output", spec("wanda", "per-output", true), nil, false, "wanda has no option per-output"},
		{"wanda blocksize", spec("wanda", "blocksize", 128), nil, false, "wanda has no option blocksize"},
		{"sparsegpt iters", spec("sparsegpt", "iters", 20), nil, false, "method sparsegpt has no option iters (options: percdamp, blocksize)"},
		{"sparsegpt mask", spec("sparsegpt", "mask", "wanda"), nil, false, "sparsegpt has no option mask"},
		{"sparsegpt blocksize 0", spec("sparsegpt", "blocksize", 0), nil, false, "blocksize 0"},
		{"sparsegpt percdamp 0", spec("sparsegpt", "percdamp", 0.0), nil, false, "percdamp 0"},
		{"admm1 steps", spec("admm1", "steps", 15), nil, false, "admm1 has no option steps"},
		{"admm1 schedule", spec("admm1", "schedule", "cubic"), nil, false, "admm1 has no option schedule"},
		{"admm1 blocksize", spec("admm1", "blocksize", 128), nil, false, "admm1 has no option blocksize"},
		{"admm1 unknown mask", spec("admm1", "mask", "random"), nil, false, `mask "random"`},
		{"admm1 mask with per-output", spec("admm1", "mask", "wanda", "per-output", true), nil, false, "per-output"},
		{"admm1 rho 0", spec("admm1", "rho", -1.0), nil, false, "rho -1"},
		{"admm1 percdamp negative", spec("admm1", "percdamp", -0.1), nil, false, "percdamp -0.1"},
		{"admm-grad mask", spec("admm-grad", "mask", "wanda"), nil, false, "method admm-grad has no option mask (options: rho, iters, steps, schedule, percdamp, per-output, relax)"},
		{"admm-grad blocksize", spec("admm-grad", "blocksize", 128), nil, false, "admm-grad has no option blocksize"},
		{"admm-grad schedule", spec("admm-grad", "schedule", "linear"), nil, false, `schedule "linear"`},
		{"admm-grad relax 2", spec("admm-grad", "relax", 2.0), nil, false, "--relax 2: must be in [1, 2)"},
		{"admm1 relax below 1", spec("admm1", "relax", 0.5), nil, false, "relax 0.5: must be ≥ 1"},
		{"sparsegpt relax", spec("sparsegpt", "relax", 1.5), nil, false, "sparsegpt has no option relax"},
		{"admm-grad iters below steps", spec("admm-grad", "iters", 10), nil, false, "iters 10: must be ≥ --steps 15"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, perRow, err := runners.NewMethod(c.spec)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				if m != nil {
					t.Errorf("a method %v came with the error", m)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Name() != c.spec.Name {
				t.Errorf("method name %q, want %q", m.Name(), c.spec.Name)
			}
			want := c.want
			if o, ok := want.(admm.Options); ok {
				build := admm.NewADMM1
				if c.spec.Name == "admm-grad" {
					build = admm.NewADMMGrad
				}
				if want, err = build(o); err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(m, want) {
				t.Errorf("method %#v, want %#v", m, want)
			}
			if perRow != c.perRow {
				t.Errorf("perRow %v, want %v", perRow, c.perRow)
			}
		})
	}
}

// TestMethodNames checks that every listed method and mask source builds.
func TestMethodNames(t *testing.T) {
	for _, name := range runners.MethodNames {
		if _, _, err := runners.NewMethod(spec(name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, mask := range runners.MaskSources {
		if _, _, err := runners.NewMethod(spec("admm1", "mask", mask)); err != nil {
			t.Errorf("admm1 mask %s: %v", mask, err)
		}
	}
}

// TestMethodOptionRanges checks every option's range through MethodSpec by
// the whole message, each 0 that used to become the default included.
func TestMethodOptionRanges(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		spec runners.MethodSpec
		want string // "" = valid
	}{
		{spec("admm1", "rho", 0.0), "admm1: --rho 0: must be > 0 and finite"},
		{spec("admm-grad", "rho", 0.0), "admm-grad: --rho 0: must be > 0 and finite"},
		{spec("admm1", "rho", -2.0), "admm1: --rho -2: must be > 0 and finite"},
		{spec("admm1", "rho", nan), "admm1: --rho NaN: must be > 0 and finite"},
		{spec("admm-grad", "rho", inf), "admm-grad: --rho +Inf: must be > 0 and finite"},
		{spec("admm1", "rho", 1e-3), ""},
		{spec("admm1", "iters", 0), ""},
		{spec("admm1", "iters", -1), "admm1: --iters -1: must be ≥ 0 (0 applies the mask only)"},
		{spec("admm-grad", "iters", 0), "admm-grad: --iters 0: must be ≥ --steps 15"},
		{spec("admm-grad", "iters", 14), "admm-grad: --iters 14: must be ≥ --steps 15"},
		{spec("admm-grad", "iters", 15), ""},
		{spec("admm-grad", "steps", 0), "admm-grad: --steps 0: must be ≥ 1 (ADMM-Grad re-selects the mask at least once; one fixed mask is admm1)"},
		{spec("admm-grad", "steps", -3), "admm-grad: --steps -3: must be ≥ 1 (ADMM-Grad re-selects the mask at least once; one fixed mask is admm1)"},
		{spec("admm-grad", "steps", 21), "admm-grad: --iters 20: must be ≥ --steps 21"},
		{spec("admm-grad", "steps", 1, "iters", 1), ""},
		{spec("admm-grad", "schedule", ""), `admm-grad: --schedule "": want one of cubic, reference-full`},
		{spec("admm1", "percdamp", 0.0), ""},
		{spec("admm1", "percdamp", -0.5), "admm1: --percdamp -0.5: must be ≥ 0 and finite"},
		{spec("admm-grad", "percdamp", nan), "admm-grad: --percdamp NaN: must be ≥ 0 and finite"},
		{spec("admm1", "percdamp", inf), "admm1: --percdamp +Inf: must be ≥ 0 and finite"},
		{spec("admm1", "mask", ""), `admm1: --mask "": want one of normmag, wanda, sparsegpt, magnitude`},
		{spec("sparsegpt", "percdamp", 0.0), "sparsegpt: --percdamp 0: must be > 0 and finite"},
		{spec("sparsegpt", "percdamp", nan), "sparsegpt: --percdamp NaN: must be > 0 and finite"},
		{spec("sparsegpt", "percdamp", inf), "sparsegpt: --percdamp +Inf: must be > 0 and finite"},
		{spec("sparsegpt", "blocksize", 0), "sparsegpt: --blocksize 0: must be ≥ 1"},
		{spec("sparsegpt", "blocksize", -128), "sparsegpt: --blocksize -128: must be ≥ 1"},
		{spec("sparsegpt", "blocksize", 1), ""},
	} {
		name := c.spec.String()
		t.Run(name, func(t *testing.T) {
			_, _, err := runners.NewMethod(c.spec)
			_, rerr := c.spec.Resolved()
			for _, err := range []error{err, rerr} {
				if c.want == "" && err != nil || c.want != "" && (err == nil || err.Error() != c.want) {
					t.Errorf("error %v, want %q", err, c.want)
				}
			}
		})
	}
}

// TestResolved checks that Resolved sets exactly the method's options, to
// the values given or the defaults, and that building from the resolved
// spec gives the same method as building from the original.
func TestResolved(t *testing.T) {
	for _, c := range []struct {
		spec, want runners.MethodSpec
	}{
		{spec("magnitude"), spec("magnitude")},
		{spec("wanda"), spec("wanda")},
		{spec("sparsegpt"), spec("sparsegpt", "percdamp", 0.01, "blocksize", 128)},
		{spec("sparsegpt", "blocksize", 64), spec("sparsegpt", "percdamp", 0.01, "blocksize", 64)},
		{spec("admm1"),
			spec("admm1", "rho", 1.0, "iters", 20, "percdamp", 0.1, "per-output", false, "mask", "normmag", "relax", 1.0)},
		{spec("admm1", "iters", 7, "mask", "wanda"),
			spec("admm1", "rho", 1.0, "iters", 7, "percdamp", 0.1, "per-output", false, "mask", "wanda", "relax", 1.0)},
		{spec("admm-grad"),
			spec("admm-grad", "rho", 1.0, "iters", 20, "steps", 15, "schedule", "cubic", "percdamp", 0.1, "per-output", false, "relax", 1.0)},
		{spec("admm-grad", "steps", 3, "per-output", true),
			spec("admm-grad", "rho", 1.0, "iters", 20, "steps", 3, "schedule", "cubic", "percdamp", 0.1, "per-output", true, "relax", 1.0)},
	} {
		t.Run(c.spec.Name, func(t *testing.T) {
			before, _ := json.Marshal(c.spec)
			got, err := c.spec.Resolved()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(c.want)
				t.Fatalf("resolved %s, want %s", g, w)
			}
			got.Options["iters"] = -1
			if c.spec.Options["iters"] == -1 {
				t.Error("the resolved spec shares the caller's options")
			}
			delete(got.Options, "iters")
			if r, err := c.spec.Resolved(); err == nil {
				got = r
			}
			if after, _ := json.Marshal(c.spec); string(after) != string(before) {
				t.Errorf("Resolved changed its receiver: %s, was %s", after, before)
			}
			m1, perRow1, err1 := runners.NewMethod(c.spec)
			m2, perRow2, err2 := runners.NewMethod(got)
			if err1 != nil || err2 != nil || !reflect.DeepEqual(m1, m2) || perRow1 != perRow2 {
				t.Errorf("built %#v, %v, %v from the spec but %#v, %v, %v from the resolved spec", m1, perRow1, err1, m2, perRow2, err2)
			}
			if again, err := got.Resolved(); err != nil || !reflect.DeepEqual(again, got) {
				t.Errorf("resolving again gave %+v, %v", again, err)
			}
		})
	}
}
