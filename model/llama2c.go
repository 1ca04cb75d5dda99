package model

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prunebench/prunebench/safetensors"
	"github.com/prunebench/prunebench/tokenizer"
)

// llama2cMagic opens export.py's versioned checkpoints ("ak42" read as a
// little-endian uint32).
const llama2cMagic = 0x616b3432

const llama2cHeaderBytes = 28

// LoadLlama2C reads a legacy llama2.c checkpoint (FORMATS.md §2). vocabPath
// names the llama2.c vocabulary; when empty, tok<V>.bin and then
// tokenizer.bin next to the checkpoint are tried.
func LoadLlama2C(path, vocabPath string) (*Model, error) {
	return loadWhole(OpenLlama2C(path, vocabPath))
}

// OpenLlama2C is LoadLlama2C for a streaming model (see Model.Block).
// Close releases the file.
func OpenLlama2C(path, vocabPath string) (*Model, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, fmt.Errorf("llama2.c checkpoint: %w", err)
	}
	m, err := openLlama2C(f, size, path, vocabPath)
	if err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

func openLlama2C(f *os.File, size int64, path, vocabPath string) (*Model, error) {
	m, err := openLlama2CModel(f, size, path, f)
	if err != nil {
		return nil, err
	}
	if vocabPath == "" {
		if vocabPath, err = findLlama2CVocab(path, m.Config.Vocab); err != nil {
			return nil, err
		}
	}
	tok, err := tokenizer.LoadLlama2C(vocabPath, m.Config.Vocab)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.Path, m.Format = path, "llama2c"
	if m.Files, err = absPaths(path, vocabPath); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.vocabFiles = m.Files[1:2]
	if err := attachTokenizer(m, tok, vocabPath); err != nil {
		return nil, err
	}
	return m, nil
}

