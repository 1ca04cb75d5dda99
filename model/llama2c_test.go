package model

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
)

// llama2cBytes encodes a legacy checkpoint whose every float is its own
// position in the file's float stream, so a test can tell where each
// tensor was read from. vocab < 0 adds a separate classifier.
func llama2cBytes(dim, hidden, layers, heads, kvHeads, vocab, seq int32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, [7]int32{dim, hidden, layers, heads, kvHeads, vocab, seq})
	v := int64(vocab)
	if v < 0 {
		v = -v
	}
	d, h, l, kv := int64(dim), int64(hidden), int64(layers), int64(dim/heads*kvHeads)
	n := v*d + l*d + 2*l*d*d + 2*l*kv*d + l*d + 3*l*h*d + d + int64(seq)*int64(dim/heads)
	if vocab < 0 {
		n += v * d
	}
	for i := int64(0); i < n; i++ {
		binary.Write(&b, binary.LittleEndian, float32(i))
	}
	return b.Bytes()
}

func TestLlama2CLayout(t *testing.T) {
	for _, vocab := range []int32{16, -16} {
		raw := llama2cBytes(8, 12, 2, 4, 2, vocab, 6)
		cfg, w, err := readLlama2C(bytes.NewReader(raw), int64(len(raw)), "synthetic.bin")
		if err != nil {
			t.Fatal(err)
		}
		want := Config{Dim: 8, HiddenDim: 12, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 2, Vocab: 16, SeqLen: 6,
			NormEps: 1e-5, RopeBase: 10000, TiedClassifier: vocab > 0}
		if cfg != want {
			t.Fatalf("config %+v, want %+v", cfg, want)
		}
		// Offsets (in floats) of the first element of each tensor, from
		// FORMATS.md §2: emb 128, rms_att 16, wq 128, wk 64, wv 64, wo 128,
		// rms_ffn 16, w1 192, w2 192, w3 192, rms_final 8, freq 12.
		first := func(v []float32) float32 { return v[0] }
		checks := []struct {
			what string
			got  float32
			want float32
		}{
			{"embed", first(w.Embed), 0},
			{"attn norm 1", first(w.Blocks[1].AttnNorm), 128 + 8},
			{"wq 0", first(w.Blocks[0].Q.W), 144},
			{"wq 1", first(w.Blocks[1].Q.W), 144 + 64},
			{"wk 0", first(w.Blocks[0].K.W), 272},
			{"wv 1", first(w.Blocks[1].V.W), 336 + 32},
			{"wo 0", first(w.Blocks[0].O.W), 400},
			{"ffn norm 1", first(w.Blocks[1].FFNNorm), 528 + 8},
			{"w1 1", first(w.Blocks[1].Gate.W), 544 + 96},
			{"w2 0", first(w.Blocks[0].Down.W), 736},
			{"w3 1", first(w.Blocks[1].Up.W), 928 + 96},
			{"final norm", first(w.FinalNorm), 1120},
		}
		if vocab < 0 {
			checks = append(checks, struct {
				what      string
				got, want float32
			}{"classifier", first(w.Classifier), 1128 + 12})
		} else if &w.Classifier[0] != &w.Embed[0] {
			t.Error("tied classifier should alias the embedding")
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("vocab %d: %s starts at float %v, want %v", vocab, c.what, c.got, c.want)
			}
		}
		if b := w.Blocks[0]; b.K.Out != 4 || b.K.In != 8 || b.Down.Out != 8 || b.Down.In != 12 || len(b.Down.W) != 96 {
			t.Errorf("shapes K %dx%d Down %dx%d", b.K.Out, b.K.In, b.Down.Out, b.Down.In)
		}
	}
}

func TestLoadStories260K(t *testing.T) {
	dir := datatest.Path(t, "models/stories260K")
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Dim: 64, HiddenDim: 172, Layers: 5, Heads: 8, KVHeads: 4, HeadDim: 8, Vocab: 512, SeqLen: 512,
		NormEps: 1e-5, RopeBase: 10000, TiedClassifier: true}
	if m.Config != want || m.Format != "llama2c" || m.Path != filepath.Join(dir, "stories260K.bin") {
		t.Fatalf("got %+v %s %s", m.Config, m.Format, m.Path)
	}
	if n := weightCount(m); n != 260032 {
		t.Errorf("%d parameters, want 260,032", n)
	}
	if n, ok := m.Config.Params(); !ok || n != 260032 {
		t.Errorf("the config implies %d parameters (%v), want 260,032", n, ok)
	}
	if got := m.Tokenizer.Encode("Once upon a time", true, false); len(got) < 3 || got[0] != 1 {
		t.Errorf("tokenizer gave %v", got)
	}
}

