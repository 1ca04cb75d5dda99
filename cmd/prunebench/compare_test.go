package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/results"
)

// hWriteEdited writes the reference file to dir/name with edit applied to
// its records (fresh ones: edits do not leak between files); a record edit
// returns false to drop.
func hWriteEdited(t *testing.T, dir, name string, edit func(r *results.Record) (keep bool)) string {
	t.Helper()
	var b bytes.Buffer
	for _, r := range hRefRecords(t) {
		if !edit(&r) {
			continue
		}
		line, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// hIs tells whether r is the run of method at pattern.
func hIs(r *results.Record, method, pattern string) bool {
	return r.Method.Name == method && r.Pattern == pattern
}

// TestCompare checks compare's verdicts and exit codes on edited copies of
// the reference results file.
func TestCompare(t *testing.T) {
	work := t.TempDir()
	ref := hWriteRef(t, work, "reference.jsonl")
	scaled := func(name string, f float64) string {
		return hWriteEdited(t, work, name, func(r *results.Record) bool {
			if hIs(r, "wanda", "0.5") {
				r.Metrics[hMetric] *= f
			}
			return true
		})
	}
	worse := scaled("worse.jsonl", 1.05)
	better := scaled("better.jsonl", 0.9)
	missing := hWriteEdited(t, work, "missing.jsonl", func(r *results.Record) bool { return !hIs(r, "wanda", "0.5") })

	cases := []struct {
		name string
		args []string
		code int
		// stdout (exit 0 or 1) and the one stderr line (exit 1 or 2) hold
		// these; stdout lacks notOut.
		out, errLine []string
		notOut       []string
	}{
		{"same file", []string{ref, ref}, exitOK, []string{"no regression beyond 2%"}, nil, []string{"REGRESSED", "missing"}},
		{"5% worse", []string{ref, worse}, exitFail,
			[]string{"REGRESSED", "1 regression beyond 2%", "+5.0%"},
			[]string{"regression", "wanda", "wikitext2_ppl", "+5.0%", "worse.jsonl", "reference.jsonl"}, nil},
		{"5% worse, tolerance 10%", []string{"--tolerance", "10%", ref, worse}, exitOK, []string{"no regression beyond 10%", "+5.0%"}, nil, []string{"REGRESSED"}},
		{"5% worse, tolerance 0.1", []string{ref, worse, "--tolerance", "0.1"}, exitOK, []string{"no regression beyond 10%"}, nil, nil},
		{"5% worse, tolerance 4.9%", []string{ref, worse, "--tolerance", "4.9%"}, exitFail, []string{"REGRESSED"}, []string{"wanda", "wikitext2_ppl"}, nil},
		{"5% worse, one metric", []string{ref, worse, "--metric", hMetric}, exitFail, []string{"REGRESSED"}, []string{"wikitext2_ppl"}, nil},
		{"10% better", []string{ref, better}, exitOK, []string{"-10.0%", "no regression beyond 2%"}, nil, []string{"REGRESSED"}},
		{"missing run", []string{ref, missing}, exitOK, []string{"missing in new: wanda", "no regression beyond 2%"}, nil, []string{"REGRESSED"}},
		{"extra run", []string{missing, ref}, exitOK, []string{"missing in base: wanda", "no regression beyond 2%"}, nil, []string{"REGRESSED"}},
		{"bad tolerance", []string{ref, worse, "--tolerance", "abc"}, exitUsage, nil, []string{"--tolerance", "abc"}, nil},
		{"negative tolerance", []string{ref, worse, "--tolerance", "-1%"}, exitUsage, nil, []string{"--tolerance"}, nil},
		{"unknown metric", []string{ref, worse, "--metric", "wikitext_ppl"}, exitUsage, nil, []string{"wikitext_ppl", hMetric}, nil},
		{"one file", []string{ref}, exitUsage, nil, []string{"BASE NEW"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := cli(t, append([]string{"compare"}, c.args...)...)
			if o.code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", o.code, c.code, o.stdout, o.stderr)
			}
			for _, w := range c.out {
				if !strings.Contains(o.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, o.stdout)
				}
			}
			for _, w := range c.notOut {
				if strings.Contains(o.stdout, w) {
					t.Errorf("stdout has %q:\n%s", w, o.stdout)
				}
			}
			if c.code == exitOK {
				if o.stderr != "" {
					t.Errorf("stderr: %q", o.stderr)
				}
				return
			}
			if strings.Count(o.stderr, "\n") != 1 || !strings.HasPrefix(o.stderr, "prunebench compare: ") {
				t.Errorf("stderr is not one error line:\n%s", o.stderr)
			}
			for _, w := range c.errLine {
				if !strings.Contains(o.stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, o.stderr)
				}
			}
			if c.code == exitFail {
				// The line names the run by method and pattern, and no other.
				if !strings.Contains(o.stderr, "wanda 0.5") && !strings.Contains(o.stderr, "wanda 50%") {
					t.Errorf("stderr does not name wanda at 0.5: %s", o.stderr)
				}
				for _, other := range []string{"magnitude", "sparsegpt", "admm-grad", "dense", "2:4"} {
					if strings.Contains(o.stderr, other) {
						t.Errorf("stderr names %s: %s", other, o.stderr)
					}
				}
				if n := strings.Count(o.stdout, "REGRESSED"); n != 1 {
					t.Errorf("%d rows REGRESSED, want 1:\n%s", n, o.stdout)
				}
			}
			if c.code == exitUsage && o.stdout != "" {
				t.Errorf("stdout: %q", o.stdout)
			}
		})
	}
}

