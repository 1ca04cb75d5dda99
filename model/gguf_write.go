package model

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/prunebench/prunebench/internal/atomicfile"
	"github.com/prunebench/prunebench/safetensors"
	"github.com/prunebench/prunebench/tokenizer"
)

// ggufFileTypes is general.file_type for each dtype SaveGGUF writes:
// llama.cpp's LLAMA_FTYPE_ALL_F32 and LLAMA_FTYPE_MOSTLY_F16 ("mostly"
// because the norms stay F32).
var ggufFileTypes = map[safetensors.DType]uint32{safetensors.F32: 0, safetensors.F16: 1}

// ggufKV is one metadata pair to write; val is a uint32, float32, bool,
// string, []string, []float32 or []int32.
type ggufKV struct {
	key string
	val any
}

// ggufOut is one tensor to write: its shape (out×in, or n), ggml type and
// a loader called only when its data is written.
type ggufOut struct {
	name  string
	shape []int
	typ   uint32
	load  func() ([]float32, error)
}

func (t ggufOut) bytes() int64 {
	n := ggmlFloatSizes[t.typ]
	for _, d := range t.shape {
		n *= int64(d)
	}
	return n
}

// SaveGGUF writes m as a GGUF v3 file for llama.cpp (FORMATS.md §5; the
// package doc lists what each family gets): the architecture's metadata,
// the vocabulary as tokenizer.ggml.* keys (a SentencePiece vocabulary as it
// is, a llama2.c one converted, see tokenizer.Llama2C.Vocab, a byte-level
// BPE one as "gpt2") and the tensors under LoadGGUF's names. dtype is F32
// or F16 for the matrices; vectors (norms, biases, q/k norms,
// rope_freqs) are F32 either way, as llama.cpp's converter writes them. Q/K
// rows are written in llama.cpp's order: as held (adjacent pairs) for
// llama, rotate-half for qwen2 and qwen3. A tied classifier is not written
// (llama.cpp then uses token_embd). An F16 matrix with a weight beyond
// F16's range is refused rather than written as infinity.
//
// Block linears are read one at a time when written (Model.linear), so a
// streaming model, pruned blocks included, is exported without holding
// its blocks. The file is written through internal/atomicfile: it appears
// at path complete, replacing any file there, or not at all; ctx is
// checked between tensors.
func SaveGGUF(ctx context.Context, m *Model, path string, dtype safetensors.DType) (err error) {
	fail := func(err error) error { return fmt.Errorf("save gguf %s: %w", path, err) }
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fail(errors.New("is a directory; name the file to write"))
	}
	kvs, tensors, err := planGGUF(m, path, dtype)
	if err != nil {
		return fail(err)
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err != nil {
			f.Abort()
		}
	}()
	w := &ggufWriter{w: bufio.NewWriterSize(f, 1<<20)}
	if err := w.header(kvs, tensors); err != nil {
		return fail(err)
	}
	for _, t := range tensors {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		if err := w.tensor(t); err != nil {
			return fail(fmt.Errorf("tensor %s: %w", t.name, err))
		}
	}
	if err := w.w.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

// CheckSaveGGUF runs, before any work, the checks SaveGGUF would fail
// on (weights, metadata and vocabulary, dtype) and refuses a path that
// exists, whose directory takes no new file, or that lacks room for the
// file: what `prune --out FILE.gguf` needs to know before hours of pruning.
func CheckSaveGGUF(m *Model, path string, dtype safetensors.DType) error {
	fail := func(err error) error { return fmt.Errorf("save gguf %s: %w", path, err) }
	_, tensors, err := planGGUF(m, path, dtype)
	if err != nil {
		return fail(err)
	}
	if _, err := os.Lstat(path); err == nil {
		return fail(errors.New("exists; name a new file"))
	}
	var bytes int64
	for _, t := range tensors {
		bytes += t.bytes()
	}
	if err := checkParent(path, bytes+1<<20); err != nil {
		return fail(err)
	}
	return nil
}

// planGGUF is what SaveGGUF writes, after the checks both it and
// CheckSaveGGUF make: the dtype, the weights' consistency, the metadata.
func planGGUF(m *Model, path string, dtype safetensors.DType) ([]ggufKV, []ggufOut, error) {
	if _, ok := ggufFileTypes[dtype]; !ok {
		return nil, nil, fmt.Errorf("dtype %s: want F32 or F16", dtype)
	}
	if err := m.checkWeights(); err != nil {
		return nil, nil, fmt.Errorf("the model is inconsistent: %w", err)
	}
	kvs, err := ggufMetadata(m, path, dtype)
	if err != nil {
		return nil, nil, err
	}
	return kvs, ggufTensors(m, dtype), nil
}

