package model

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/safetensors"
)

// roundMatrices rounds m's matrices (embedding, classifier, block linears)
// to F16 in place, as SaveGGUF with F16 stores them; the norms stay F32.
func roundMatrices(m *Model) {
	round := func(v []float32) {
		for i, x := range v {
			v[i] = safetensors.HalfToFloat32(safetensors.Float32ToHalf(x))
		}
	}
	round(m.Weights.Embed)
	if !m.Config.TiedClassifier {
		round(m.Weights.Classifier)
	}
	for l := range m.Weights.Blocks {
		for _, lin := range m.Weights.Blocks[l].Linears() {
			round(lin.W)
		}
	}
}

// TestSaveGGUFRoundTrip exports stories260K (llama2.c, tied classifier,
// llama2.c vocabulary) and the tiny Llama-2 GGUF (separate classifier,
// SentencePiece vocabulary) and loads the file back with LoadGGUF: the
// config is the same, every weight is the original's as stored (F32
// exactly, F16 rounded), so the logits are bit for bit those of the
// original with the same rounding, and the vocabulary encodes llama.cpp's
// tokenizer test texts as the original does.
func TestSaveGGUFRoundTrip(t *testing.T) {
	stories := func() (*Model, error) {
		return LoadLlama2C(datatest.Path(t, "models/stories260K/stories260K.bin"), datatest.Path(t, "models/stories260K/tok512.bin"))
	}
	tiny := func() (*Model, error) {
		return LoadGGUF(datatest.Path(t, "models/llama-2-tiny-random/llama-2-tiny-random.gguf"))
	}
	for _, c := range []struct {
		name     string
		load     func() (*Model, error)
		dtype    safetensors.DType
		fileType uint32
		tensors  int
	}{
		{"stories260K F32", stories, safetensors.F32, 0, 2 + 5*9},
		{"stories260K F16", stories, safetensors.F16, 1, 2 + 5*9},
		{"llama-2-tiny-random F16", tiny, safetensors.F16, 1, 3 + 9},
	} {
		t.Run(c.name, func(t *testing.T) {
			src, err := c.load()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "out.gguf")
			if err := SaveGGUF(context.Background(), src, path, c.dtype); err != nil {
				t.Fatal(err)
			}
			got, err := LoadGGUF(path)
			if err != nil {
				t.Fatal(err)
			}
			want, err := c.load()
			if err != nil {
				t.Fatal(err)
			}
			if c.dtype == safetensors.F16 {
				roundMatrices(want)
			}
			sameWeights(t, want, got)
			checkGGUFLayout(t, path, c.dtype, c.fileType, c.tensors)

			for i, text := range vocabTestVectors(t) {
				if a, b := src.Tokenizer.Encode(text, true, false), got.Tokenizer.Encode(text, true, false); !slices.Equal(a, b) {
					t.Errorf("case %d %q: the original encodes %v, the export %v", i, text, a, b)
				}
			}
			tokens := want.Tokenizer.Encode("Once upon a time, there was a little girl named Lily. She loved to play outside "+
				"in the park with her friends, and every day her mom took her to see the big old tree.", true, false)
			// A few windows of different lengths, batched and alone.
			for _, w := range []struct{ nseq, T int }{{1, len(tokens)}, {2, len(tokens) / 2}, {3, 7}} {
				in := tokens[:w.nseq*w.T]
				a, b := windowLogits(t, want, in, w.nseq, w.T), windowLogits(t, got, in, w.nseq, w.T)
				for i := range a {
					if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
						t.Fatalf("%d×%d window, logit %d: %v from the original, %v from the export", w.nseq, w.T, i, a[i], b[i])
					}
				}
			}
		})
	}
}

