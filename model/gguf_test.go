package model

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
)

// ggufBuilder assembles small GGUF files for tests.
type ggufBuilder struct {
	kv      bytes.Buffer
	nKV     int
	infos   bytes.Buffer
	data    bytes.Buffer
	nTensor int
}

func (g *ggufBuilder) str(b *bytes.Buffer, s string) {
	binary.Write(b, binary.LittleEndian, uint64(len(s)))
	b.WriteString(s)
}

// add writes a key with a value: uint32, float32, string, bool, []string,
// []float32 or []int32.
func (g *ggufBuilder) add(key string, v any) *ggufBuilder {
	g.nKV++
	g.str(&g.kv, key)
	le := binary.LittleEndian
	switch x := v.(type) {
	case uint32:
		binary.Write(&g.kv, le, uint32(ggufU32))
		binary.Write(&g.kv, le, x)
	case float32:
		binary.Write(&g.kv, le, uint32(ggufF32))
		binary.Write(&g.kv, le, x)
	case bool:
		binary.Write(&g.kv, le, uint32(ggufBool))
		binary.Write(&g.kv, le, x)
	case string:
		binary.Write(&g.kv, le, uint32(ggufString))
		g.str(&g.kv, x)
	case []string:
		binary.Write(&g.kv, le, [2]uint32{ggufArray, ggufString})
		binary.Write(&g.kv, le, uint64(len(x)))
		for _, s := range x {
			g.str(&g.kv, s)
		}
	case []float32:
		binary.Write(&g.kv, le, [2]uint32{ggufArray, ggufF32})
		binary.Write(&g.kv, le, uint64(len(x)))
		binary.Write(&g.kv, le, x)
	case []int32:
		binary.Write(&g.kv, le, [2]uint32{ggufArray, ggufI32})
		binary.Write(&g.kv, le, uint64(len(x)))
		binary.Write(&g.kv, le, x)
	case []byte: // a raw value: its type id and encoding, for hostile files
		g.kv.Write(x)
	default:
		panic("ggufBuilder: unsupported value type")
	}
	return g
}

// tensor adds an F32 tensor (dims innermost first) filled with start, start+1, ….
func (g *ggufBuilder) tensor(name string, typ uint32, start float32, dims ...uint64) *ggufBuilder {
	g.nTensor++
	g.str(&g.infos, name)
	le := binary.LittleEndian
	binary.Write(&g.infos, le, uint32(len(dims)))
	binary.Write(&g.infos, le, dims)
	binary.Write(&g.infos, le, typ)
	for g.data.Len()%32 != 0 {
		g.data.WriteByte(0)
	}
	binary.Write(&g.infos, le, uint64(g.data.Len()))
	n := uint64(1)
	for _, d := range dims {
		n *= d
	}
	for i := uint64(0); i < n; i++ {
		if typ == ggmlF32 {
			binary.Write(&g.data, le, start+float32(i))
		} else {
			g.data.WriteByte(byte(i)) // any bytes: other types are refused before reading
		}
	}
	return g
}

func (g *ggufBuilder) bytes() []byte {
	var b bytes.Buffer
	b.WriteString("GGUF")
	le := binary.LittleEndian
	binary.Write(&b, le, uint32(3))
	binary.Write(&b, le, uint64(g.nTensor))
	binary.Write(&b, le, uint64(g.nKV))
	b.Write(g.kv.Bytes())
	b.Write(g.infos.Bytes())
	for b.Len()%32 != 0 {
		b.WriteByte(0)
	}
	b.Write(g.data.Bytes())
	return b.Bytes()
}

// tinyGGUF is a complete 1-layer model: d 4, ff 6, 2 heads of 2, vocab 5.
func tinyGGUF(tied bool) *ggufBuilder { return tinyGGUFWith(tied, nil) }