// hCellOK tells whether a table cell shows v at the cell's precision.
func hCellOK(cell string, v float64) bool {
	x, err := strconv.ParseFloat(cell, 64)
	if err != nil {
		return false
	}
	decimals := 0
	if i := strings.IndexByte(cell, '.'); i >= 0 {
		decimals = len(cell) - i - 1
	}
	return math.Abs(x-v) <= 0.5*math.Pow(10, -float64(decimals))*(1+1e-9)
}

// TestTableAndPlot checks table's formats against the records, and plot's
// files and refusals.
func TestTableAndPlot(t *testing.T) {
	dir := datatest.Dir(t)
	work := t.TempDir()
	ref := hWriteRef(t, work, "reference.jsonl")
	recs := hRefRecords(t)
	methods := []string{"dense", "magnitude", "wanda", "sparsegpt", "admm-grad"}

	// CSV first: its cells are checked against the records, then the other
	// formats must show the same cells.
	o := mustRun(t, "table", ref, "--format", "csv")
	csvOut := o.stdout
	rows, err := csv.NewReader(strings.NewReader(o.stdout)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v\n%s", err, o.stdout)
	}
	if len(rows) != 1+len(methods) || strings.Join(rows[0], ",") != "method,50%,2:4" {
		t.Fatalf("csv table:\n%s\nwant the header method,50%%,2:4 and %d rows", o.stdout, len(methods))
	}
	var cells []string
	for i, row := range rows[1:] {
		if row[0] != methods[i] {
			t.Errorf("row %d is %s, want %s", i+1, row[0], methods[i])
		}
		for j, pattern := range []string{"0.5", "2:4"} {
			cell := row[1+j]
			if row[0] == "dense" {
				pattern = ""
				if j == 1 {
					if cell != "" {
						t.Errorf("dense 2:4 cell %q, want empty", cell)
					}
					continue
				}
			}
			var v float64
			n := 0
			for _, r := range recs {
				if hIs(&r, row[0], pattern) {
					v = r.Metrics[hMetric]
					n++
				}
			}
			if n != 1 || !hCellOK(cell, v) {
				t.Errorf("%s %s: cell %q, want %v (%d records)", row[0], pattern, cell, v, n)
			}
			cells = append(cells, cell)
		}
	}
	if strings.Contains(o.stdout, "perplexity") {
		t.Errorf("csv has a caption:\n%s", o.stdout)
	}

	text := mustRun(t, "table", ref).stdout
	md := mustRun(t, "table", ref, "--format", "markdown").stdout
	for name, out := range map[string]string{"text": text, "markdown": md} {
		first, _, _ := strings.Cut(out, "\n")
		if !strings.HasPrefix(first, "WikiText-2 perplexity — stories260K") || strings.Contains(first, "|") {
			t.Errorf("%s: first line %q, want the caption", name, first)
		}
		for _, w := range append(append([]string{"50%", "2:4"}, methods...), cells...) {
			if !strings.Contains(out, w) {
				t.Errorf("%s table lacks %q:\n%s", name, w, out)
			}
		}
	}
	if strings.Count(md, "|") < 3*(2+len(methods)) {
		t.Errorf("markdown table without its | columns:\n%s", md)
	}
	for _, l := range strings.Split(strings.TrimSpace(md), "\n")[2:] {
		if !strings.HasPrefix(l, "|") {
			t.Errorf("markdown line %q does not start with |", l)
		}
	}

	t.Run("torn last line", func(t *testing.T) {
		torn := filepath.Join(t.TempDir(), "torn.jsonl")
		if err := os.WriteFile(torn, append(hReference(t), `{"id":"abc","met`...), 0o644); err != nil {
			t.Fatal(err)
		}
		o := mustRun(t, "table", torn)
		if o.stdout != text || !strings.Contains(o.stderr, "torn last line") {
			t.Errorf("stdout:\n%s\nstderr: %s\nwant the reference's table and a warning", o.stdout, o.stderr)
		}
	})

	t.Run("run prints the same table", func(t *testing.T) {
		cfg := hConfig(t, t.TempDir(), "tiny.yaml", ref)
		for _, format := range []string{"csv", "markdown"} {
			o := mustRun(t, "run", cfg, "--data-dir", dir, "--format", format)
			// run captions with the config's title; CSV has no caption.
			want := "prunebench harness test: " + md
			if format == "csv" {
				want = csvOut
			}
			if o.stdout != want {
				t.Errorf("run --format %s printed\n%s\nwant\n%s", format, o.stdout, want)
			}
		}
	})

	plots := t.TempDir()
	for _, c := range []struct{ name, file string }{
		{"png", "ppl.png"},
		{"svg", "sub/ppl.svg"},
	} {
		t.Run("plot "+c.name, func(t *testing.T) {
			out := filepath.Join(plots, c.file)
			o := mustRun(t, "plot", ref, "--x", "sparsity", "--y", hMetric, "-o", out)
			if !strings.Contains(o.stderr, "plot: wrote "+out) || o.stdout != "" {
				t.Errorf("stdout %q, stderr %q", o.stdout, o.stderr)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if c.name == "png" {
				img, err := png.Decode(f)
				if err != nil {
					t.Fatalf("%s: %v", out, err)
				}
				if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
					t.Errorf("%s is %v", out, b)
				}
			} else if b, _ := os.ReadFile(out); !bytes.Contains(b, []byte("<svg")) {
				t.Errorf("%s is not SVG: %.100q", out, b)
			}
		})
	}

	t.Run("plot rho by sparsity", func(t *testing.T) {
		// Only the admm-grad runs have rho.
		out := filepath.Join(plots, "rho.png")
		mustRun(t, "plot", ref, "--x", "rho", "--y", hMetric, "--series", "sparsity", "-o", out)
		if _, err := os.Stat(out); err != nil {
			t.Error(err)
		}
	})

	t.Run("plot rho without rho", func(t *testing.T) {
		noRho := hWriteEdited(t, t.TempDir(), "no-rho.jsonl", func(r *results.Record) bool { return r.Method.Name != "admm-grad" })
		out := filepath.Join(plots, "none.png")
		o := cli(t, "plot", noRho, "--x", "rho", "--y", hMetric, "-o", out)
		if o.code != exitFail || o.stdout != "" || strings.Count(o.stderr, "\n") != 1 || !strings.Contains(o.stderr, "rho") {
			t.Errorf("exit %d, stdout %q, stderr %q: want 1 and one line about rho", o.code, o.stdout, o.stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s written", out)
		}
	})

	t.Run("plot log x of one value", func(t *testing.T) {
		// In a child: the gonum panic this provokes would end the test
		// binary.
		out := filepath.Join(plots, "log.png")
		o := runChild(t, t.TempDir(), "plot", ref, "--x", "sparsity", "--logx", "-o", out)
		if o.code != exitOK {
			t.Fatalf("exit %d: %s", o.code, o.stderr)
		}
		if _, err := os.Stat(out); err != nil {
			t.Error(err)
		}
	})
}

// TestHarnessHostile feeds the experiment verbs bad input: each fails at
// once with its exit code, one stderr line that names the problem, and
// nothing on stdout.
func TestHarnessHostile(t *testing.T) {
	dir := datatest.Dir(t)
	root := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ref := hWriteRef(t, root, "reference.jsonl")
	good := hConfig(t, root, "good.yaml", filepath.Join(root, "never.jsonl"))
	syntax := write("syntax.yaml", "name: x\nmodels: [stories260K\nmethods: [wanda]\n")
	unknownKey := write("key.yaml", strings.Replace(hConfigText(ref, hMethods), "nsamples: 4", "nsample: 4", 1))
	notJSON := write("notjson.jsonl", string(hLines(hReference(t))[0])+"not json\n")
	empty := write("empty.jsonl", "")
	if err := os.Mkdir(filepath.Join(root, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}

	cases := []hostile{
		{name: "missing config", args: []string{"run", filepath.Join(root, "nope.yaml")}, code: exitUsage,
			want: []string{"nope.yaml", "no such file"}},
		{name: "config is a directory", args: []string{"run", filepath.Join(root, "adir")}, code: exitUsage,
			want: []string{"adir", "is a directory"}},
		{name: "YAML syntax error", args: []string{"run", syntax}, code: exitUsage, want: []string{syntax + ":2: ", "YAML"}},
		{name: "unknown key", args: []string{"run", unknownKey}, code: exitUsage,
			want: []string{unknownKey + ":4:15: calibration: unknown key \"nsample\"", "nsamples"}},
		{name: "results file not JSON", args: []string{"run", good, "--data-dir", dir, "--out", notJSON}, code: exitFail,
			want: []string{notJSON + ":2: "}},
		{name: "table of a file not JSON", args: []string{"table", notJSON}, code: exitFail, want: []string{notJSON + ":2: "}},
		{name: "compare with a missing file", args: []string{"compare", ref, filepath.Join(root, "nope.jsonl")}, code: exitFail,
			want: []string{"nope.jsonl", "no such file"}},
		{name: "compare with a missing base", args: []string{"compare", filepath.Join(root, "nope.jsonl"), ref}, code: exitFail,
			want: []string{"nope.jsonl"}},
		{name: "table of an empty file", args: []string{"table", empty}, code: exitFail, want: []string{empty, "no records"}},
		{name: "table of an unknown metric", args: []string{"table", ref, "--metric", "nosuch"}, code: exitFail,
			want: []string{"nosuch", hMetric}},
		{name: "table of an unknown format", args: []string{"table", ref, "--format", "xml"}, code: exitFail,
			want: []string{"xml", "markdown"}},
		{name: "plot without -o", args: []string{"plot", ref, "--x", "sparsity"}, code: exitUsage, want: []string{"-o"}},
		{name: "plot to a gif", args: []string{"plot", ref, "--x", "sparsity", "-o", filepath.Join(root, "p.gif")}, code: exitFail,
			want: []string{"p.gif", ".png or .svg"}},
		{name: "run without a config", args: []string{"run"}, code: exitUsage, want: []string{"CONFIG"}},
		{name: "run with two configs", args: []string{"run", good, good}, code: exitUsage, want: []string{"CONFIG"}},
		{name: "run with an unknown format", args: []string{"run", good, "--data-dir", dir, "--out", ref, "--format", "xml"}, code: exitUsage,
			want: []string{"xml"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot(t, root)
			cwd := t.TempDir()
			o := runChild(t, cwd, c.args...)
			t.Logf("exit %d in %v: %s", o.code, o.elapsed.Round(time.Millisecond), o.stderr)
			if o.code != c.code {
				t.Errorf("exit %d, want %d", o.code, c.code)
			}
			if o.stdout != "" {
				t.Errorf("stdout: %q", o.stdout)
			}
			if strings.Count(o.stderr, "\n") != 1 || !strings.HasPrefix(o.stderr, "prunebench "+c.args[0]+": ") {
				t.Errorf("stderr is not one error line:\n%s", o.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(o.stderr, w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			if d := diffSnapshots(before, snapshot(t, root)); len(d) > 0 {
				t.Errorf("files changed: %q", d)
			}
			if es, _ := os.ReadDir(cwd); len(es) > 0 {
				t.Errorf("left %s in the working directory", es[0].Name())
			}
		})
	}
}
