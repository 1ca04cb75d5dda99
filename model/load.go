package model

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/prunebench/prunebench/tokenizer"
)

// Load reads a checkpoint whole: a .gguf file, a llama2.c .bin file, or a
// directory. A directory with config.json is a Hugging Face checkpoint;
// otherwise it must hold exactly one .gguf or .bin checkpoint (vocabulary
// files such as tok512.bin and tokenizer.bin do not count), so that
// models/stories260K/ works. Every weight is float32 in memory afterwards.
func Load(path string) (*Model, error) { return loadWhole(Open(path)) }

// Open is Load for a streaming model: it reads the header, the embedding,
// the classifier and the norms, checks every tensor's name and shape, and
// leaves the block linears in the file until Block reads them. Close
// releases the files and the spill of pruned blocks.
func Open(path string) (*Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	if !st.IsDir() {
		return openFile(path)
	}
	if _, err := os.Stat(filepath.Join(path, "config.json")); err == nil {
		return OpenHF(path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	var cands []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || isVocabFile(n) {
			continue
		}
		if strings.HasSuffix(n, ".gguf") || strings.HasSuffix(n, ".bin") {
			cands = append(cands, filepath.Join(path, n))
		}
	}
	switch len(cands) {
	case 0:
		return nil, fmt.Errorf("%s: no config.json and no .gguf or .bin checkpoint in the directory", path)
	case 1:
		return openFile(cands[0])
	}
	return nil, fmt.Errorf("%s: several checkpoints %q; name one file", path, cands)
}

// loadWhole reads every block of a model just opened and closes its files.
func loadWhole(m *Model, err error) (*Model, error) {
	if err != nil {
		return nil, err
	}
	if err := m.materialize(); err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: %w", m.Path, err)
	}
	return m, nil
}

var vocabFileRE = regexp.MustCompile(`^(tok[0-9]+|tokenizer)\.bin$`)

func isVocabFile(name string) bool { return vocabFileRE.MatchString(name) }