// tinyGGUFWith is tinyGGUF with some metadata values replaced, or left out
// where the replacement is nil.
func tinyGGUFWith(tied bool, over map[string]any) *ggufBuilder {
	g := &ggufBuilder{}
	for _, kv := range []struct {
		key string
		v   any
	}{
		{"general.architecture", "llama"},
		{"llama.context_length", uint32(16)},
		{"llama.embedding_length", uint32(4)},
		{"llama.block_count", uint32(1)},
		{"llama.feed_forward_length", uint32(6)},
		{"llama.attention.head_count", uint32(2)},
		{"llama.attention.layer_norm_rms_epsilon", float32(1e-6)},
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", []string{"<unk>", "<s>", "</s>", "▁a", "a"}},
		{"tokenizer.ggml.scores", []float32{0, 0, 0, -1, -2}},
		{"tokenizer.ggml.token_type", []int32{2, 3, 3, 1, 1}},
	} {
		if v, ok := over[kv.key]; ok {
			if v == nil {
				continue
			}
			kv.v = v
		}
		g.add(kv.key, kv.v)
	}
	g.tensor("token_embd.weight", ggmlF32, 0, 4, 5).
		tensor("blk.0.attn_norm.weight", ggmlF32, 100, 4).
		tensor("blk.0.attn_q.weight", ggmlF32, 200, 4, 4).
		tensor("blk.0.attn_k.weight", ggmlF32, 300, 4, 4).
		tensor("blk.0.attn_v.weight", ggmlF32, 400, 4, 4).
		tensor("blk.0.attn_output.weight", ggmlF32, 500, 4, 4).
		tensor("blk.0.ffn_norm.weight", ggmlF32, 600, 4).
		tensor("blk.0.ffn_gate.weight", ggmlF32, 700, 4, 6).
		tensor("blk.0.ffn_up.weight", ggmlF32, 800, 4, 6).
		tensor("blk.0.ffn_down.weight", ggmlF32, 900, 6, 4).
		tensor("output_norm.weight", ggmlF32, 1000, 4)
	if !tied {
		g.tensor("output.weight", ggmlF32, 1100, 4, 5)
	}
	return g
}

func TestGGUFSynthetic(t *testing.T) {
	for _, tied := range []bool{true, false} {
		b := tinyGGUF(tied).bytes()
		m, err := readGGUFModel(bytes.NewReader(b), int64(len(b)), "tiny.gguf")
		if err != nil {
			t.Fatal(err)
		}
		want := Config{Dim: 4, HiddenDim: 6, Layers: 1, Heads: 2, KVHeads: 2, HeadDim: 2, Vocab: 5, SeqLen: 16,
			NormEps: 1e-6, RopeBase: 10000, TiedClassifier: tied}
		if m.Config != want {
			t.Fatalf("config %+v, want %+v", m.Config, want)
		}
		blk := m.Weights.Blocks[0]
		// GGUF [4, 6] is 6 rows of 4: row 1 of gate starts at element 4.
		if blk.Gate.Out != 6 || blk.Gate.In != 4 || blk.Gate.W[4] != 704 || blk.Down.Out != 4 || blk.Down.In != 6 {
			t.Errorf("gate %dx%d %v, down %dx%d", blk.Gate.Out, blk.Gate.In, blk.Gate.W[:5], blk.Down.Out, blk.Down.In)
		}
		if got := m.Weights.Classifier[0]; (tied && got != 0) || (!tied && got != 1100) {
			t.Errorf("tied=%v: classifier starts with %v", tied, got)
		}
		if got := m.Tokenizer.Encode("a", true, true); len(got) != 3 || got[1] != 3 {
			t.Errorf("embedded vocabulary encodes \"a\" as %v", got)
		}
	}
}

