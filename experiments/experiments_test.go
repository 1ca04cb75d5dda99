package experiments

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/eval"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/runners"
)

// TestBadConfigs loads every config under testdata/bad: each begins with
// a line "# want: <the exact error>".
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 15 {
		t.Fatalf("%d bad configs, want at least 15", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			want := wantLine(t, f)
			exp, err := Load(f)
			if err == nil {
				t.Fatalf("no error (%d runs), want %s", len(exp.Runs), want)
			}
			if err.Error() != want {
				t.Errorf("error\n got: %s\nwant: %s", err, want)
			}
			var e *Error
			if !errors.As(err, &e) || e.File != f {
				t.Errorf("error %#v: want an *Error naming %s", err, f)
			}
		})
	}
}

func wantLine(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	want, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "# want: ")
	if err != nil || !ok || want == "" {
		t.Fatalf("%s: the first line must be \"# want: <error>\"", path)
	}
	return want
}

// specLine prints the settings of a run that tell runs apart.
func specLine(r runners.RunSpec) string {
	if r.Method.Name == runners.Dense {
		return r.Model + " dense"
	}
	return fmt.Sprintf("%s %s %s seed=%d", r.Model, r.Method, r.Pattern, r.Calib.Seed)
}

const orderConfig = `
name: order
title: Order of runs
models: [a, b]
calibration: {mode: random, seeds: [0, 1], nsamples: 16, seqlen: 64, chunk: 4}
methods:
  - magnitude
  - admm1: {mask: wanda}
sparsities: [0.5, "2:4"]
grid:
  admm1.rho: [0.1, 1]
  admm1.iters: [10, 20]
evaluate:
  ppl: {seqlen: 64}
output: out.jsonl
`

