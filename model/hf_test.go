package model

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
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

// vocabTestVectors returns llama.cpp's 46 Llama-2 tokenizer test inputs.
func vocabTestVectors(t *testing.T) []string {
	t.Helper()
	inp, err := os.ReadFile(datatest.Path(t, "tokenizers/llama2/vocab-test.inp"))
	if err != nil {
		t.Fatal(err)
	}
	cases := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	return cases[:len(cases)-1]
}

// TestSaveHFGGUF saves the tiny GGUF, whose vocabulary lives inside the
// checkpoint, and loads it back: the vocabulary is written as
// tokenizer.model and must encode the tokenizer test vectors identically,
// and the logits must be bit-identical.
func TestSaveHFGGUF(t *testing.T) {
	src, err := Load(datatest.Path(t, "models/llama-2-tiny-random/llama-2-tiny-random.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "hf")
	// Embedding and classifier are 1 MB each: a 600 kB limit gives 3 shards.
	if err := SaveHF(src, dir, WithShardSize(600_000)); err != nil {
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
	if filepath.Base(got.Files[len(got.Files)-1]) != "tokenizer.model" {
		t.Errorf("files %v: the vocabulary was not stored as tokenizer.model", got.Files)
	}
	for i, text := range vocabTestVectors(t) {
		if a, b := src.Tokenizer.Encode(text, true, false), got.Tokenizer.Encode(text, true, false); !reflect.DeepEqual(a, b) {
			t.Errorf("case %d %q: GGUF vocabulary gives %v, the saved tokenizer.model %v", i, text, a, b)
		}
	}
	tokens := src.Tokenizer.Encode("Hello world, this is a tiny random Llama.", true, false)
	a, err := src.Forward(tokens, 1, len(tokens))
	if err != nil {
		t.Fatal(err)
	}
	b, err := got.Forward(tokens, 1, len(tokens))
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("logit %d: %v from the GGUF, %v after saving", i, a[i], b[i])
		}
	}
	// Saving the loaded HF model again copies its tokenizer.model.
	again := filepath.Join(t.TempDir(), "again")
	if err := SaveHF(got, again); err != nil {
		t.Fatal(err)
	}
	if x, y := readAll(t, filepath.Join(dir, "tokenizer.model")), readAll(t, filepath.Join(again, "tokenizer.model")); !reflect.DeepEqual(x, y) {
		t.Error("re-saving changed tokenizer.model")
	}
}

func readAll(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
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
		}, "num_key_value_heads 3"},
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

// TestCheckSaveHF gives one unusable target or model per case and checks
// that both CheckSaveHF and SaveHF give every reason, in words a user of the
// command line understands, and that SaveHF leaves nothing behind.
func TestCheckSaveHF(t *testing.T) {
	src := loadStories(t)
	base := t.TempDir()
	file := filepath.Join(base, "file")
	full := filepath.Join(base, "full")
	for _, p := range []string{file, filepath.Join(full, "x")} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Symbolic links live apart from base, whose entries are counted below.
	links := t.TempDir()
	emptyDir, toEmpty, dangling := filepath.Join(links, "empty"), filepath.Join(links, "to-empty"), filepath.Join(links, "dangling")
	if err := os.Mkdir(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(emptyDir, toEmpty); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(links, "absent"), dangling); err != nil {
		t.Fatal(err)
	}
	noTok := *src
	noTok.Tokenizer = nil
	goneVocab := *src
	goneVocab.vocabFiles = []string{filepath.Join(base, "deleted.bin")}
	cases := []struct {
		name string
		m    *Model
		dir  string
		want []string
	}{
		{"target is a file", src, file, []string{file + " exists and is not a directory"}},
		{"target not empty", src, full, []string{full + " already exists and is not empty"}},
		{"parent is a file", src, filepath.Join(file, "out"), []string{"cannot create " + filepath.Join(file, "out"), file + " is not a directory"}},
		{"pseudo file system", src, "/proc/prunebench-out", []string{"cannot create /proc/prunebench-out", "/proc does not accept new files"}},
		{"no vocabulary", &noTok, filepath.Join(base, "a"), []string{"no vocabulary to store"}},
		{"vocabulary file gone", &goneVocab, filepath.Join(base, "b"), []string{"vocabulary file to copy is no longer readable", "deleted.bin"}},
		{"every reason at once", &noTok, full, []string{"no vocabulary to store", "not empty"}},
		{"link to an empty directory", src, toEmpty, []string{toEmpty + " is a symbolic link; name a new or empty directory"}},
		{"dangling link", src, dangling, []string{dangling + " is a symbolic link; name a new or empty directory"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, err := range []error{CheckSaveHF(c.m, c.dir), SaveHF(c.m, c.dir)} {
				if err == nil {
					t.Fatal("accepted")
				}
				msg := err.Error()
				for _, w := range append(c.want, "save "+c.dir+": ") {
					if !strings.Contains(msg, w) {
						t.Errorf("%q does not say %q", msg, w)
					}
				}
				if strings.Contains(msg, "With") || strings.Contains(msg, "%!") || strings.Contains(msg, "\n") {
					t.Errorf("%q is not one line in the user's words", msg)
				}
			}
		})
	}
	if left, _ := filepath.Glob(filepath.Join(base, "*")); len(left) != 2 {
		t.Errorf("left behind: %v", left)
	}
	// The links and what they point at are untouched.
	if left, _ := filepath.Glob(filepath.Join(links, "*")); len(left) != 3 {
		t.Errorf("links directory now holds %v", left)
	}
	if names, _ := os.ReadDir(emptyDir); len(names) != 0 {
		t.Errorf("wrote through the link: %v", names)
	}
	if _, err := os.Lstat(filepath.Join(links, "absent")); !os.IsNotExist(err) {
		t.Errorf("created the dangling link's target: %v", err)
	}
	if err := CheckSaveHF(src, filepath.Join(base, "new", "deeper")); err != nil {
		t.Errorf("a target under missing parents: %v", err)
	}
}

