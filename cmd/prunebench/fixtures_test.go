package main

import (
	"encoding/json"
	"os"
	"path/filepath"
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