// ggufMetadata is the metadata SaveGGUF writes, in llama.cpp's converter's
// order (general, architecture, tokenizer).
func ggufMetadata(m *Model, path string, dtype safetensors.DType) ([]ggufKV, error) {
	vocab, err := ggufVocab(m)
	if err != nil {
		return nil, err
	}
	c := &m.Config
	arch := ggufArch(c)
	p := arch + "."
	kvs := []ggufKV{
		{"general.architecture", arch},
		{"general.name", ggufModelName(m, path)},
		{"general.file_type", ggufFileTypes[dtype]},
		{"general.alignment", uint32(ggufDefaultAlignment)},
		{p + "context_length", uint32(c.SeqLen)},
		{p + "embedding_length", uint32(c.Dim)},
		{p + "block_count", uint32(c.Layers)},
		{p + "feed_forward_length", uint32(c.HiddenDim)},
		{p + "rope.dimension_count", uint32(c.HeadDim)},
		{p + "attention.head_count", uint32(c.Heads)},
		{p + "attention.head_count_kv", uint32(c.KVHeads)},
		{p + "attention.layer_norm_rms_epsilon", float32(c.NormEps)},
		{p + "rope.freq_base", float32(c.RopeBase)},
	}
	if c.HeadDim*c.Heads != c.Dim {
		// Without these llama.cpp takes the head width to be Dim/Heads.
		kvs = append(kvs, ggufKV{p + "attention.key_length", uint32(c.HeadDim)}, ggufKV{p + "attention.value_length", uint32(c.HeadDim)})
	}
	if c.SlidingWindow > 0 {
		kvs = append(kvs, ggufKV{p + "attention.sliding_window", uint32(c.SlidingWindow)})
	}
	return append(kvs, vocab...), nil
}

// ggufVocab is the tokenizer.ggml.* metadata: a byte-level BPE vocabulary
// as model "gpt2" (tokens, types, merges, pre-tokeniser), a SentencePiece
// or llama2.c one as model "llama" (tokens, scores, types); the special ids
// and add_bos_token (Model.AddBOS) either way. llama.cpp sizes token_embd
// by the token list, so a BPE list shorter than the embedding is padded as
// llama.cpp's converter pads it ("[PAD<id>]", type unused); a SentencePiece
// list must match.
func ggufVocab(m *Model) ([]ggufKV, error) {
	n := m.Config.Vocab
	if t, ok := m.Tokenizer.(*tokenizer.BPE); ok {
		v := t.BPEVocab()
		if len(v.Tokens) > n {
			return nil, fmt.Errorf("the vocabulary has %d tokens but the embedding only %d rows", len(v.Tokens), n)
		}
		for id := len(v.Tokens); id < n; id++ {
			v.Tokens = append(v.Tokens, fmt.Sprintf("[PAD%d]", id))
			v.Types = append(v.Types, 5) // UNUSED
		}
		// LoadGGUF rebuilds the tokenizer this way; a clash with a padding
		// token is refused before writing.
		if _, err := tokenizer.NewBPE(v); err != nil {
			return nil, fmt.Errorf("vocabulary: %w", err)
		}
		kvs := []ggufKV{
			{"tokenizer.ggml.model", "gpt2"},
			{"tokenizer.ggml.pre", v.Pre},
			{"tokenizer.ggml.tokens", v.Tokens},
			{"tokenizer.ggml.token_type", v.Types},
			{"tokenizer.ggml.merges", v.Merges},
		}
		if v.BOS >= 0 {
			kvs = append(kvs, ggufKV{"tokenizer.ggml.bos_token_id", uint32(v.BOS)})
		}
		if v.EOS >= 0 {
			kvs = append(kvs, ggufKV{"tokenizer.ggml.eos_token_id", uint32(v.EOS)})
		}
		return append(kvs, ggufKV{"tokenizer.ggml.add_bos_token", v.AddBOS}), nil
	}
	vs, ok := m.Tokenizer.(interface {
		Vocab() (tokenizer.Vocab, error)
	})
	if !ok {
		return nil, fmt.Errorf("the model's %T vocabulary cannot be written to GGUF (want SentencePiece, llama2.c or byte-level BPE)", m.Tokenizer)
	}
	v, err := vs.Vocab()
	if err != nil {
		return nil, fmt.Errorf("vocabulary: %w", err)
	}
	if len(v.Pieces) != n {
		return nil, fmt.Errorf("the vocabulary has %d tokens but the embedding %d rows; GGUF needs one token per row", len(v.Pieces), n)
	}
	// LoadGGUF rebuilds the tokenizer this way: a vocabulary it would refuse
	// (duplicate pieces from a llama2.c file, say) is refused before writing.
	if _, err := tokenizer.NewSentencePiece(v.Pieces, v.Scores, v.Types, v.BOS, v.EOS, v.Unk, v.AddDummyPrefix); err != nil {
		return nil, fmt.Errorf("vocabulary: %w", err)
	}
	return []ggufKV{
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", v.Pieces},
		{"tokenizer.ggml.scores", v.Scores},
		{"tokenizer.ggml.token_type", v.Types},
		{"tokenizer.ggml.bos_token_id", uint32(v.BOS)},
		{"tokenizer.ggml.eos_token_id", uint32(v.EOS)},
		{"tokenizer.ggml.unknown_token_id", uint32(v.Unk)},
		{"tokenizer.ggml.add_bos_token", m.AddBOS()},
		{"tokenizer.ggml.add_space_prefix", v.AddDummyPrefix},
	}, nil
}