// TestSaveHFFiles checks the permissions and durability side: the usual
// modes less the umask, no temporary left, and a cancelled save that
// removes its temporary directory and the parents it created.
func TestSaveHFFiles(t *testing.T) {
	src := loadStories(t)
	old := syscall.Umask(0o027)
	syscall.Umask(old)
	base := t.TempDir()
	dir := filepath.Join(base, "p", "q", "hf")
	if err := SaveHF(src, dir); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(filepath.Join(base, "p"), func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o666) &^ os.FileMode(old)
		if e.IsDir() {
			want = os.ModeDir | os.FileMode(0o777)&^os.FileMode(old)
		}
		if info.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, info.Mode(), want)
		}
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("%s: temporary left behind", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := SaveHFContext(ctx, src, filepath.Join(base, "r", "s", "hf")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled save: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(base, "*")); len(left) != 1 {
		t.Errorf("a cancelled save left %v", left)
	}
}

// countdownCtx is a context whose Err turns to Canceled at its n-th call,
// so that a test can cancel at each of a function's checks in turn.
type countdownCtx struct {
	context.Context
	n int
}

func (c *countdownCtx) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

// TestSaveHFCancelledAtEveryCheck cancels a save at each of its checks in
// turn: every run either fails with context.Canceled and leaves nothing
// (no directory, no temporary, no parent it made) or saves the whole model.
func TestSaveHFCancelledAtEveryCheck(t *testing.T) {
	src := loadStories(t)
	base := t.TempDir()
	for n := 0; ; n++ {
		dir := filepath.Join(base, "a", "b", "hf")
		err := SaveHFContext(&countdownCtx{context.Background(), n}, src, dir)
		if err == nil {
			if n < 10 {
				t.Errorf("saved after only %d checks of the context", n)
			}
			if _, err := LoadHF(dir); err != nil {
				t.Errorf("the save that completed does not load: %v", err)
			}
			return
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled at check %d: %v", n, err)
		}
		if left, _ := filepath.Glob(filepath.Join(base, "*")); len(left) != 0 {
			t.Fatalf("cancelled at check %d: left %v", n, left)
		}
	}
}

// TestHFConfigKeysExact: encoding/json would let "NUM_HIDDEN_LAYERS" set
// num_hidden_layers; transformers reads keys exactly, so such a key is an
// error naming it, and unknown keys of any case stay ignored.
func TestHFConfigKeysExact(t *testing.T) {
	base := `{"hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 5, "num_attention_heads": 8,
		"max_position_embeddings": 512, "vocab_size": 512, "rms_norm_eps": 1e-5`
	if _, err := parseHFConfig([]byte(base+`, "Some_Other_Key": 1}`), "config.json"); err != nil {
		t.Errorf("unknown key refused: %v", err)
	}
	_, err := parseHFConfig([]byte(base+`, "NUM_HIDDEN_LAYERS": 1000}`), "config.json")
	if err == nil || !strings.Contains(err.Error(), `"NUM_HIDDEN_LAYERS"`) || !strings.Contains(err.Error(), `"num_hidden_layers"`) {
		t.Errorf("got %v, want an error naming NUM_HIDDEN_LAYERS and num_hidden_layers", err)
	}
}