func TestGGUFRejects(t *testing.T) {
	good := tinyGGUF(false).bytes()
	patch := func(off int, b ...byte) []byte {
		out := append([]byte(nil), good...)
		copy(out[off:], b)
		return out
	}
	quant := &ggufBuilder{}
	quant.add("general.architecture", "llama").tensor("blk.0.attn_q.weight", 2, 0, 32, 4)
	extra := tinyGGUF(false)
	extra.tensor("blk.0.attn_q.bias", ggmlF32, 0, 4)
	noEps := &ggufBuilder{}
	noEps.add("general.architecture", "llama")
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"magic", patch(0, 'G', 'G', 'M', 'L'), "not a GGUF file"},
		{"big-endian", patch(4, 0, 0, 0, 3), "big-endian"},
		{"v1", patch(4, 1, 0, 0, 0), "version 1"},
		{"huge counts", patch(8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), "cannot fit"},
		{"Q4_0", quant.bytes(), "type Q4_0"},
		{"unknown tensor", extra.bytes(), `unexpected tensor "blk.0.attn_q.bias" for a 1-layer LLaMA`},
		{"missing key", noEps.bytes(), "missing metadata key llama.context_length"},
		{"truncated data", good[:len(good)-1], "runs past the end"},
	}
	for _, n := range []int{0, 3, 7, 23, 30, 100, 700, 1000} {
		cases = append(cases, struct {
			name string
			file []byte
			want string
		}{"truncated at " + strconv.Itoa(n), good[:n], "tiny.gguf"})
	}
	for _, c := range cases {
		_, err := readGGUFModel(bytes.NewReader(c.file), int64(len(c.file)), "tiny.gguf")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "tiny.gguf") {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

// parseGGUFFile parses the header of the GGUF file at path; the file is
// closed at the end of the test.
func parseGGUFFile(t *testing.T, path string) *ggufFile {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	g, err := parseGGUF(fh, st.Size(), path)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestLoadGGUFTinyRandom(t *testing.T) {
	path := datatest.Path(t, "models/llama-2-tiny-random/llama-2-tiny-random.gguf")
	g := parseGGUFFile(t, path)
	if len(g.tensors) != 12 || len(g.kv) != 18 || g.dataStart != 724416 {
		t.Errorf("%d tensors, %d KVs, data at %d; want 12, 18, 724416", len(g.tensors), len(g.kv), g.dataStart)
	}
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Dim: 8, HiddenDim: 32, Layers: 1, Heads: 2, KVHeads: 2, HeadDim: 4, Vocab: 32000, SeqLen: 4096,
		NormEps: 1e-5, RopeBase: 10000, TiedClassifier: false}
	if m.Config != want || m.Format != "gguf" {
		t.Fatalf("config %+v (%s), want %+v", m.Config, m.Format, want)
	}
	inp, err := os.ReadFile(datatest.Path(t, "tokenizers/llama2/vocab-test.inp"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(datatest.Path(t, "tokenizers/llama2/vocab-test.out"))
	if err != nil {
		t.Fatal(err)
	}
	cases := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	if cases[len(cases)-1] != "" {
		t.Fatalf("vocab-test.inp does not end with the separator")
	}
	cases = cases[:len(cases)-1]
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(cases) != 46 || len(lines) != 46 {
		t.Fatalf("%d cases, %d expected lines; want 46", len(cases), len(lines))
	}
	for i, text := range cases {
		var got strings.Builder
		for _, id := range m.Tokenizer.Encode(text, false, false) {
			got.WriteString(" " + strconv.Itoa(id))
		}
		if got.String() != lines[i] {
			t.Errorf("case %d %q: got %q, want %q", i, text, got.String(), lines[i])
		}
	}
}

func FuzzGGUF(f *testing.F) {
	f.Add(tinyGGUF(true).bytes())
	f.Add(tinyGGUF(false).bytes())
	q := &ggufBuilder{}
	f.Add(q.add("general.alignment", uint32(64)).add("b", true).tensor("x", ggmlF32, 0, 2).bytes())
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	// The families' files: rope_freqs.weight, sliding window, qwen2
	// biases, qwen3 norms and key_length.
	for i := range families {
		f.Add(familyGGUF(f, &families[i], func(kvs []ggufKV, ts []ggufOut) ([]ggufKV, []ggufOut) { return kvs, ts }))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := readGGUFModel(bytes.NewReader(b), int64(len(b)), "fuzz.gguf")
		if err != nil {
			return
		}
		if err := m.checkWeights(); err != nil {
			t.Fatalf("accepted inconsistent weights: %v", err)
		}
		if math.IsNaN(m.Config.NormEps) {
			t.Fatal("NaN eps accepted")
		}
	})
}
