package model

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/safetensors"
)

func sameWeights(t *testing.T, a, b *Model) {
	t.Helper()
	if a.Config != b.Config {
		t.Fatalf("config %+v, want %+v", b.Config, a.Config)
	}
	eq := func(what string, x, y []float32) {
		t.Helper()
		if len(x) != len(y) {
			t.Fatalf("%s: %d vs %d values", what, len(x), len(y))
		}
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				t.Fatalf("%s[%d]: %v vs %v", what, i, x[i], y[i])
			}
		}
	}
	eq("embed", a.Weights.Embed, b.Weights.Embed)
	eq("classifier", a.Weights.Classifier, b.Weights.Classifier)
	eq("final norm", a.Weights.FinalNorm, b.Weights.FinalNorm)
	for l := range a.Weights.Blocks {
		ba, bb := &a.Weights.Blocks[l], &b.Weights.Blocks[l]
		eq("attn norm", ba.AttnNorm, bb.AttnNorm)
		eq("ffn norm", ba.FFNNorm, bb.FFNNorm)
		la, lb := ba.Linears(), bb.Linears()
		for i := range la {
			if la[i].Out != lb[i].Out || la[i].In != lb[i].In {
				t.Fatalf("block %d %s shape", l, LinearNames[i])
			}
			eq(LinearNames[i], la[i].W, lb[i].W)
		}
	}
}