func TestExpansionOrder(t *testing.T) {
	exp, err := Parse("order.yaml", []byte(orderConfig))
	if err != nil {
		t.Fatal(err)
	}
	// Per model: the dense run, then magnitude (1 variant) and admm1 (a
	// 2×2 grid), each at 2 sparsities × 2 seeds.
	if n := len(exp.Runs); n != 2*(1+(1+4)*2*2) {
		t.Fatalf("%d runs, want 42", n)
	}
	want := []string{
		"a dense",
		"a magnitude 0.5 seed=0", "a magnitude 0.5 seed=1", "a magnitude 2:4 seed=0", "a magnitude 2:4 seed=1",
	}
	// Grid keys in sorted order, the first varying slowest: admm1.iters,
	// then admm1.rho; values in the order given.
	for _, iters := range []string{"10", "20"} {
		for _, rho := range []string{"0.1", "1"} {
			for _, sp := range []string{"0.5", "2:4"} {
				for _, seed := range []string{"0", "1"} {
					want = append(want, fmt.Sprintf("a admm1 rho=%s iters=%s mask=wanda %s seed=%s", rho, iters, sp, seed))
				}
			}
		}
	}
	for _, w := range want {
		want = append(want, "b"+w[1:])
	}
	var got []string
	for _, r := range exp.Runs {
		got = append(got, specLine(r))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("runs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	calib := data.CalibSpec{Source: data.CorpusWikiText2Valid, Mode: data.ModeRandom, NSamples: 16, SeqLen: 64}
	ev := runners.EvalSpec{PPL: []runners.PPLSpec{{Dataset: data.CorpusWikiText2, Protocol: eval.ProtocolWanda, SeqLen: 64}}}
	for i, r := range exp.Runs {
		if r.Config != "order" || !reflect.DeepEqual(r.Eval, ev) {
			t.Errorf("run %d: config %q eval %+v", i, r.Config, r.Eval)
		}
		if r.DataDir != "" || r.Out != "" || r.Progress != nil {
			t.Errorf("run %d sets DataDir, Out or Progress", i)
		}
		if r.Method.Name == runners.Dense {
			if r.Pattern != (prune.Pattern{}) || r.Calib != (data.CalibSpec{}) || r.ChunkSeqs != 0 || len(r.Method.Options) != 0 {
				t.Errorf("dense run %d: %+v", i, r)
			}
			continue
		}
		c := calib
		c.Seed = r.Calib.Seed
		if r.Calib != c || r.ChunkSeqs != 4 {
			t.Errorf("run %d: calibration %+v chunk %d", i, r.Calib, r.ChunkSeqs)
		}
	}
	for i, r := range exp.Runs {
		if err := runners.Validate(r); err != nil {
			t.Errorf("run %d: %v", i, err)
		}
	}
	// Options are those given, with the grid's: no defaults filled in.
	if o := exp.Runs[1].Method.Options; len(o) != 0 {
		t.Errorf("magnitude options %v, want none", o)
	}
	if o, want := exp.Runs[5].Method.Options, map[string]any{"mask": "wanda", "rho": 0.1, "iters": 10}; !reflect.DeepEqual(o, want) {
		t.Errorf("admm1 options %#v, want %#v", o, want)
	}
	// Runs share nothing that could be changed through one of them.
	exp.Runs[5].Method.Options["rho"] = 99.0
	exp.Runs[5].Eval.PPL[0].SeqLen = 1
	if exp.Runs[6].Method.Options["rho"] != 0.1 || exp.Runs[6].Eval.PPL[0].SeqLen != 64 {
		t.Error("runs share their options or evaluations")
	}

	if exp.Title != "Order of runs" || exp.Output != "out.jsonl" || exp.Path != "order.yaml" || exp.ChunkSeqs != 4 {
		t.Errorf("experiment %q %q %q chunk %d", exp.Title, exp.Output, exp.Path, exp.ChunkSeqs)
	}
	if !reflect.DeepEqual(exp.Models, []string{"a", "b"}) || !reflect.DeepEqual(exp.Seeds, []uint64{0, 1}) {
		t.Errorf("models %v seeds %v", exp.Models, exp.Seeds)
	}
	wantGrid := []GridAxis{{"admm1", "iters", []any{10, 20}}, {"admm1", "rho", []any{0.1, 1.0}}}
	if !reflect.DeepEqual(exp.Grid, wantGrid) || exp.Grid[0].Key() != "admm1.iters" {
		t.Errorf("grid %v, want %v", exp.Grid, wantGrid)
	}
	wantMethods := []runners.MethodSpec{{Name: "magnitude", Options: map[string]any{}}, {Name: "admm1", Options: map[string]any{"mask": "wanda"}}}
	if !reflect.DeepEqual(exp.Methods, wantMethods) {
		t.Errorf("methods %v, want %v", exp.Methods, wantMethods)
	}
	if !reflect.DeepEqual(exp.Sparsities, []prune.Pattern{{Ratio: 0.5}, {N: 2, M: 4}}) {
		t.Errorf("sparsities %v", exp.Sparsities)
	}
}

// minimal is a config with every required key, for variations.
const minimal = `name: m
models: [stories260K]
methods:
  - admm-grad: {rho: 1}
sparsities: [0.5]
evaluate: {ppl: }
output: m.jsonl
`

func parseVariant(t *testing.T, old, new string) *Experiment {
	t.Helper()
	src := strings.Replace(minimal, old, new, 1)
	if src == minimal && old != new {
		t.Fatalf("%q is not in the config", old)
	}
	exp, err := Parse("m.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

func TestDefaults(t *testing.T) {
	exp := parseVariant(t, "", "")
	if len(exp.Runs) != 2 {
		t.Fatalf("%d runs, want 2", len(exp.Runs))
	}
	r := exp.Runs[1]
	wantCalib := data.CalibSpec{Source: data.CorpusWikiText2Valid, Mode: data.ModeContiguous, NSamples: data.DefaultNSamples}
	if r.Calib != wantCalib || exp.Calib != wantCalib || !reflect.DeepEqual(exp.Seeds, []uint64{0}) {
		t.Errorf("calibration %+v (experiment %+v, seeds %v), want %+v", r.Calib, exp.Calib, exp.Seeds, wantCalib)
	}
	wantEval := runners.EvalSpec{PPL: []runners.PPLSpec{{Dataset: data.CorpusWikiText2, Protocol: eval.ProtocolWanda}}}
	if !reflect.DeepEqual(r.Eval, wantEval) {
		t.Errorf("eval %+v, want %+v", r.Eval, wantEval)
	}
	if exp.Title != "m" {
		t.Errorf("title %q, want the name", exp.Title)
	}

	exp = parseVariant(t, "evaluate: {ppl: }", "evaluate: {zeroshot: {}, kld: }")
	z, k := exp.Runs[0].Eval.ZeroShot, exp.Runs[0].Eval.KLD
	if z == nil || !reflect.DeepEqual(z.Tasks, eval.PaperTaskNames()) || z.Limit != 0 || z.HellaSwagCtx != "" {
		t.Errorf("zeroshot %+v, want the seven paper tasks", z)
	}
	if k == nil || *k != (runners.KLDSpec{Dataset: data.CorpusWikiText2}) {
		t.Errorf("kld %+v", k)
	}
}

func TestFloatOptionFromInt(t *testing.T) {
	a := parseVariant(t, "{rho: 1}", "{rho: 1}")
	b := parseVariant(t, "{rho: 1}", "{rho: 1.0}")
	if !reflect.DeepEqual(a.Runs, b.Runs) {
		t.Errorf("rho: 1 and rho: 1.0 differ:\n%+v\n%+v", a.Runs[1].Method, b.Runs[1].Method)
	}
	if v, ok := a.Runs[1].Method.Options["rho"].(float64); !ok || v != 1 {
		t.Errorf("rho %#v, want float64 1", a.Runs[1].Method.Options["rho"])
	}
}

func TestGridValueInSpec(t *testing.T) {
	exp := parseVariant(t, "output:", "grid: {admm-grad.iters: [30, 20]}\noutput:")
	if len(exp.Runs) != 3 {
		t.Fatalf("%d runs, want 3", len(exp.Runs))
	}
	for i, want := range []int{30, 20} {
		o := exp.Runs[1+i].Method.Options
		if o["iters"] != want || o["rho"] != 1.0 || len(o) != 2 {
			t.Errorf("run %d options %v, want iters %d and rho 1", 1+i, o, want)
		}
	}
}

func TestSeedShorthand(t *testing.T) {
	exp := parseVariant(t, "methods:", "calibration: {mode: random, seed: 3}\nmethods:")
	if r := exp.Runs[1]; r.Calib.Seed != 3 || !reflect.DeepEqual(exp.Seeds, []uint64{3}) || len(exp.Runs) != 2 {
		t.Errorf("seed %d, seeds %v, %d runs", r.Calib.Seed, exp.Seeds, len(exp.Runs))
	}
	exp = parseVariant(t, "methods:", "calibration: {mode: random, seeds: [18446744073709551615, 7]}\nmethods:")
	if got := []uint64{exp.Runs[1].Calib.Seed, exp.Runs[2].Calib.Seed}; !reflect.DeepEqual(got, []uint64{1<<64 - 1, 7}) {
		t.Errorf("seeds %v", got)
	}
}

func TestC4Sources(t *testing.T) {
	exp := parseVariant(t, "methods:", "calibration:\n  mode: c4\n  source:\n    - c4/a.json.gz\n    - c4/b.json.gz\nmethods:")
	if s := exp.Runs[1].Calib.Source; s != "c4/a.json.gz,c4/b.json.gz" {
		t.Errorf("source %q", s)
	}
	exp = parseVariant(t, "methods:", "calibration: {mode: c4, source: \"c4/a.json.gz,c4/b.json.gz\"}\nmethods:")
	if s := exp.Runs[1].Calib.Source; s != "c4/a.json.gz,c4/b.json.gz" {
		t.Errorf("source %q", s)
	}
}

// TestPercentages: "70%" is 0.7, not 70 × 0.01 = 0.7000000000000001.
func TestPercentages(t *testing.T) {
	exp := parseVariant(t, "sparsities: [0.5]", `sparsities: ["35%", "70%", " 95%", "12.5%"]`)
	var got []prune.Pattern
	for _, r := range exp.Runs[1:] {
		got = append(got, r.Pattern)
	}
	want := []prune.Pattern{{Ratio: 0.35}, {Ratio: 0.7}, {Ratio: 0.95}, {Ratio: 0.125}}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(exp.Sparsities, want) {
		t.Errorf("patterns %v, want %v", got, want)
	}
	_, err := Parse("p.yaml", []byte(strings.Replace(minimal, "sparsities: [0.5]", `sparsities: [0.7, "70%"]`, 1)))
	if want := `p.yaml:5:19: sparsities[1]: "70%" is the same sparsity as sparsities[0] (0.7)`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

func TestModelShorthand(t *testing.T) {
	exp := parseVariant(t, "models: [stories260K]", "model: stories15M")
	if !reflect.DeepEqual(exp.Models, []string{"stories15M"}) || exp.Runs[0].Model != "stories15M" {
		t.Errorf("models %v", exp.Models)
	}
}

// TestSameMethodTwice: admm1 with two masks is two methods.
func TestSameMethodTwice(t *testing.T) {
	exp := parseVariant(t, "  - admm-grad: {rho: 1}\n", "  - admm1: {mask: wanda}\n  - admm1: {mask: sparsegpt}\n")
	if len(exp.Runs) != 3 || exp.Runs[1].Method.Options["mask"] != "wanda" || exp.Runs[2].Method.Options["mask"] != "sparsegpt" {
		t.Errorf("runs %v", exp.Runs)
	}
}

func TestSketch(t *testing.T) {
	exp, err := Load("testdata/good/sketch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// dense + (magnitude, wanda, sparsegpt, admm1, admm-grad × 3 ρ) × 5.
	if n := len(exp.Runs); n != 1+(4+3)*5 {
		t.Errorf("%d runs, want 36", n)
	}
	for _, r := range exp.Runs[1:] {
		if _, err := r.Method.Resolved(); err != nil {
			t.Errorf("%s: %v", r.Method, err)
		}
	}
	if exp.Path != "testdata/good/sketch.yaml" {
		t.Errorf("path %q", exp.Path)
	}
}

func TestErrorFields(t *testing.T) {
	_, err := Parse("q.yaml", []byte(strings.Replace(minimal, "{rho: 1}", "{rho: 1, rhoo: 2}", 1)))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%v: not an *Error", err)
	}
	want := Error{File: "q.yaml", Line: 4, Column: 25, Path: "methods[0].admm-grad",
		Msg: `unknown option "rhoo" (options: rho, iters, steps, schedule, percdamp, per-output, relax)`}
	if *e != want {
		t.Errorf("error %+v, want %+v", *e, want)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	if _, err := Load(missing); !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), missing+": ") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load(dir); err == nil || err.Error() != dir+": is a directory, want a YAML experiment config" {
		t.Errorf("directory: %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	src := []byte(minimal + "# " + strings.Repeat("x", MaxConfigBytes) + "\n")
	if err := os.WriteFile(big, src, 0o644); err != nil {
		t.Fatal(err)
	}
	want := big + ": larger than 1024 KiB, the limit for an experiment config"
	if _, err := Load(big); err == nil || err.Error() != want {
		t.Errorf("large file: %v, want %s", err, want)
	}
}

// TestPositionsOfSyntaxErrors: the decoder's lines are made 1-based, and
// errors the decoder gives no line get one from the source.
func TestPositionsOfSyntaxErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"a: 1\nb: [1, 2\nc: 3\n", "s.yaml:2: YAML syntax error: did not find expected ',' or ']'"},
		{"a: 1\nb: 2\n  c: 3\n", "s.yaml:3: YAML syntax error: mapping values are not allowed in this context"},
		{"a: b: c\n", "s.yaml:1: YAML syntax error: mapping values are not allowed in this context"},
		{"name: x\nmodels: [a\x01]\n", "s.yaml:2:11: YAML syntax error: control characters are not allowed"},
		{"name: x\nmodels: [\xff]\n", "s.yaml:2:10: YAML syntax error: invalid leading UTF-8 octet"},
		{"a: 1\nb: *x\n", "s.yaml:2:4: alias *x: anchors and aliases are not supported (write the value out)"},
		{"---\n", "s.yaml: empty config: want a mapping with the keys name, models, methods, sparsities, evaluate and output"},
	} {
		_, err := Parse("s.yaml", []byte(c.src))
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: error %v\nwant %s", c.src, err, c.want)
		}
	}
}

// TestBillionLaughs: aliases are refused before anything expands them.
func TestBillionLaughs(t *testing.T) {
	src := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for c := 'b'; c <= 'j'; c++ {
		p := string(c - 1)
		src += fmt.Sprintf("%c: &%c [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", c, c, p, p, p, p, p, p, p, p, p, p)
	}
	_, err := Parse("laughs.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "anchors and aliases are not supported") {
		t.Errorf("error %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/good/*.yaml", "testdata/bad/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	f.Add([]byte(orderConfig))
	f.Add([]byte(minimal))
	f.Add([]byte("a: &a [1]\nb: *a\n"))
	f.Add([]byte("name: x\n---\nname: y\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > 1<<16 {
			t.Skip()
		}
		exp, err := Parse("fuzz.yaml", src)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Errorf("error %q does not start with the file name", err)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("error %v is not an *Error", err)
			}
			return
		}
		if len(exp.Runs) == 0 || len(exp.Runs) > MaxRuns {
			t.Errorf("%d runs", len(exp.Runs))
		}
		// What the config accepts, the runner accepts.
		for _, r := range exp.Runs {
			if err := runners.Validate(r); err != nil {
				t.Errorf("run %s %s: %v", r.Method, r.Pattern, err)
			}
		}
	})
}

// TestShippedConfigs parses every config under ../configs; their runs, and
// those of the good test configs, pass runners.Validate.
func TestShippedConfigs(t *testing.T) {
	var files []string
	for _, pattern := range []string{"../configs/*.yaml", "../configs/*/*.yaml", "testdata/good/*.yaml"} {
		more, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, more...)
	}
	for _, f := range files {
		exp, err := Load(f)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, r := range exp.Runs {
			if err := runners.Validate(r); err != nil {
				t.Errorf("%s: run %s %s: %v", f, r.Method, r.Pattern, err)
			}
		}
	}
}
