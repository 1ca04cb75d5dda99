package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/model"
)

// TestExport exports stories260K to GGUF in both dtypes and loads each
// file back: the config is stories260K's and the report names the file.
func TestExport(t *testing.T) {
	dir := datatest.Dir(t)
	want, err := model.Load(filepath.Join(dir, "models/stories260K"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dtype := range []string{"f32", "f16"} {
		t.Run(dtype, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "stories260K.gguf")
			o := mustRun(t, "export", "--data-dir", dir, "--model", "stories260K", "--to", "gguf", "--dtype", dtype, "-o", out, "--json")
			var rep exportReport
			decodeJSON(t, o.stdout, &rep, "model", "model_files", "format", "dtype", "out", "bytes", "seconds")
			st, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Out != out || rep.Bytes != st.Size() || rep.DType != dtype || rep.Format != "gguf" || len(rep.ModelFiles) != 2 {
				t.Errorf("report %+v for a %d-byte file", rep, st.Size())
			}
			m, err := model.LoadGGUF(out)
			if err != nil {
				t.Fatal(err)
			}
			if m.Config != want.Config {
				t.Errorf("config %+v, want %+v", m.Config, want.Config)
			}
		})
	}
	o := mustRun(t, "export", "--data-dir", dir, "--model", "stories260K", "--to", "gguf", "-o", filepath.Join(t.TempDir(), "s.gguf"))
	if !strings.Contains(o.stdout, "stories260K") || !strings.Contains(o.stdout, "f32") {
		t.Errorf("table output lacks the model or the dtype:\n%s", o.stdout)
	}
}

// TestExportUsage: wrong wording exits 2 with one line and writes nothing.
func TestExportUsage(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.gguf")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no format", []string{"--model", "stories260K", "-o", out}, `--to "": want gguf`},
		{"hf", []string{"--model", "stories260K", "--to", "hf", "-o", out}, `--to "hf": want gguf`},
		{"bf16", []string{"--model", "stories260K", "--to", "gguf", "--dtype", "bf16", "-o", out}, `--dtype "bf16": want f32 or f16`},
		{"no output", []string{"--model", "stories260K", "--to", "gguf"}, "-o is required"},
		{"no model", []string{"--to", "gguf", "-o", out}, "--model is required"},
		{"stray argument", []string{"--to", "gguf", "-o", out, "extra"}, `unexpected argument "extra"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := cli(t, append([]string{"export"}, c.args...)...)
			if o.code != exitUsage || !strings.Contains(o.stderr, c.want) || strings.Count(o.stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want exit %d and one line containing %q", o.code, o.stderr, exitUsage, c.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s was written", out)
			}
		})
	}
}
