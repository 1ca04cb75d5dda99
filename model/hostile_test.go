package model

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/internal/memtest"
	"github.com/prunebench/prunebench/safetensors"
)

// hostileAllocLimit is what refusing a hostile header may cost: the small
// test files themselves and their parsed headers, never what they declare.
const hostileAllocLimit = 4 << 20

// checkRefused fails unless err names every word in want, and unless the
// refusal stayed within hostileAllocLimit.
func checkRefused(t *testing.T, err error, alloc uint64, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want an error saying %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%v\ndoes not say %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "%!") {
		t.Errorf("formatting artefact in %v", err)
	}
	if alloc > hostileAllocLimit {
		t.Errorf("allocated %d bytes refusing it", alloc)
	}
}

// ggufInfoOffsetAt is the byte position of the data offset in the info of
// tensor name, so a test can move a tensor.
func ggufInfoOffsetAt(t *testing.T, b []byte, name string) int {
	t.Helper()
	key := binary.LittleEndian.AppendUint64(nil, uint64(len(name)))
	i := bytes.Index(b, append(key, name...))
	if i < 0 {
		t.Fatalf("no tensor info for %q", name)
	}
	i += len(key) + len(name)
	nd := int(binary.LittleEndian.Uint32(b[i:]))
	return i + 4 + 8*nd + 4
}

func ggufMoved(t *testing.T, name string, off uint64) []byte {
	b := tinyGGUF(false).bytes()
	binary.LittleEndian.PutUint64(b[ggufInfoOffsetAt(t, b, name):], off)
	return b
}

// rawArray encodes a GGUF array value header claiming n elements of type elem.
func rawArray(elem uint32, n uint64) []byte {
	b := binary.LittleEndian.AppendUint32(nil, ggufArray)
	b = binary.LittleEndian.AppendUint32(b, elem)
	return binary.LittleEndian.AppendUint64(b, n)
}

func TestGGUFHostile(t *testing.T) {
	hugeString := binary.LittleEndian.AppendUint32(nil, ggufString)
	hugeString = binary.LittleEndian.AppendUint64(hugeString, 1<<50)
	hugeDims := tinyGGUF(false)
	hugeDims.tensor("huge", ggmlF32, 0, 1<<32, 1<<32)
	upOff := func(t *testing.T) uint64 {
		b := tinyGGUF(false).bytes()
		return binary.LittleEndian.Uint64(b[ggufInfoOffsetAt(t, b, "blk.0.ffn_up.weight"):])
	}(t)
	cases := []struct {
		name string
		file func(t *testing.T) []byte
		want []string
	}{
		{"huge block count", func(*testing.T) []byte {
			return tinyGGUFWith(false, map[string]any{"llama.block_count": uint32(1_000_000_000)}).bytes()
		}, []string{"llama.block_count = 1000000000", "needs 9000000000 block tensors", "holds only 12"}},
		{"huge widths", func(*testing.T) []byte {
			return tinyGGUFWith(false, map[string]any{"llama.feed_forward_length": uint32(1 << 30)}).bytes()
		}, []string{"feed_forward_length", "parameters", "tensor data holds only"}},
		{"huge vocabulary count", func(*testing.T) []byte {
			return tinyGGUFWith(false, map[string]any{"tokenizer.ggml.tokens": rawArray(ggufString, 1<<40)}).bytes()
		}, []string{"tokenizer.ggml.tokens", "array of 1099511627776 elements cannot fit"}},
		{"huge score count", func(*testing.T) []byte {
			return tinyGGUFWith(false, map[string]any{"tokenizer.ggml.scores": rawArray(ggufF32, 1<<62)}).bytes()
		}, []string{"tokenizer.ggml.scores", "cannot fit"}},
		{"huge string length", func(*testing.T) []byte {
			return tinyGGUFWith(false, map[string]any{"tokenizer.ggml.model": hugeString}).bytes()
		}, []string{`metadata key "tokenizer.ggml.model" length 1125899906842624 exceeds`}},
		{"huge tensor dims", func(*testing.T) []byte { return hugeDims.bytes() }, []string{`"huge"`}},
		{"overlapping tensors", func(t *testing.T) []byte { return ggufMoved(t, "blk.0.ffn_up.weight", upOff-32) },
			[]string{`tensor "blk.0.ffn_up.weight"`, "overlaps"}},
		{"gap between tensors", func(t *testing.T) []byte { return ggufMoved(t, "blk.0.ffn_up.weight", upOff+32) },
			[]string{`tensor "blk.0.ffn_up.weight"`, fmt.Sprintf("starts at data offset %d, want %d", upOff+32, upOff), "belong to no tensor"}},
		{"trailing bytes", func(*testing.T) []byte { return append(tinyGGUF(false).bytes(), make([]byte, 64)...) },
			[]string{"64 bytes follow tensor", "alignment padding"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.file(t)
			var err error
			alloc := memtest.Allocated(func() { _, err = readGGUFModel(bytes.NewReader(b), int64(len(b)), "hostile.gguf") })
			checkRefused(t, err, alloc, append(c.want, "hostile.gguf")...)
		})
	}
	// Padding up to the alignment after the last tensor is what ggml
	// writes, and a context of 10⁹ positions costs nothing until used.
	b := append(tinyGGUFWith(false, map[string]any{"llama.context_length": uint32(1_000_000_000)}).bytes(), make([]byte, 31)...)
	if m, err := readGGUFModel(bytes.NewReader(b), int64(len(b)), "padded.gguf"); err != nil || m.Config.SeqLen != 1_000_000_000 {
		t.Errorf("trailing alignment padding: %v", err)
	}
}