func windowLogits(t *testing.T, m *Model, tokens []int, nseq, T int) []float32 {
	t.Helper()
	out, err := m.Forward(tokens, nseq, T)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkGGUFLayout parses the written file: its metadata says what
// llama.cpp needs, 1-D tensors are F32 and matrices dtype, a tied
// classifier is absent, and the data ends aligned at the file's end.
func checkGGUFLayout(t *testing.T, path string, dtype safetensors.DType, fileType uint32, tensors int) {
	t.Helper()
	g := parseGGUFFile(t, path)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{
		"general.architecture": "llama", "general.file_type": fileType, "general.alignment": uint32(32),
		"tokenizer.ggml.model": "llama", "tokenizer.ggml.add_bos_token": true,
		"tokenizer.ggml.bos_token_id": uint32(1), "tokenizer.ggml.eos_token_id": uint32(2), "tokenizer.ggml.unknown_token_id": uint32(0),
	} {
		if g.kv[key] != want {
			t.Errorf("%s = %#v, want %#v", key, g.kv[key], want)
		}
	}
	if len(g.tensors) != tensors {
		t.Errorf("%d tensors, want %d", len(g.tensors), tensors)
	}
	matrix := uint32(ggmlF32)
	if dtype == safetensors.F16 {
		matrix = ggmlF16
	}
	end := int64(0)
	for name, ti := range g.tensors {
		want := matrix
		if len(ti.dims) == 1 {
			want = ggmlF32
		}
		if ti.typ != want {
			t.Errorf("%s has ggml type %d, want %d", name, ti.typ, want)
		}
		end = max(end, g.dataStart+ti.offset+ti.bytes)
	}
	if st.Size() != alignUp(end, 32) {
		t.Errorf("file size %d, want the last tensor's end %d padded to 32", st.Size(), end)
	}
}

// TestSaveGGUFPruned exports a streaming model whose blocks were pruned
// (every other weight of each linear zeroed and committed to the spill):
// the export reads each linear from the spill, and the reloaded file has
// exactly those zeros and the other weights unchanged.
func TestSaveGGUFPruned(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	m, err := OpenLlama2C(datatest.Path(t, "models/stories260K/stories260K.bin"), datatest.Path(t, "models/stories260K/tok512.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dense, err := LoadLlama2C(datatest.Path(t, "models/stories260K/stories260K.bin"), datatest.Path(t, "models/stories260K/tok512.bin"))
	if err != nil {
		t.Fatal(err)
	}
	zeroEveryKth(t, m, 2, nil)
	path := filepath.Join(t.TempDir(), "pruned.gguf")
	if err := SaveGGUF(context.Background(), m, path, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	got, err := LoadGGUF(path)
	if err != nil {
		t.Fatal(err)
	}
	for l := range got.Weights.Blocks {
		gl, dl := got.Weights.Blocks[l].Linears(), dense.Weights.Blocks[l].Linears()
		for i := range gl {
			for j, v := range gl[i].W {
				want := dl[i].W[j]
				if j%2 == 0 {
					want = 0
				}
				if math.Float32bits(v) != math.Float32bits(want) {
					t.Fatalf("block %d %s[%d] = %v, want %v", l, LinearNames[i], j, v, want)
				}
			}
		}
	}
}

// TestSaveGGUFRefuses: what cannot be written fails before or while
// writing, and leaves no file, not even a temporary one.
func TestSaveGGUFRefuses(t *testing.T) {
	load := func(t *testing.T) *Model {
		m, err := LoadLlama2C(datatest.Path(t, "models/stories260K/stories260K.bin"), datatest.Path(t, "models/stories260K/tok512.bin"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name  string
		edit  func(m *Model, dir string) string // returns the target
		ctx   context.Context
		dtype safetensors.DType
		want  string
	}{
		{"bf16", nil, nil, safetensors.BF16, "dtype BF16: want F32 or F16"},
		{"directory target", func(_ *Model, dir string) string {
			p := filepath.Join(dir, "d.gguf")
			os.Mkdir(p, 0o755)
			return p
		}, nil, safetensors.F32, "is a directory"},
		{"vocabulary without GGUF form", func(m *Model, _ string) string {
			m.Tokenizer = byteTokenizer{vocab: m.Config.Vocab}
			return ""
		}, nil, safetensors.F32, "byteTokenizer vocabulary cannot be written to GGUF"},
		{"vocabulary smaller than the embedding", func(m *Model, _ string) string {
			m.Config.Vocab++
			m.Weights.Embed = append(m.Weights.Embed, make([]float32, m.Config.Dim)...)
			m.Weights.Classifier = m.Weights.Embed
			return ""
		}, nil, safetensors.F32, "512 tokens but the embedding 513 rows"},
		{"beyond F16", func(m *Model, _ string) string {
			m.Weights.Blocks[2].Up.W[5] = 1e5
			return ""
		}, nil, safetensors.F16, "tensor blk.2.ffn_up.weight: value 5 of 11008 is 100000, beyond F16's range"},
		{"inconsistent model", func(m *Model, _ string) string {
			m.Weights.Blocks = m.Weights.Blocks[:2]
			return ""
		}, nil, safetensors.F32, "2 blocks, want 5"},
		{"cancelled", nil, cancelled, safetensors.F32, "context canceled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := load(t)
			dir := t.TempDir()
			path := filepath.Join(dir, "out.gguf")
			if c.edit != nil {
				if p := c.edit(m, dir); p != "" {
					path = p
				}
			}
			ctx := c.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			err := SaveGGUF(ctx, m, path, c.dtype)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming %s and containing %q", err, path, c.want)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.Name() != filepath.Base(path) || !e.IsDir() {
					t.Errorf("%s left in the target directory", e.Name())
				}
			}
		})
	}
}

// zeroEveryKth "prunes" a streaming model: every k-th weight of every
// linear is zeroed and the block committed; mirror, a whole copy, when
// given, gets the same zeros.
func zeroEveryKth(t *testing.T, m *Model, k int, mirror *Model) {
	t.Helper()
	for l := range m.Weights.Blocks {
		b, release, err := m.Block(l)
		if err != nil {
			t.Fatal(err)
		}
		for i, lin := range b.Linears() {
			for j := 0; j < len(lin.W); j += k {
				lin.W[j] = 0
				if mirror != nil {
					mirror.Weights.Blocks[l].Linears()[i].W[j] = 0
				}
			}
		}
		err = m.CommitBlock(l, b)
		release()
		if err != nil {
			t.Fatal(err)
		}
	}
}