// findLlama2CVocab looks for the vocabulary beside a checkpoint.
func findLlama2CVocab(checkpoint string, vocab int) (string, error) {
	dir := filepath.Dir(checkpoint)
	cands := []string{filepath.Join(dir, fmt.Sprintf("tok%d.bin", vocab)), filepath.Join(dir, "tokenizer.bin")}
	for _, c := range cands {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("%s: no llama2.c vocabulary found; looked for %s and %s", checkpoint, cands[0], cands[1])
}

// readLlama2C parses the header and weights from r (size bytes long); name is
// used in errors.
func readLlama2C(r io.ReaderAt, size int64, name string) (Config, Weights, error) {
	m, err := loadWhole(openLlama2CModel(r, size, name, nil))
	if err != nil {
		return Config{}, Weights{}, err
	}
	return m.Config, m.Weights, nil
}

// openLlama2CModel checks the header against the file size and opens a
// streaming model on r (without vocabulary), which closer (if any) releases.
func openLlama2CModel(r io.ReaderAt, size int64, name string, closer io.Closer) (*Model, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: llama2.c checkpoint: "+format, append([]any{name}, args...)...)
	}
	if size < llama2cHeaderBytes {
		return nil, fail("%d bytes, too short for the 28-byte header", size)
	}
	var hb [llama2cHeaderBytes]byte
	if _, err := r.ReadAt(hb[:], 0); err != nil {
		return nil, fail("reading header: %w", err)
	}
	if binary.LittleEndian.Uint32(hb[:]) == llama2cMagic {
		return nil, fail("versioned export (magic \"ak42\", version %d) is not supported; "+
			"re-export with export.py --version 0 (legacy format)", int32(binary.LittleEndian.Uint32(hb[4:])))
	}
	var h [7]int64
	for i := range h {
		h[i] = int64(int32(binary.LittleEndian.Uint32(hb[4*i:])))
	}
	dim, hidden, layers, heads, kvHeads, vocab, seq := h[0], h[1], h[2], h[3], h[4], h[5], h[6]
	shared := vocab > 0
	if vocab < 0 {
		vocab = -vocab
	}
	fields := []string{"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"}
	for i, v := range []int64{dim, hidden, layers, heads, kvHeads, vocab, seq} {
		if v <= 0 {
			return nil, fail("header field %s = %d, must be non-zero and positive", fields[i], h[i])
		}
	}
	if dim%heads != 0 {
		return nil, fail("dim %d is not a multiple of n_heads %d", dim, heads)
	}
	cfg := Config{
		Dim: int(dim), HiddenDim: int(hidden), Layers: int(layers), Heads: int(heads), KVHeads: int(kvHeads),
		HeadDim: int(dim / heads), Vocab: int(vocab), SeqLen: int(seq),
		NormEps: 1e-5, RopeBase: 10000, TiedClassifier: shared,
	}
	if err := cfg.validate(llama2cKeys); err != nil {
		return nil, fail("header: %w", err)
	}
	hd, kv := dim/heads, dim/heads*kvHeads
	// The tensors in file order (FORMATS.md §2): a role (with its size per
	// layer), or the RoPE tables run.c no longer reads.
	type part struct {
		role   string
		perLay bool
		count  []int64
	}
	parts := []part{
		{roleEmbed, false, []int64{vocab, dim}}, {roleAttnNorm, true, []int64{dim}},
		{"q", true, []int64{dim, dim}}, {"k", true, []int64{kv, dim}}, {"v", true, []int64{kv, dim}}, {"o", true, []int64{dim, dim}},
		{roleFFNNorm, true, []int64{dim}}, {"gate", true, []int64{hidden, dim}}, {"down", true, []int64{dim, hidden}},
		{"up", true, []int64{hidden, dim}}, {roleFinalNorm, false, []int64{dim}}, {"", false, []int64{seq, hd}},
	}
	if !shared {
		parts = append(parts, part{roleClassifier, false, []int64{vocab, dim}})
	}
	// Start of each role's first tensor and its per-layer size in bytes.
	start, stride := map[string]int64{}, map[string]int64{}
	total := int64(llama2cHeaderBytes)
	for _, p := range parts {
		one, ok := mulChecked(append(p.count, 4)...)
		n := one
		if p.perLay && ok {
			n, ok = mulChecked(one, layers)
		}
		if !ok || total > math.MaxInt64-n {
			return nil, fail("header %v implies a size beyond 2^63 bytes", h)
		}
		start[p.role], stride[p.role] = total, one
		total += n
	}
	if total != size {
		cls := "shared"
		if !shared {
			cls = "separate"
		}
		return nil, fail("file is %d bytes but header %v (classifier %s) needs exactly %d", size, h, cls, total)
	}
	// Tensor names are llama2cTensorName's: a role's name, with [layer]
	// for per-layer roles. Looked up on every block read, so the names are
	// built once.
	byName := map[string]part{}
	for _, p := range parts {
		if p.role != "" {
			byName[llama2cTensorName(p.role, -1)] = p
		}
	}
	where := func(name string) (off, bytes int64, ok bool) {
		base, idx, indexed := strings.Cut(name, "[")
		p, known := byName[base]
		if !known || indexed != p.perLay {
			return 0, 0, false
		}
		if !indexed {
			return start[p.role], stride[p.role], true
		}
		l, err := strconv.ParseInt(strings.TrimSuffix(idx, "]"), 10, 64)
		if err != nil || !strings.HasSuffix(idx, "]") || l < 0 || l >= layers {
			return 0, 0, false
		}
		return start[p.role] + l*stride[p.role], stride[p.role], true
	}
	tensors := tensorReader{
		check: func(tensor string, shape []int) error {
			_, n, ok := where(tensor)
			want, _ := mulChecked(append(int64s(shape), 4)...)
			if !ok || n != want {
				return fail("no tensor %s of shape %v", tensor, shape)
			}
			return nil
		},
		read: func(tensor string, dst []float32) error {
			off, n, ok := where(tensor)
			if !ok || n != 4*int64(len(dst)) {
				return fail("no tensor %s of %d values", tensor, len(dst))
			}
			if err := safetensors.ReadFloat32At(r, off, safetensors.F32, dst); err != nil {
				return fail("reading weights: %w", err)
			}
			return nil
		},
	}
	m, err := openStreaming(cfg, tensors, llama2cTensorName, false, nil, closer)
	if err != nil {
		return nil, fail("%w", err)
	}
	return m, nil
}

func int64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// llama2cTensorName names a tensor as run.c's TransformerWeights does.
func llama2cTensorName(role string, layer int) string {
	n := map[string]string{
		roleEmbed: "token_embedding_table", roleFinalNorm: "rms_final_weight", roleClassifier: "wcls",
		roleAttnNorm: "rms_att_weight", roleFFNNorm: "rms_ffn_weight",
		"q": "wq", "k": "wk", "v": "wv", "o": "wo", "gate": "w1", "down": "w2", "up": "w3",
	}[role]
	if layer < 0 {
		return n
	}
	return fmt.Sprintf("%s[%d]", n, layer)
}