func TestLlama2CHostile(t *testing.T) {
	for _, c := range []struct {
		name   string
		header [7]int32
		want   string
	}{
		{"huge layer count", [7]int32{8, 12, 1 << 30, 4, 2, 16, 6}, "needs exactly"},
		{"huge context", [7]int32{8, 12, 2, 4, 2, 16, 1 << 30}, "needs exactly"},
		{"huge vocabulary", [7]int32{8, 12, 2, 4, 2, -(1 << 30), 6}, "needs exactly"},
		{"huge width", [7]int32{1 << 30, 12, 2, 4, 2, 16, 6}, "implies a size beyond 2^63 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := llama2cBytes(8, 12, 2, 4, 2, 16, 6)
			for i, v := range c.header {
				binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
			}
			var err error
			alloc := memtest.Allocated(func() { _, _, err = readLlama2C(bytes.NewReader(b), int64(len(b)), "hostile.bin") })
			checkRefused(t, err, alloc, "hostile.bin", c.want)
		})
	}
}

func TestHFHostile(t *testing.T) {
	embed := func(w *safetensors.Writer) {
		if err := w.AddFloat32("model.embed_tokens.weight", []int{512, 64}, make([]float32, 512*64), safetensors.F32); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		edit func(dir string, cfg map[string]any)
		want []string
	}{
		{"huge layer count", func(_ string, cfg map[string]any) { cfg["num_hidden_layers"] = 1_000_000_000 },
			[]string{"config.json: num_hidden_layers = 1000000000 needs 9000000000 block tensors", "holds only 47"}},
		{"layer count beyond int32", func(_ string, cfg map[string]any) { cfg["num_hidden_layers"] = 1 << 40 },
			[]string{"config.json", "layers 1099511627776: must be at most 2147483647"}},
		{"huge widths", func(_ string, cfg map[string]any) { cfg["intermediate_size"] = 1 << 30 },
			[]string{"config.json", "intermediate_size", "parameters", "holds only"}},
		{"huge vocabulary", func(_ string, cfg map[string]any) { cfg["vocab_size"] = 1 << 30 },
			[]string{"config.json", "vocab_size", "parameters"}},
		{"huge config.json", func(dir string, _ map[string]any) {}, []string{"config.json", "limit"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := editHF(t, func(dir string, cfg map[string]any, w *safetensors.Writer) {
				embed(w)
				c.edit(dir, cfg)
			})
			if c.name == "huge config.json" {
				p := filepath.Join(dir, "config.json")
				raw, _ := os.ReadFile(p)
				if err := os.WriteFile(p, append(raw, bytes.Repeat([]byte(" "), maxConfigBytes)...), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			alloc := memtest.Allocated(func() { _, err = LoadHF(dir) })
			checkRefused(t, err, alloc, c.want...)
		})
	}
	// A context of 10⁸ positions loads, and a short forward stays cheap.
	dir := editHF(t, func(_ string, cfg map[string]any, w *safetensors.Writer) {
		embed(w)
		cfg["max_position_embeddings"] = 100_000_000
	})
	m, err := LoadHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	if alloc := memtest.Allocated(func() { _, err = m.Forward(make([]int, 64), 1, 64) }); err != nil || alloc > 16<<20 {
		t.Errorf("64-token forward with a 10⁸ context: %v, %d bytes", err, alloc)
	}
}

// TestNonFiniteWeights checks that a NaN or infinite weight in any tensor is
// refused with the tensor's name in the format's spelling, for every format
// the loaders read.
func TestNonFiniteWeights(t *testing.T) {
	cfg := synthConfig()
	cfg.TiedClassifier = false
	for _, c := range []struct {
		name  string
		poke  func(w *Weights) // plants the bad value
		names namer
		want  string
	}{
		{"embed NaN, HF", func(w *Weights) { w.Embed[5] = float32(math.NaN()) }, hfTensorName, "model.embed_tokens.weight"},
		{"classifier +Inf, GGUF", func(w *Weights) { w.Classifier[0] = float32(math.Inf(1)) }, ggufTensorName, "output.weight"},
		{"down -Inf, llama2.c", func(w *Weights) { w.Blocks[1].Down.W[7] = float32(math.Inf(-1)) }, llama2cTensorName, "w2[1]"},
		{"ffn norm NaN, HF", func(w *Weights) { w.Blocks[0].FFNNorm[2] = float32(math.NaN()) }, hfTensorName, "model.layers.0.post_attention_layernorm.weight"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := randomModel(cfg, 1)
			if err := finiteWeights(&m.Weights, c.names); err != nil {
				t.Fatalf("finite weights refused: %v", err)
			}
			c.poke(&m.Weights)
			err := finiteWeights(&m.Weights, c.names)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "finite") {
				t.Errorf("got %v, want an error naming %s", err, c.want)
			}
		})
	}
}
