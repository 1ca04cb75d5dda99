package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/safetensors"
)

// copyFile copies src to dst, cutting it to n bytes when n ≥ 0.
func copyFile(t *testing.T, src, dst string, n int) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if n >= 0 {
		b = b[:n]
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// hfCopy saves stories260K as a Hugging Face directory and returns it.
func hfCopy(t *testing.T) string {
	t.Helper()
	m, err := model.Load(datatest.Path(t, "models/stories260K"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "hf")
	if err := model.SaveHF(m, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// editConfig rewrites one field of dir/config.json.
func editConfig(t *testing.T, dir, key string, value any) {
	t.Helper()
	p := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg[key]; !ok {
		t.Fatalf("config.json has no %q", key)
	}
	cfg[key] = value
	if b, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewriteF64 rewrites dir/model.safetensors with tensor name stored as F64
// and every other tensor unchanged.
func rewriteF64(t *testing.T, dir, name string) {
	t.Helper()
	p := filepath.Join(dir, safetensors.SingleName)
	f, err := safetensors.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := safetensors.NewWriter()
	found := false
	for _, n := range f.Names() {
		v, shape, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		if n != name {
			if err := w.AddFloat32(n, shape, v, safetensors.F32); err != nil {
				t.Fatal(err)
			}
			continue
		}
		found = true
		v64 := make([]float64, len(v))
		for i, x := range v {
			v64[i] = float64(x)
		}
		if err := w.AddFloat64(n, shape, v64); err != nil {
			t.Fatal(err)
		}
	}
	if !found {
		t.Fatalf("%s has no tensor %s", p, name)
	}
	if err := w.WriteFile(p); err != nil {
		t.Fatal(err)
	}
}

// TestBadInput checks the error contract: exit 1 (2 for usage), nothing on
// stdout, and exactly one line on stderr that names the file or flag and
// what is wrong.
func TestBadInput(t *testing.T) {
	dir := datatest.Dir(t)
	bin := datatest.Path(t, "models/stories260K/stories260K.bin")
	vocab := datatest.Path(t, "models/stories260K/tok512.bin")
	rte := datatest.Path(t, "tasks/rte/dev.tsv")
	tmp := t.TempDir()
	p := func(rel string) string { return filepath.Join(tmp, rel) }

	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, bin, p("trunc/stories260K.bin"), int(st.Size()/2))
	copyFile(t, vocab, p("trunc/tok512.bin"), -1)
	copyFile(t, bin, p("novocab/stories260K.bin"), -1)
	if err := os.WriteFile(p("x.gguf"), bytes.Repeat([]byte("garbage!"), 64), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("empty.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	hf := hfCopy(t)
	cloneHF := func(name string) string {
		d := p(name)
		for _, f := range []string{"config.json", safetensors.SingleName, "tokenizer.bin"} {
			copyFile(t, filepath.Join(hf, f), filepath.Join(d, f), -1)
		}
		return d
	}
	badHeader := cloneHF("hf-badheader")
	// Overwrite the JSON header's start, keeping its length prefix.
	fh, err := os.OpenFile(filepath.Join(badHeader, safetensors.SingleName), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteAt([]byte("#garbage#"), 8); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
	badShape := cloneHF("hf-badshape")
	editConfig(t, badShape, "intermediate_size", 171)
	f64 := cloneHF("hf-f64")
	rewriteF64(t, f64, "model.layers.1.self_attn.q_proj.weight")

	// A data directory holding only a garbled RTE file: the header and
	// three documents of the real one, then a line without tabs (line 5).
	b, err := os.ReadFile(rte)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfterN(string(b), "\n", 5)
	garbled := p("data")
	if err := os.MkdirAll(p("data/tasks/rte"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("data/tasks/rte/dev.tsv"), []byte(strings.Join(lines[:4], "")+"no tabs on this line\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	prune := func(extra ...string) []string {
		return append([]string{"prune", "--data-dir", dir, "--model", "stories260K", "--nsamples", "4", "--seqlen", "64"}, extra...)
	}
	cases := []struct {
		name string
		args []string
		code int
		want []string // substrings of the one stderr line
	}{
		{"truncated llama2.c", []string{"ppl", "--data-dir", dir, "--model", p("trunc/stories260K.bin")},
			exitFail, []string{p("trunc/stories260K.bin"), "needs exactly"}},
		{"truncated llama2.c dir", []string{"ppl", "--data-dir", dir, "--model", p("trunc")},
			exitFail, []string{"stories260K.bin", "needs exactly"}},
		{"gguf magic", []string{"ppl", "--data-dir", dir, "--model", p("x.gguf")},
			exitFail, []string{p("x.gguf"), "GGUF"}},
		{"safetensors header", []string{"ppl", "--data-dir", dir, "--model", badHeader},
			exitFail, []string{filepath.Join(badHeader, safetensors.SingleName), "header"}},
		{"config shape", []string{"ppl", "--data-dir", dir, "--model", badShape},
			exitFail, []string{badShape, "config.json", "172", "171"}},
		{"F64 tensor", []string{"ppl", "--data-dir", dir, "--model", f64},
			exitFail, []string{"model.layers.1.self_attn.q_proj.weight", "F64"}},
		{"no vocabulary", []string{"ppl", "--data-dir", dir, "--model", p("novocab/stories260K.bin")},
			exitFail, []string{p("novocab/stories260K.bin"), "vocabulary", "tok512.bin"}},
		{"empty dataset", []string{"ppl", "--data-dir", dir, "--model", "stories260K", "--dataset", p("empty.txt")},
			exitFail, []string{p("empty.txt"), "empty"}},
		{"missing dataset", []string{"ppl", "--data-dir", dir, "--model", "stories260K", "--dataset", p("nope.txt")},
			exitFail, []string{p("nope.txt")}},
		{"seqlen above context", []string{"ppl", "--data-dir", dir, "--model", "stories260K", "--seqlen", "513"},
			exitFail, []string{"--seqlen 513", "context length 512"}},
		{"bad protocol", []string{"ppl", "--data-dir", dir, "--model", "stories260K", "--protocol", "nope"},
			exitUsage, []string{"--protocol", "nope"}},
		{"generate steps", []string{"generate", "--data-dir", dir, "--model", "stories260K", "--steps", "0"},
			exitUsage, []string{"--steps 0"}},
		{"unknown verb", []string{"prnue"}, exitUsage, []string{`unknown verb "prnue"`, "prune"}},
		{"unknown flag", []string{"ppl", "--data-dir", dir, "--bogus"}, exitUsage, []string{"-bogus", "not defined"}},
		{"bad flag value", []string{"ppl", "--data-dir", dir, "--max-windows", "many"}, exitUsage, []string{"max-windows", "many"}},
		{"stray argument", []string{"ppl", "--data-dir", dir, "--model", "stories260K", "extra"}, exitUsage, []string{`"extra"`}},
		{"missing model", []string{"ppl", "--data-dir", dir}, exitUsage, []string{"--model", "required"}},
		{"unknown model", []string{"ppl", "--data-dir", dir, "--model", "stories1B"},
			exitFail, []string{"stories1B", "not found", filepath.Join(dir, "models", "stories1B")}},
		{"sparsity 1.5", prune("--method", "wanda", "--sparsity", "1.5"), exitUsage, []string{"1.5", "(0,1)"}},
		{"sparsity 4:4", prune("--method", "wanda", "--sparsity", "4:4"), exitUsage, []string{"4:4", "N < M"}},
		{"sparsity 5:4", prune("--method", "wanda", "--sparsity", "5:4"), exitUsage, []string{"5:4", "N < M"}},
		{"sparsity 4:8 on width 172", prune("--method", "wanda", "--sparsity", "4:8"),
			exitFail, []string{"down_proj", "172", "M=8"}},
		{"missing sparsity", prune("--method", "wanda"), exitUsage, []string{"--sparsity"}},
		{"unknown method", prune("--method", "nope", "--sparsity", "0.5"), exitUsage, []string{`"nope"`, "admm-grad"}},
		{"rho with wanda", prune("--method", "wanda", "--sparsity", "0.5", "--rho", "2"), exitUsage, []string{"wanda", "rho"}},
		{"mask with admm-grad", prune("--method", "admm-grad", "--sparsity", "0.5", "--mask", "wanda"), exitUsage, []string{"admm-grad", "mask"}},
		{"unknown mask", prune("--method", "admm1", "--sparsity", "0.5", "--mask", "nope"), exitUsage, []string{"mask", `"nope"`}},
		{"bad schedule", prune("--method", "admm-grad", "--sparsity", "0.5", "--schedule", "linear"), exitUsage, []string{"schedule", "linear"}},
		{"steps above iters", prune("--method", "admm-grad", "--sparsity", "0.5", "--iters", "5"), exitUsage, []string{"iters 5", "steps 15"}},
		{"calibration seqlen", prune("--method", "wanda", "--sparsity", "0.5", "--seqlen", "1000"), exitFail, []string{"1000", "context length 512"}},
		{"eval flag without eval", prune("--method", "wanda", "--sparsity", "0.5", "--max-windows", "3"), exitUsage, []string{"--max-windows", "--eval ppl"}},
		{"bad eval", prune("--method", "wanda", "--sparsity", "0.5", "--eval", "acc"), exitUsage, []string{"--eval", "acc"}},
		{"eval seqlen", prune("--method", "wanda", "--sparsity", "0.5", "--eval", "ppl", "--eval-seqlen", "600"),
			exitFail, []string{"--eval-seqlen 600", "context length 512"}},
		{"eval dataset", prune("--method", "wanda", "--sparsity", "0.5", "--eval", "ppl", "--dataset", p("empty.txt")),
			exitFail, []string{p("empty.txt"), "empty"}},
		{"out not empty", prune("--method", "wanda", "--sparsity", "0.5", "--out", p("trunc")),
			exitFail, []string{"--out " + p("trunc"), "not empty"}},
		{"out is a file", prune("--method", "wanda", "--sparsity", "0.5", "--out", p("empty.txt")),
			exitFail, []string{"--out " + p("empty.txt"), "not a directory"}},
		{"unknown task", []string{"zeroshot", "--data-dir", dir, "--model", "stories260K", "--tasks", "rte,nope"},
			exitUsage, []string{"--tasks", `"nope"`, "unknown task"}},
		{"garbled task file", []string{"zeroshot", "--data-dir", garbled, "--model", bin, "--tasks", "rte", "--limit", "2"},
			exitFail, []string{p("data/tasks/rte/dev.tsv") + ":5", "fields"}},
		{"negative limit", []string{"zeroshot", "--data-dir", dir, "--model", "stories260K", "--limit", "-1"},
			exitUsage, []string{"--limit -1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := cli(t, c.args...)
			t.Logf("exit %d: %s", o.code, o.stderr)
			if o.code != c.code {
				t.Errorf("exit %d, want %d", o.code, c.code)
			}
			if o.stdout != "" {
				t.Errorf("stdout not empty: %q", o.stdout)
			}
			if strings.Count(o.stderr, "\n") != 1 || !strings.HasSuffix(o.stderr, "\n") {
				t.Errorf("stderr is not exactly one line:\n%s", o.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(o.stderr, w) {
					t.Errorf("stderr %q lacks %q", o.stderr, w)
				}
			}
		})
	}
}
