package model

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

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
	f, size, err := openSized(path)
	if err != nil {
		return nil, fmt.Errorf("llama2.c checkpoint: %w", err)
	}
	defer f.Close()
	cfg, w, err := readLlama2C(f, size, path)
	if err != nil {
		return nil, err
	}
	if vocabPath == "" {
		if vocabPath, err = findLlama2CVocab(path, cfg.Vocab); err != nil {
			return nil, err
		}
	}
	tok, err := tokenizer.LoadLlama2C(vocabPath, cfg.Vocab)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m := &Model{Config: cfg, Weights: w, Path: path, Format: "llama2c"}
	if m.Files, err = absPaths(path, vocabPath); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.vocabFile = m.Files[1]
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
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: llama2.c checkpoint: "+format, append([]any{name}, args...)...)
	}
	if size < llama2cHeaderBytes {
		return Config{}, Weights{}, fail("%d bytes, too short for the 28-byte header", size)
	}
	var hb [llama2cHeaderBytes]byte
	if _, err := r.ReadAt(hb[:], 0); err != nil {
		return Config{}, Weights{}, fail("reading header: %w", err)
	}
	if binary.LittleEndian.Uint32(hb[:]) == llama2cMagic {
		return Config{}, Weights{}, fail("versioned export (magic \"ak42\", version %d) is not supported; "+
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
			return Config{}, Weights{}, fail("header field %s = %d, must be non-zero and positive", fields[i], h[i])
		}
	}
	if dim%heads != 0 {
		return Config{}, Weights{}, fail("dim %d is not a multiple of n_heads %d", dim, heads)
	}
	cfg := Config{
		Dim: int(dim), HiddenDim: int(hidden), Layers: int(layers), Heads: int(heads), KVHeads: int(kvHeads),
		HeadDim: int(dim / heads), Vocab: int(vocab), SeqLen: int(seq),
		NormEps: 1e-5, RopeBase: 10000, TiedClassifier: shared,
	}
	if err := cfg.validate(llama2cKeys); err != nil {
		return Config{}, Weights{}, fail("header: %w", err)
	}
	hd, kv := dim/heads, dim/heads*kvHeads
	// Floats in file order (FORMATS.md §2).
	counts := [][]int64{
		{vocab, dim}, {layers, dim}, {layers, dim, dim}, {layers, kv, dim}, {layers, kv, dim}, {layers, dim, dim},
		{layers, dim}, {layers, hidden, dim}, {layers, dim, hidden}, {layers, hidden, dim}, {dim}, {seq, hd},
	}
	if !shared {
		counts = append(counts, []int64{vocab, dim})
	}
	total := int64(llama2cHeaderBytes)
	for _, c := range counts {
		n, ok := mulChecked(append(c, 4)...)
		if !ok || total > math.MaxInt64-n {
			return Config{}, Weights{}, fail("header %v implies a size beyond 2^63 bytes", h)
		}
		total += n
	}
	if total != size {
		cls := "shared"
		if !shared {
			cls = "separate"
		}
		return Config{}, Weights{}, fail("file is %d bytes but header %v (classifier %s) needs exactly %d", size, h, cls, total)
	}

	br := bufio.NewReaderSize(io.NewSectionReader(r, llama2cHeaderBytes, size-llama2cHeaderBytes), 1<<20)
	var readErr error
	read := func(n int) []float32 {
		if readErr != nil {
			return nil
		}
		out := make([]float32, n)
		if readErr = binary.Read(br, binary.LittleEndian, out); readErr != nil {
			readErr = fail("reading weights: %w", readErr)
		}
		return out
	}
	perLayer := func(n int) [][]float32 {
		out := make([][]float32, layers)
		for l := range out {
			out[l] = read(n)
		}
		return out
	}
	d, ff, kvd := int(dim), int(hidden), int(kv)
	var w Weights
	w.Embed = read(int(vocab) * d)
	attn := perLayer(d)
	wq, wk, wv, wo := perLayer(d*d), perLayer(kvd*d), perLayer(kvd*d), perLayer(d*d)
	ffn := perLayer(d)
	w1, w2, w3 := perLayer(ff*d), perLayer(d*ff), perLayer(ff*d)
	w.FinalNorm = read(d)
	if readErr == nil {
		if _, err := br.Discard(int(seq * hd * 4)); err != nil {
			readErr = fail("skipping RoPE tables: %w", err)
		}
	}
	if shared {
		w.Classifier = w.Embed
	} else {
		w.Classifier = read(int(vocab) * d)
	}
	if readErr != nil {
		return Config{}, Weights{}, readErr
	}
	w.Blocks = make([]Block, layers)
	for l := range w.Blocks {
		w.Blocks[l] = Block{
			AttnNorm: attn[l], FFNNorm: ffn[l],
			Q: Linear{Out: d, In: d, W: wq[l]}, K: Linear{Out: kvd, In: d, W: wk[l]},
			V: Linear{Out: kvd, In: d, W: wv[l]}, O: Linear{Out: d, In: d, W: wo[l]},
			Gate: Linear{Out: ff, In: d, W: w1[l]}, Down: Linear{Out: d, In: ff, W: w2[l]},
			Up: Linear{Out: ff, In: d, W: w3[l]},
		}
	}
	if err := finiteWeights(&w, llama2cTensorName); err != nil {
		return Config{}, Weights{}, fail("%w", err)
	}
	return cfg, w, nil
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