func loadStories(t *testing.T) *Model {
	m, err := Load(datatest.Path(t, "models/stories260K"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSaveHFRoundTrip(t *testing.T) {
	src := loadStories(t)
	dir := filepath.Join(t.TempDir(), "hf")
	if err := SaveHF(src, dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Format != "hf" || got.Path != dir {
		t.Errorf("format %s path %s", got.Format, got.Path)
	}
	sameWeights(t, src, got)
	text := "Once upon a time, there was a little girl named Lily."
	if a, b := src.Tokenizer.Encode(text, true, false), got.Tokenizer.Encode(text, true, false); !reflect.DeepEqual(a, b) {
		t.Errorf("tokenizer changed: %v vs %v", a, b)
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.bin")); err != nil {
		t.Errorf("llama2.c vocabulary not stored as tokenizer.bin: %v", err)
	}

	// The stored q/k rows follow HF's order: HF row (h, j·hd/2+i) = Meta row (h, 2i+j).
	f, err := safetensors.Open(filepath.Join(dir, safetensors.SingleName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.Info("lm_head.weight"); ok {
		t.Error("tied model saved lm_head.weight")
	}
	c := src.Config
	for _, tc := range []struct {
		name       string
		meta       []float32
		h, i, j    int
		rows, want int
	}{
		{"model.layers.2.self_attn.q_proj.weight", src.Weights.Blocks[2].Q.W, 5, 1, 1, c.QDim(), 0},
		{"model.layers.3.self_attn.k_proj.weight", src.Weights.Blocks[3].K.W, 3, 2, 0, c.KVDim(), 0},
	} {
		hf, shape, err := f.Float32(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(shape, []int{tc.rows, c.Dim}) {
			t.Fatalf("%s shape %v", tc.name, shape)
		}
		hfRow := tc.h*c.HeadDim + tc.j*c.HeadDim/2 + tc.i
		metaRow := tc.h*c.HeadDim + 2*tc.i + tc.j
		if hfRow == metaRow {
			t.Fatalf("test picks a row the permutation fixes")
		}
		if !reflect.DeepEqual(hf[hfRow*c.Dim:(hfRow+1)*c.Dim], tc.meta[metaRow*c.Dim:(metaRow+1)*c.Dim]) {
			t.Errorf("%s: HF row %d is not llama2.c row %d", tc.name, hfRow, metaRow)
		}
		if reflect.DeepEqual(hf, tc.meta) {
			t.Errorf("%s: rows not permuted", tc.name)
		}
	}
}

func TestSaveHFShardedGGUF(t *testing.T) {
	src, err := Load(datatest.Path(t, "models/llama-2-tiny-random/llama-2-tiny-random.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "hf")
	if err := SaveHF(src, dir); err == nil || !strings.Contains(err.Error(), "WithTokenizerFile") {
		t.Fatalf("GGUF without a tokenizer file: %v", err)
	}
	spm := datatest.Path(t, "tokenizers/llama2/tokenizer.model")
	// Embedding and classifier are 1 MB each: a 600 kB limit gives 3 shards.
	if err := SaveHF(src, dir, WithShardSize(600_000), WithTokenizerFile(spm)); err != nil {
		t.Fatal(err)
	}
	shards, _ := filepath.Glob(filepath.Join(dir, "model-*-of-00003.safetensors"))
	if len(shards) != 3 {
		t.Errorf("shards %v, want 3", shards)
	}
	if _, err := os.Stat(filepath.Join(dir, safetensors.SingleName)); err == nil {
		t.Error("sharded save also wrote model.safetensors")
	}
	got, err := LoadHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameWeights(t, src, got)
	if a, b := src.Tokenizer.Encode("Hello world", true, false), got.Tokenizer.Encode("Hello world", true, false); !reflect.DeepEqual(a, b) {
		t.Errorf("tokenizer changed: %v vs %v", a, b)
	}
	// Saving the loaded HF model again copies its tokenizer.model.
	again := filepath.Join(t.TempDir(), "again")
	if err := SaveHF(got, again); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(again, "tokenizer.model")); err != nil {
		t.Error(err)
	}
}

func TestSaveHFTarget(t *testing.T) {
	src := loadStories(t)
	dir := filepath.Join(t.TempDir(), "hf")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := SaveHF(src, dir); err != nil {
		t.Fatalf("empty target directory: %v", err)
	}
	if err := SaveHF(src, dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("non-empty target: %v", err)
	}
	src.Weights.FinalNorm[0] = 42 // so the overwrite is visible
	if err := SaveHF(src, dir, WithOverwrite()); err != nil {
		t.Fatal(err)
	}
	got, err := LoadHF(dir)
	if err != nil || got.Weights.FinalNorm[0] != 42 {
		t.Fatalf("overwrite: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".hf*"))
	if len(left) != 0 {
		t.Errorf("temporary directories left: %v", left)
	}
	bad := *src
	bad.Weights.Blocks = bad.Weights.Blocks[:2]
	if err := SaveHF(&bad, filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(err.Error(), "2 blocks") {
		t.Errorf("inconsistent model: %v", err)
	}
}

// editHF saves stories260K as HF and applies edit to the directory.
func editHF(t *testing.T, edit func(dir string, cfg map[string]any, w *safetensors.Writer)) string {
	t.Helper()
	src := loadStories(t)
	dir := filepath.Join(t.TempDir(), "hf")
	if err := SaveHF(src, dir); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(filepath.Join(dir, safetensors.SingleName))
	if err != nil {
		t.Fatal(err)
	}
	w := safetensors.NewWriter()
	for _, n := range f.Names() {
		if n == "model.embed_tokens.weight" {
			continue // left to edit, which must add it back in some form
		}
		v, shape, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddFloat32(n, shape, v, safetensors.F32); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	edit(dir, cfg, w)
	raw, _ = json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile(filepath.Join(dir, safetensors.SingleName)); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadHFRejects(t *testing.T) {
	embed := func(w *safetensors.Writer, dt safetensors.DType) {
		if err := w.AddFloat32("model.embed_tokens.weight", []int{512, 64}, make([]float32, 512*64), dt); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		edit func(dir string, cfg map[string]any, w *safetensors.Writer)
		want string
	}{
		{"ok with bf16 and inv_freq", func(_ string, _ map[string]any, w *safetensors.Writer) {
			embed(w, safetensors.BF16)
			w.AddFloat32("model.layers.0.self_attn.rotary_emb.inv_freq", []int{4}, make([]float32, 4), safetensors.F32)
		}, ""},
		{"shape mismatch", func(_ string, cfg map[string]any, w *safetensors.Writer) {
			embed(w, safetensors.F32)
			cfg["intermediate_size"] = 170
		}, `"model.layers.0.mlp.gate_proj.weight" has shape [172 64], config.json implies [170 64]`},
		{"F64 weight", func(_ string, _ map[string]any, w *safetensors.Writer) {
			w.AddFloat64("model.embed_tokens.weight", []int{512, 64}, make([]float64, 512*64))
		}, "has dtype F64"},
		{"missing tensor", func(_ string, _ map[string]any, w *safetensors.Writer) {}, `missing tensor "model.embed_tokens.weight"`},
		{"unknown tensor", func(_ string, _ map[string]any, w *safetensors.Writer) {
			embed(w, safetensors.F32)
			w.AddFloat32("model.layers.0.self_attn.q_proj.bias", []int{64}, make([]float32, 64), safetensors.F32)
		}, `unexpected tensor "model.layers.0.self_attn.q_proj.bias"`},
		{"rope scaling", func(_ string, cfg map[string]any, w *safetensors.Writer) {
			embed(w, safetensors.F32)
			cfg["rope_scaling"] = map[string]any{"type": "linear", "factor": 2}
		}, "rope_scaling"},
		{"gelu", func(_ string, cfg map[string]any, w *safetensors.Writer) {
			embed(w, safetensors.F32)
			cfg["hidden_act"] = "gelu"
		}, `hidden_act "gelu"`},
		{"missing field", func(_ string, cfg map[string]any, w *safetensors.Writer) {
			embed(w, safetensors.F32)
			delete(cfg, "num_hidden_layers")
		}, "missing num_hidden_layers"},
		{"bad kv heads", func(_ string, cfg map[string]any, w *safetensors.Writer) {
			embed(w, safetensors.F32)
			cfg["num_key_value_heads"] = 3
		}, "kv heads 3"},
		{"tied lm_head differs", func(_ string, _ map[string]any, w *safetensors.Writer) {
			embed(w, safetensors.F32)
			w.AddFloat32("lm_head.weight", []int{512, 64}, append(make([]float32, 512*64-1), 1), safetensors.F32)
		}, "lm_head.weight differs"},
		{"no tokenizer", func(dir string, _ map[string]any, w *safetensors.Writer) {
			embed(w, safetensors.F32)
			os.Remove(filepath.Join(dir, "tokenizer.bin"))
		}, "no tokenizer; looked for"},
	}
	for _, c := range cases {
		dir := editHF(t, c.edit)
		_, err := LoadHF(dir)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

func TestLoadDispatch(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "no config.json") {
		t.Errorf("empty directory: %v", err)
	}
	p := filepath.Join(dir, "model.safetensors")
	os.WriteFile(p, []byte("x"), 0o644)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "load its directory") {
		t.Errorf("safetensors file: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "a.bin"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "b.gguf"), nil, 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "several checkpoints") {
		t.Errorf("two checkpoints: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing path accepted")
	}
}