func openFile(path string) (*Model, error) {
	switch filepath.Ext(path) {
	case ".safetensors", ".json":
		return nil, fmt.Errorf("%s is part of a Hugging Face checkpoint: load its directory", path)
	case ".gguf":
		return OpenGGUF(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	f.Close()
	if err == nil && string(magic[:]) == ggufMagic {
		return OpenGGUF(path)
	}
	return OpenLlama2C(path, "")
}

// Tensor roles, the format-independent names used to build Weights.
const (
	roleEmbed      = "embed"
	roleFinalNorm  = "final_norm"
	roleClassifier = "classifier"
	roleAttnNorm   = "attn_norm"
	roleFFNNorm    = "ffn_norm"
	roleQBias      = "q_bias"
	roleKBias      = "k_bias"
	roleVBias      = "v_bias"
	roleQNorm      = "q_norm"
	roleKNorm      = "k_norm"
	// roleRopeFreqs is GGUF's rope_freqs.weight, one tensor for all blocks.
	roleRopeFreqs = "rope_freqs"
)

// blockMatrixRoles are the 7 linears, in Block.Linears order.
var blockMatrixRoles = [7]string{"q", "k", "v", "o", "gate", "up", "down"}

// namer maps a role (and layer, for block tensors) to a tensor name.
type namer func(role string, layer int) string

// matrixShape is the [out, in] shape of each block linear.
func matrixShape(c *Config, role string) []int {
	switch role {
	case "q":
		return []int{c.QDim(), c.Dim}
	case "k", "v":
		return []int{c.KVDim(), c.Dim}
	case "o":
		return []int{c.Dim, c.QDim()}
	case "gate", "up":
		return []int{c.HiddenDim, c.Dim}
	}
	return []int{c.Dim, c.HiddenDim} // down
}

// headerFields names, in a checkpoint format's own words, the fields that
// set the number of blocks and the shapes, for errors.
type headerFields struct {
	layers, shapes string
}

// checkFits bounds a config read from a header by the checkpoint that claims
// it, before any tensor name list or weight is built from it: every block
// needs 9 tensors, and every parameter at least minBytes bytes of tensor
// data. Without it a header declaring 10⁹ layers would have the loader build
// 9·10⁹ names before finding the first one missing. The bounds are loose on
// purpose: a checkpoint short of a tensor or two passes, so that the loader
// can name the missing tensor.
func checkFits(c *Config, f headerFields, tensors int, dataBytes, minBytes int64) error {
	if need := 9 * int64(c.Layers); int64(tensors) < need { // Layers ≤ maxDimension: no overflow
		return fmt.Errorf("%s = %d needs %d block tensors, but the checkpoint holds only %d tensors", f.layers, c.Layers, need, tensors)
	}
	params, ok := c.Params()
	if bytes, ok2 := mulChecked(params, minBytes); !ok || !ok2 || bytes > dataBytes {
		return fmt.Errorf("%s imply %s parameters (at least %d bytes each), but the tensor data holds only %d bytes",
			f.shapes, paramString(params, ok), minBytes, dataBytes)
	}
	return nil
}

// Params is the number of parameters the config implies, or false when it
// overflows int64 (a hostile header).
func (c *Config) Params() (int64, bool) {
	d, qd, kvd, ff := int64(c.Dim), int64(c.QDim()), int64(c.KVDim()), int64(c.HiddenDim)
	heads := int64(1)
	if !c.TiedClassifier {
		heads = 2
	}
	terms := [][]int64{
		{heads, int64(c.Vocab), d}, {d}, // embedding (and classifier), final norm
		{int64(c.Layers), 2, qd, d}, {int64(c.Layers), 2, kvd, d}, {int64(c.Layers), 3, ff, d},
	}
	// Per block: norms, biases, q/k norms. A hostile QDim is near 2⁶² on
	// its own, so each is a term of its own, summed with the overflow check.
	for _, role := range blockVectorRoles {
		terms = append(terms, []int64{int64(c.Layers), int64(vectorLen(c, role))})
	}
	var total int64
	for _, t := range terms {
		n, ok := mulChecked(t...)
		if !ok || total > math.MaxInt64-n {
			return 0, false
		}
		total += n
	}
	return total, true
}

func paramString(n int64, ok bool) string {
	if !ok {
		return "more than 2^63"
	}
	return fmt.Sprint(n)
}

// expectedNames lists every tensor a checkpoint with this config holds; the
// config must have passed checkFits.
func expectedNames(c *Config, name namer) map[string]bool {
	want := map[string]bool{name(roleEmbed, -1): true, name(roleFinalNorm, -1): true}
	if !c.TiedClassifier {
		want[name(roleClassifier, -1)] = true
	}
	for l := 0; l < c.Layers; l++ {
		for _, r := range blockVectorRoles {
			if vectorLen(c, r) > 0 {
				want[name(r, l)] = true
			}
		}
		for _, r := range blockMatrixRoles {
			want[name(r, l)] = true
		}
	}
	return want
}

// buildWeights reads every tensor of the config; with streaming, the
// block linears are only checked and get their shapes, not their weights.
// The RoPE divisors come from c.RopeScaling, or are ropeFreqs (from the
// file) when that is not nil.
func buildWeights(c *Config, r tensorReader, name namer, streaming bool, ropeFreqs []float32) (Weights, error) {
	var w Weights
	var err error
	if w.Embed, err = r.fetch(name(roleEmbed, -1), []int{c.Vocab, c.Dim}); err != nil {
		return w, err
	}
	if ropeFreqs == nil {
		ropeFreqs = c.RopeScaling.Freqs(c.HeadDim, c.RopeBase)
	}
	w.Blocks = make([]Block, c.Layers)
	for l := range w.Blocks {
		b := &w.Blocks[l]
		b.RopeFreqs = ropeFreqs
		for i, v := range b.vectors() {
			role := blockVectorRoles[i]
			if n := vectorLen(c, role); n > 0 {
				if *v, err = r.fetch(name(role, l), []int{n}); err != nil {
					return w, err
				}
			}
		}
		for i, lin := range b.Linears() {
			role := blockMatrixRoles[i]
			shape := matrixShape(c, role)
			lin.Out, lin.In = shape[0], shape[1]
			if streaming {
				err = r.check(name(role, l), shape)
			} else {
				lin.W, err = r.fetch(name(role, l), shape)
			}
			if err != nil {
				return w, err
			}
		}
	}
	if w.FinalNorm, err = r.fetch(name(roleFinalNorm, -1), []int{c.Dim}); err != nil {
		return w, err
	}
	if c.TiedClassifier {
		w.Classifier = w.Embed
	} else if w.Classifier, err = r.fetch(name(roleClassifier, -1), []int{c.Vocab, c.Dim}); err != nil {
		return w, err
	}
	return w, nil
}

// finiteWeights refuses a NaN or infinite weight, naming its tensor and
// index: it would otherwise surface as a NaN perplexity or a failed
// factorisation far from its cause. Linears not read yet (streaming) are
// checked when their block is read.
func finiteWeights(w *Weights, name namer) error {
	errs := []error{finiteTensor(name(roleEmbed, -1), w.Embed), finiteTensor(name(roleFinalNorm, -1), w.FinalNorm)}
	if len(w.Classifier) == 0 || len(w.Embed) == 0 || &w.Classifier[0] != &w.Embed[0] {
		errs = append(errs, finiteTensor(name(roleClassifier, -1), w.Classifier))
	}
	for l := range w.Blocks {
		b := &w.Blocks[l]
		for i, v := range b.vectors() {
			errs = append(errs, finiteTensor(name(blockVectorRoles[i], l), *v))
		}
		for i, lin := range b.Linears() {
			errs = append(errs, finiteTensor(name(blockMatrixRoles[i], l), lin.W))
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkWeights verifies that every weight has the size the config implies,
// so that a hand-built or pruned Model cannot be saved inconsistently. The
// linears of a streaming model are left to its reader, which sizes them.
func (m *Model) checkWeights() error { return checkWeights(&m.Config, &m.Weights, m.store != nil) }

func checkWeights(c *Config, w *Weights, streaming bool) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	vec := func(what string, v []float32, n int) error {
		if len(v) != n {
			return fmt.Errorf("%s has %d values, want %d", what, len(v), n)
		}
		return nil
	}
	if err := vec("embedding", w.Embed, c.Vocab*c.Dim); err != nil {
		return err
	}
	if err := vec("classifier", w.Classifier, c.Vocab*c.Dim); err != nil {
		return err
	}
	if err := vec("final norm", w.FinalNorm, c.Dim); err != nil {
		return err
	}
	if len(w.Blocks) != c.Layers {
		return fmt.Errorf("%d blocks, want %d", len(w.Blocks), c.Layers)
	}
	freqs := c.RopeScaling.Freqs(c.HeadDim, c.RopeBase)
	for l := range w.Blocks {
		b := &w.Blocks[l]
		for i, v := range b.vectors() {
			role := blockVectorRoles[i]
			if err := vec(fmt.Sprintf("block %d %s", l, role), *v, vectorLen(c, role)); err != nil {
				return err
			}
		}
		// RopeFreqs from a GGUF file has no RopeScaling to agree with; one
		// that contradicts the config's would rotate by other angles than
		// the copy SaveHF writes.
		switch {
		case b.RopeFreqs != nil && !c.ScalableRoPE():
			return fmt.Errorf("block %d has RoPE divisors, which %s does not", l, archName(c))
		case b.RopeFreqs != nil && len(b.RopeFreqs) != c.HeadDim/2:
			return fmt.Errorf("block %d RoPE divisors: %d values, want head dim/2 = %d", l, len(b.RopeFreqs), c.HeadDim/2)
		case freqs != nil && !slices.Equal(b.RopeFreqs, freqs):
			return fmt.Errorf("block %d RoPE divisors differ from those of the config's rope scaling %+v", l, c.RopeScaling)
		case !slices.Equal(b.RopeFreqs, w.Blocks[0].RopeFreqs):
			// GGUF has one rope_freqs.weight for all blocks.
			return fmt.Errorf("block %d RoPE divisors differ from block 0's", l)
		}
		for i, lin := range b.Linears() {
			s := matrixShape(c, blockMatrixRoles[i])
			if lin.Out != s[0] || lin.In != s[1] || (!streaming && len(lin.W) != s[0]*s[1]) {
				return fmt.Errorf("block %d %s is %d×%d with %d values, want %d×%d",
					l, LinearNames[i], lin.Out, lin.In, len(lin.W), s[0], s[1])
			}
		}
	}
	return nil
}

// attachTokenizer checks that every token id indexes the embedding.
func attachTokenizer(m *Model, tok tokenizer.Tokenizer, src string) error {
	if tok.VocabSize() > m.Config.Vocab {
		return fmt.Errorf("%s: tokenizer has %d tokens but the model's vocabulary is %d", src, tok.VocabSize(), m.Config.Vocab)
	}
	m.Tokenizer = tok
	return nil
}

// permuteQK converts the rows of a q or k matrix between Meta's
// adjacent-pair RoPE order and Hugging Face's rotate-half order
// (FORMATS.md §8): HF row (h, j·hd/2+i) = Meta row (h, 2i+j). It returns a
// permuted copy.
func permuteQK(w []float32, heads, hd, in int, toHF bool) []float32 {
	out := append([]float32(nil), w...)
	permuteQKInPlace(out, heads, hd, in, toHF)
	return out
}

// permuteQKInPlace is permuteQK in w, through a copy of one head's rows.
func permuteQKInPlace(w []float32, heads, hd, in int, toHF bool) {
	half := hd / 2
	head := make([]float32, hd*in)
	for h := 0; h < heads; h++ {
		rows := w[h*hd*in : (h+1)*hd*in]
		copy(head, rows)
		for i := 0; i < half; i++ {
			for j := 0; j < 2; j++ {
				meta := (2*i + j) * in
				hf := (j*half + i) * in
				if toHF {
					copy(rows[hf:hf+in], head[meta:meta+in])
				} else {
					copy(rows[meta:meta+in], head[hf:hf+in])
				}
			}
		}
	}
}

// mulChecked multiplies non-negative factors, reporting overflow of int64,
// so sizes from hostile headers are checked before anything is allocated.
func mulChecked(fs ...int64) (int64, bool) {
	p := int64(1)
	for _, f := range fs {
		if f < 0 {
			return 0, false
		}
		if f != 0 && p > math.MaxInt64/f {
			return 0, false
		}
		p *= f
	}
	return p, true
}

// sortedKeys returns a map's keys in order, for deterministic errors.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// absPaths makes the paths a model was read from absolute, so that a record
// of them (with their checksums) names the files wherever the run started.
func absPaths(paths ...string) ([]string, error) {
	out := make([]string, len(paths))
	for i, p := range paths {
		a, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// openSized opens a checkpoint file and returns its size, which the readers
// check every header against before allocating.
func openSized(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}