// ggufArch is general.architecture for c: llama.cpp runs Mistral as llama.
func ggufArch(c *Config) string {
	switch c.Arch {
	case ArchQwen2, ArchQwen3:
		return c.Arch
	}
	return "llama"
}

// ggufModelName is general.name: the checkpoint's file or directory name
// without its extension, else the output's.
func ggufModelName(m *Model, path string) string {
	src := m.Path
	if src == "" {
		src = path
	}
	base := filepath.Base(filepath.Clean(src))
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// ggufTensors lists the tensors in LoadGGUF's names: the embedding, the
// final norm, the classifier unless tied, rope_freqs.weight when the RoPE
// frequencies are scaled, then each block's vectors and linears. q and k
// (rows, biases, norm weights) go back to rotate-half order for the
// architectures llama.cpp runs with NEOX RoPE (ggufRotateHalf).
func ggufTensors(m *Model, dtype safetensors.DType) []ggufOut {
	c, w := &m.Config, &m.Weights
	typ := uint32(ggmlF32)
	if dtype == safetensors.F16 {
		typ = ggmlF16
	}
	resident := func(v []float32) func() ([]float32, error) {
		return func() ([]float32, error) { return v, nil }
	}
	ts := []ggufOut{
		{ggufTensorName(roleEmbed, -1), []int{c.Vocab, c.Dim}, typ, resident(w.Embed)},
		{ggufTensorName(roleFinalNorm, -1), []int{c.Dim}, ggmlF32, resident(w.FinalNorm)},
	}
	if !c.TiedClassifier {
		ts = append(ts, ggufOut{ggufTensorName(roleClassifier, -1), []int{c.Vocab, c.Dim}, typ, resident(w.Classifier)})
	}
	if freqs := w.Blocks[0].RopeFreqs; freqs != nil { // checkWeights: every block shares them
		ts = append(ts, ggufOut{ggufTensorName(roleRopeFreqs, -1), []int{len(freqs)}, ggmlF32, resident(freqs)})
	}
	rotateHalf := ggufRotateHalf(c)
	for l := range w.Blocks {
		b := &w.Blocks[l]
		for i, v := range b.vectors() {
			role := blockVectorRoles[i]
			n := vectorLen(c, role)
			if n == 0 {
				continue
			}
			data := *v
			if rotateHalf {
				data = append([]float32(nil), data...)
				permuteRole(c, role, data, true)
			}
			ts = append(ts, ggufOut{ggufTensorName(role, l), []int{n}, ggmlF32, resident(data)})
		}
		for i, role := range blockMatrixRoles {
			ts = append(ts, ggufOut{ggufTensorName(role, l), matrixShape(c, role), typ,
				func() ([]float32, error) {
					data, err := m.linear(l, i)
					if err == nil && rotateHalf {
						permuteRole(c, role, data, true)
					}
					return data, err
				}})
		}
	}
	return ts
}

// ggufWriter writes a GGUF file sequentially; the first write error sticks
// and is returned by the methods that end a section.
type ggufWriter struct {
	w   *bufio.Writer
	pos int64
	err error
	buf [8]byte
}

func (g *ggufWriter) write(b []byte) {
	if g.err != nil {
		return
	}
	var n int
	n, g.err = g.w.Write(b)
	g.pos += int64(n)
}

func (g *ggufWriter) u32(v uint32) {
	binary.LittleEndian.PutUint32(g.buf[:4], v)
	g.write(g.buf[:4])
}

func (g *ggufWriter) u64(v uint64) {
	binary.LittleEndian.PutUint64(g.buf[:8], v)
	g.write(g.buf[:8])
}

func (g *ggufWriter) str(s string) {
	g.u64(uint64(len(s)))
	g.write([]byte(s))
}

// pad writes zeros up to the next multiple of the alignment.
func (g *ggufWriter) pad() {
	g.write(make([]byte, alignUp(g.pos, ggufDefaultAlignment)-g.pos))
}

// value writes a metadata value with its type.
func (g *ggufWriter) value(v any) {
	switch x := v.(type) {
	case uint32:
		g.u32(ggufU32)
		g.u32(x)
	case float32:
		g.u32(ggufF32)
		g.u32(math.Float32bits(x))
	case bool:
		g.u32(ggufBool)
		g.buf[0] = 0
		if x {
			g.buf[0] = 1
		}
		g.write(g.buf[:1])
	case string:
		g.u32(ggufString)
		g.str(x)
	case []string:
		g.u32(ggufArray)
		g.u32(ggufString)
		g.u64(uint64(len(x)))
		for _, s := range x {
			g.str(s)
		}
	case []float32:
		g.u32(ggufArray)
		g.u32(ggufF32)
		g.u64(uint64(len(x)))
		for _, f := range x {
			g.u32(math.Float32bits(f))
		}
	case []int32:
		g.u32(ggufArray)
		g.u32(ggufI32)
		g.u64(uint64(len(x)))
		for _, n := range x {
			g.u32(uint32(n))
		}
	default:
		// ggufMetadata builds only the types above.
		g.err = fmt.Errorf("gguf metadata value of type %T", v)
	}
}

// header writes everything before the tensor data: magic, version, counts,
// metadata and tensor infos (dims innermost first, offsets aligned), and
// the padding up to the data section.
func (g *ggufWriter) header(kvs []ggufKV, ts []ggufOut) error {
	g.write([]byte(ggufMagic))
	g.u32(3)
	g.u64(uint64(len(ts)))
	g.u64(uint64(len(kvs)))
	for _, kv := range kvs {
		g.str(kv.key)
		g.value(kv.val)
	}
	off := int64(0)
	for _, t := range ts {
		g.str(t.name)
		g.u32(uint32(len(t.shape)))
		for i := len(t.shape) - 1; i >= 0; i-- {
			g.u64(uint64(t.shape[i]))
		}
		g.u32(t.typ)
		g.u64(uint64(off))
		off = alignUp(off+t.bytes(), ggufDefaultAlignment)
	}
	g.pad()
	return g.err
}

// tensor writes one tensor's data, converted to its type, and the padding
// after it (ggml pads the last tensor too).
func (g *ggufWriter) tensor(t ggufOut) error {
	data, err := t.load()
	if err != nil {
		return err
	}
	if want := t.bytes() / ggmlFloatSizes[t.typ]; int64(len(data)) != want {
		return fmt.Errorf("%d values, want %d", len(data), want)
	}
	const chunk = 1 << 16
	size := int(ggmlFloatSizes[t.typ])
	buf := make([]byte, chunk*size)
	for lo := 0; lo < len(data); lo += chunk {
		vals := data[lo:min(lo+chunk, len(data))]
		b := buf[:len(vals)*size]
		for i, v := range vals {
			if t.typ == ggmlF32 {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
				continue
			}
			h := safetensors.Float32ToHalf(v)
			if h&0x7c00 == 0x7c00 { // exponent all ones: infinity or NaN
				return fmt.Errorf("value %d of %d is %v, beyond F16's range (±65504); export as F32", lo+i, len(data), v)
			}
			binary.LittleEndian.PutUint16(b[2*i:], h)
		}
		g.write(b)
	}
	g.pad()
	return g.err
}