func weightCount(m *Model) int {
	w := &m.Weights
	n := len(w.Embed) + len(w.FinalNorm)
	if !m.Config.TiedClassifier {
		n += len(w.Classifier)
	}
	for _, b := range w.Blocks {
		n += len(b.AttnNorm) + len(b.FFNNorm)
		for _, l := range b.Linears() {
			n += len(l.W)
		}
	}
	return n
}

func TestLlama2CRejects(t *testing.T) {
	good := llama2cBytes(8, 12, 2, 4, 2, 16, 6)
	ak42 := append([]byte("24ka\x01\x00\x00\x00"), good[8:]...)
	header := func(h [7]int32) []byte {
		b := append([]byte(nil), good...)
		for i, v := range h {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
		}
		return b
	}
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"header only", good[:28], "needs exactly"},
		{"truncated", good[:len(good)-4], "needs exactly"},
		{"trailing byte", append(append([]byte(nil), good...), 0), "needs exactly"},
		{"ak42", ak42, `versioned export (magic "ak42", version 1)`},
		{"zero layers", header([7]int32{8, 12, 0, 4, 2, 16, 6}), "n_layers = 0"},
		{"negative dim", header([7]int32{-8, 12, 2, 4, 2, 16, 6}), "dim = -8"},
		{"dim not multiple of heads", header([7]int32{8, 12, 2, 3, 1, 16, 6}), "not a multiple"},
		{"kv heads", header([7]int32{8, 12, 2, 4, 3, 16, 6}), "n_kv_heads 3"},
		{"odd head dim", header([7]int32{12, 12, 2, 4, 2, 16, 6}), "head dim (dim/n_heads) 3"},
		{"overflow", header([7]int32{math.MaxInt32 - 1, math.MaxInt32, math.MaxInt32, 1, 1, math.MaxInt32, 2}), "beyond 2^63"},
		{"separate classifier missing", header([7]int32{8, 12, 2, 4, 2, -16, 6}), "classifier separate"},
	}
	for _, c := range cases {
		_, _, err := readLlama2C(bytes.NewReader(c.file), int64(len(c.file)), "bad.bin")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.bin") {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

func TestLlama2CRealTruncations(t *testing.T) {
	raw, err := os.ReadFile(datatest.Path(t, "models/stories260K/stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 3, 27, 28, 29, 4096, len(raw) / 2, len(raw) - 16385, len(raw) - 1} {
		_, _, err := readLlama2C(bytes.NewReader(raw[:n]), int64(n), "stories260K.bin")
		if err == nil {
			t.Errorf("truncated at %d: accepted", n)
		} else if n >= 28 && !strings.Contains(err.Error(), "needs exactly 1056540") {
			t.Errorf("truncated at %d: %v", n, err)
		}
	}
}

func TestLlama2CMissingVocab(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.bin")
	if err := os.WriteFile(p, llama2cBytes(8, 12, 1, 4, 2, 16, 6), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadLlama2C(p, "")
	if err == nil || !strings.Contains(err.Error(), "tok16.bin") || !strings.Contains(err.Error(), "tokenizer.bin") {
		t.Fatalf("missing vocabulary: %v", err)
	}
}

func FuzzLlama2C(f *testing.F) {
	f.Add(llama2cBytes(8, 12, 2, 4, 2, 16, 6))
	f.Add(llama2cBytes(4, 4, 1, 2, 1, -3, 2))
	f.Add([]byte("24ka\x02\x00\x00\x00"))
	f.Add(make([]byte, 28))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, w, err := readLlama2C(bytes.NewReader(b), int64(len(b)), "fuzz.bin")
		if err != nil {
			return
		}
		if err := checkWeights(&cfg, &w, false); err != nil {
			t.Fatalf("accepted inconsistent weights: %v", err)
		}
	})
}
