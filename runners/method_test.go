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

func ptr[T any](v T) *T { return &v }

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
		{"magnitude", runners.MethodSpec{Name: "magnitude"}, baselines.Magnitude{}, false, ""},
		{"wanda", runners.MethodSpec{Name: "wanda"}, baselines.Wanda{}, true, ""},
		{"sparsegpt defaults", runners.MethodSpec{Name: "sparsegpt"}, baselines.DefaultSparseGPT(), false, ""},
		{"sparsegpt options", runners.MethodSpec{Name: "sparsegpt", BlockSize: ptr(64), PercDamp: ptr(0.05)},
			baselines.SparseGPT{BlockSize: 64, PercDamp: 0.05}, false, ""},
		{"admm1 defaults", runners.MethodSpec{Name: "admm1"}, admmOpts(0, nil), false, ""},
		{"admm-grad defaults", runners.MethodSpec{Name: "admm-grad"}, admmOpts(15, nil), false, ""},
		{"admm1 options", runners.MethodSpec{Name: "admm1", Rho: ptr(0.5), Iters: ptr(0), PercDamp: ptr(0.0)},
			admmOpts(0, func(o *admm.Options) { o.Rho, o.Iters, o.PercDamp = 0.5, 0, 0 }), false, ""},
		{"admm1 per-output", runners.MethodSpec{Name: "admm1", PerOutput: ptr(true)},
			admmOpts(0, func(o *admm.Options) { o.PerOutput = true }), true, ""},
		{"admm1 per-output false", runners.MethodSpec{Name: "admm1", PerOutput: ptr(false)},
			admmOpts(0, nil), false, ""},
		{"admm1 mask normmag", runners.MethodSpec{Name: "admm1", Mask: ptr("normmag")}, admmOpts(0, nil), false, ""},
		{"admm1 mask wanda", runners.MethodSpec{Name: "admm1", Mask: ptr("wanda")},
			admmOpts(0, func(o *admm.Options) { o.MaskFrom = baselines.Wanda{} }), true, ""},
		{"admm1 mask sparsegpt", runners.MethodSpec{Name: "admm1", Mask: ptr("sparsegpt")},
			admmOpts(0, func(o *admm.Options) { o.MaskFrom = baselines.DefaultSparseGPT() }), false, ""},
		{"admm1 mask magnitude", runners.MethodSpec{Name: "admm1", Mask: ptr("magnitude")},
			admmOpts(0, func(o *admm.Options) { o.MaskFrom = baselines.Magnitude{} }), false, ""},
		{"admm-grad options", runners.MethodSpec{Name: "admm-grad", Steps: ptr(5), Iters: ptr(30), Schedule: ptr(admm.ScheduleReferenceFull)},
			admmOpts(5, func(o *admm.Options) { o.Iters, o.Schedule = 30, admm.ScheduleReferenceFull }), false, ""},
		{"admm-grad per-output", runners.MethodSpec{Name: "admm-grad", PerOutput: ptr(true)},
			admmOpts(15, func(o *admm.Options) { o.PerOutput = true }), true, ""},

		{"unknown method", runners.MethodSpec{Name: "obs"}, nil, false, `method "obs"`},
		{"empty name", runners.MethodSpec{}, nil, false, `method ""`},
		{"magnitude rho", runners.MethodSpec{Name: "magnitude", Rho: ptr(1.0)}, nil, false, "magnitude has no option rho"},
		{"magnitude percdamp", runners.MethodSpec{Name: "magnitude", PercDamp: ptr(0.1)}, nil, false, "magnitude has no option percdamp"},
		{"wanda per-output", runners.MethodSpec{Name: "wanda", PerOutput: ptr(true)}, nil, false, "wanda has no option per-output"},
		{"wanda blocksize", runners.MethodSpec{Name: "wanda", BlockSize: ptr(128)}, nil, false, "wanda has no option blocksize"},
		{"sparsegpt iters", runners.MethodSpec{Name: "sparsegpt", Iters: ptr(20)}, nil, false, "sparsegpt has no option iters"},
		{"sparsegpt mask", runners.MethodSpec{Name: "sparsegpt", Mask: ptr("wanda")}, nil, false, "sparsegpt has no option mask"},
		{"sparsegpt blocksize 0", runners.MethodSpec{Name: "sparsegpt", BlockSize: ptr(0)}, nil, false, "blocksize 0"},
		{"sparsegpt percdamp 0", runners.MethodSpec{Name: "sparsegpt", PercDamp: ptr(0.0)}, nil, false, "percdamp 0"},
		{"admm1 steps", runners.MethodSpec{Name: "admm1", Steps: ptr(15)}, nil, false, "admm1 has no option steps"},
		{"admm1 schedule", runners.MethodSpec{Name: "admm1", Schedule: ptr("cubic")}, nil, false, "admm1 has no option schedule"},
		{"admm1 blocksize", runners.MethodSpec{Name: "admm1", BlockSize: ptr(128)}, nil, false, "admm1 has no option blocksize"},
		{"admm1 unknown mask", runners.MethodSpec{Name: "admm1", Mask: ptr("random")}, nil, false, `mask "random"`},
		{"admm1 mask with per-output", runners.MethodSpec{Name: "admm1", Mask: ptr("wanda"), PerOutput: ptr(true)}, nil, false, "per-output"},
		{"admm1 rho 0", runners.MethodSpec{Name: "admm1", Rho: ptr(-1.0)}, nil, false, "rho -1"},
		{"admm1 percdamp negative", runners.MethodSpec{Name: "admm1", PercDamp: ptr(-0.1)}, nil, false, "percdamp -0.1"},
		{"admm-grad mask", runners.MethodSpec{Name: "admm-grad", Mask: ptr("wanda")}, nil, false, "admm-grad has no option mask"},
		{"admm-grad blocksize", runners.MethodSpec{Name: "admm-grad", BlockSize: ptr(128)}, nil, false, "admm-grad has no option blocksize"},
		{"admm-grad schedule", runners.MethodSpec{Name: "admm-grad", Schedule: ptr("linear")}, nil, false, `schedule "linear"`},
		{"admm-grad iters below steps", runners.MethodSpec{Name: "admm-grad", Iters: ptr(10)}, nil, false, "iters 10: must be ≥ --steps 15"},
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
		if _, _, err := runners.NewMethod(runners.MethodSpec{Name: name}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, mask := range runners.MaskSources {
		if _, _, err := runners.NewMethod(runners.MethodSpec{Name: "admm1", Mask: &mask}); err != nil {
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
		{runners.MethodSpec{Name: "admm1", Rho: ptr(0.0)}, "admm1: --rho 0: must be > 0 and finite"},
		{runners.MethodSpec{Name: "admm-grad", Rho: ptr(0.0)}, "admm-grad: --rho 0: must be > 0 and finite"},
		{runners.MethodSpec{Name: "admm1", Rho: ptr(-2.0)}, "admm1: --rho -2: must be > 0 and finite"},
		{runners.MethodSpec{Name: "admm1", Rho: &nan}, "admm1: --rho NaN: must be > 0 and finite"},
		{runners.MethodSpec{Name: "admm-grad", Rho: &inf}, "admm-grad: --rho +Inf: must be > 0 and finite"},
		{runners.MethodSpec{Name: "admm1", Rho: ptr(1e-3)}, ""},
		{runners.MethodSpec{Name: "admm1", Iters: ptr(0)}, ""},
		{runners.MethodSpec{Name: "admm1", Iters: ptr(-1)}, "admm1: --iters -1: must be ≥ 0 (0 applies the mask only)"},
		{runners.MethodSpec{Name: "admm-grad", Iters: ptr(0)}, "admm-grad: --iters 0: must be ≥ --steps 15"},
		{runners.MethodSpec{Name: "admm-grad", Iters: ptr(14)}, "admm-grad: --iters 14: must be ≥ --steps 15"},
		{runners.MethodSpec{Name: "admm-grad", Iters: ptr(15)}, ""},
		{runners.MethodSpec{Name: "admm-grad", Steps: ptr(0)}, "admm-grad: --steps 0: must be ≥ 1 (ADMM-Grad re-selects the mask at least once; one fixed mask is admm1)"},
		{runners.MethodSpec{Name: "admm-grad", Steps: ptr(-3)}, "admm-grad: --steps -3: must be ≥ 1 (ADMM-Grad re-selects the mask at least once; one fixed mask is admm1)"},
		{runners.MethodSpec{Name: "admm-grad", Steps: ptr(21)}, "admm-grad: --iters 20: must be ≥ --steps 21"},
		{runners.MethodSpec{Name: "admm-grad", Steps: ptr(1), Iters: ptr(1)}, ""},
		{runners.MethodSpec{Name: "admm-grad", Schedule: ptr("")}, `admm-grad: --schedule "": want "cubic" or "reference-full"`},
		{runners.MethodSpec{Name: "admm1", PercDamp: ptr(0.0)}, ""},
		{runners.MethodSpec{Name: "admm1", PercDamp: ptr(-0.5)}, "admm1: --percdamp -0.5: must be ≥ 0 and finite"},
		{runners.MethodSpec{Name: "admm-grad", PercDamp: &nan}, "admm-grad: --percdamp NaN: must be ≥ 0 and finite"},
		{runners.MethodSpec{Name: "admm1", PercDamp: &inf}, "admm1: --percdamp +Inf: must be ≥ 0 and finite"},
		{runners.MethodSpec{Name: "admm1", Mask: ptr("")}, `admm1: --mask "": want one of normmag, wanda, sparsegpt, magnitude`},
		{runners.MethodSpec{Name: "sparsegpt", PercDamp: ptr(0.0)}, "sparsegpt: --percdamp 0: must be > 0 and finite"},
		{runners.MethodSpec{Name: "sparsegpt", PercDamp: &nan}, "sparsegpt: --percdamp NaN: must be > 0 and finite"},
		{runners.MethodSpec{Name: "sparsegpt", PercDamp: &inf}, "sparsegpt: --percdamp +Inf: must be > 0 and finite"},
		{runners.MethodSpec{Name: "sparsegpt", BlockSize: ptr(0)}, "sparsegpt: --blocksize 0: must be ≥ 1"},
		{runners.MethodSpec{Name: "sparsegpt", BlockSize: ptr(-128)}, "sparsegpt: --blocksize -128: must be ≥ 1"},
		{runners.MethodSpec{Name: "sparsegpt", BlockSize: ptr(1)}, ""},
	} {
		name, _ := json.Marshal(c.spec)
		t.Run(string(name), func(t *testing.T) {
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
		{runners.MethodSpec{Name: "magnitude"}, runners.MethodSpec{Name: "magnitude"}},
		{runners.MethodSpec{Name: "wanda"}, runners.MethodSpec{Name: "wanda"}},
		{runners.MethodSpec{Name: "sparsegpt"}, runners.MethodSpec{Name: "sparsegpt", PercDamp: ptr(0.01), BlockSize: ptr(128)}},
		{runners.MethodSpec{Name: "sparsegpt", BlockSize: ptr(64)}, runners.MethodSpec{Name: "sparsegpt", PercDamp: ptr(0.01), BlockSize: ptr(64)}},
		{runners.MethodSpec{Name: "admm1"},
			runners.MethodSpec{Name: "admm1", Rho: ptr(1.0), Iters: ptr(20), PercDamp: ptr(0.1), PerOutput: ptr(false), Mask: ptr("normmag")}},
		{runners.MethodSpec{Name: "admm1", Iters: ptr(7), Mask: ptr("wanda")},
			runners.MethodSpec{Name: "admm1", Rho: ptr(1.0), Iters: ptr(7), PercDamp: ptr(0.1), PerOutput: ptr(false), Mask: ptr("wanda")}},
		{runners.MethodSpec{Name: "admm-grad"},
			runners.MethodSpec{Name: "admm-grad", Rho: ptr(1.0), Iters: ptr(20), Steps: ptr(15), Schedule: ptr("cubic"), PercDamp: ptr(0.1), PerOutput: ptr(false)}},
		{runners.MethodSpec{Name: "admm-grad", Steps: ptr(3), PerOutput: ptr(true)},
			runners.MethodSpec{Name: "admm-grad", Rho: ptr(1.0), Iters: ptr(20), Steps: ptr(3), Schedule: ptr("cubic"), PercDamp: ptr(0.1), PerOutput: ptr(true)}},
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
			if c.spec.Iters != nil && got.Iters == c.spec.Iters {
				t.Error("the resolved spec shares the caller's Iters")
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
