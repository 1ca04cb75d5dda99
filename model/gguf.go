package model

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/prunebench/prunebench/safetensors"
	"github.com/prunebench/prunebench/tokenizer"
)

const ggufMagic = "GGUF"

const ggufDefaultAlignment = 32

// ggmlTypeNames is ggml's type enum (ggml.h), so that refusals name the type.
// Ids marked removed no longer occur in GGUF files but are named anyway.
var ggmlTypeNames = map[uint32]string{
	0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 4: "Q4_2 (removed)", 5: "Q4_3 (removed)",
	6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K",
	13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS",
	19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8",
	25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16",
	31: "Q4_0_4_4 (removed)", 32: "Q4_0_4_8 (removed)", 33: "Q4_0_8_8 (removed)",
	34: "TQ1_0", 35: "TQ2_0", 36: "IQ4_NL_4_4 (removed)", 37: "IQ4_NL_4_8 (removed)",
	38: "IQ4_NL_8_8 (removed)", 39: "MXFP4", 40: "NVFP4", 41: "Q1_0",
}

// The float types prunebench reads, with their element sizes.
const (
	ggmlF32  = 0
	ggmlF16  = 1
	ggmlBF16 = 30
)

var ggmlFloatSizes = map[uint32]int64{ggmlF32: 4, ggmlF16: 2, ggmlBF16: 2}

// GGUF metadata value types.
const (
	ggufU8 = iota
	ggufI8
	ggufU16
	ggufI16
	ggufU32
	ggufI32
	ggufF32
	ggufBool
	ggufString
	ggufArray
	ggufU64
	ggufI64
	ggufF64
)

// ggufMinSize is the smallest encoding of each value type, used to bound
// array counts by the bytes left before allocating.
var ggufMinSize = [...]int64{1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8}

type ggufTensor struct {
	name   string
	dims   []int64 // innermost first
	typ    uint32
	offset int64 // relative to the data section
	bytes  int64
}

type ggufFile struct {
	name      string
	r         io.ReaderAt
	kv        map[string]any
	tensors   map[string]*ggufTensor
	dataStart int64
}

// LoadGGUF reads a GGUF v2/v3 checkpoint of architecture llama (LLaMA,
// Mistral), qwen2 or qwen3 with F32, F16 or BF16 tensors and its embedded
// vocabulary, SentencePiece or byte-level BPE (FORMATS.md §5). llama's Q/K
// rows are already in adjacent-pair order; Qwen's are un-permuted.
func LoadGGUF(path string) (*Model, error) { return loadWhole(OpenGGUF(path)) }

// OpenGGUF is LoadGGUF for a streaming model (see Model.Block). Close
// releases the file.
func OpenGGUF(path string) (*Model, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	m, err := openGGUFModel(f, size, path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	m.Path = path
	if m.Files, err = absPaths(path); err != nil {
		m.Close()
		return nil, fmt.Errorf("gguf %s: %w", path, err)
	}
	return m, nil
}

// readGGUFModel reads a whole GGUF model from r.
func readGGUFModel(r io.ReaderAt, size int64, name string) (*Model, error) {
	return loadWhole(openGGUFModel(r, size, name, nil))
}

// openGGUFModel opens a streaming model reading r, which closer (if any)
// releases.
func openGGUFModel(r io.ReaderAt, size int64, name string, closer io.Closer) (*Model, error) {
	g, err := parseGGUF(r, size, name)
	if err != nil {
		return nil, err
	}
	cfg, err := g.config()
	if err != nil {
		return nil, err
	}
	// F16 and BF16, the narrowest types read, take 2 bytes per parameter.
	arch, _ := g.kv["general.architecture"].(string)
	fields := headerFields{layers: arch + ".block_count",
		shapes: arch + ".embedding_length, feed_forward_length, block_count, attention.head_count(_kv), key_length and the vocabulary"}
	if err := checkFits(&cfg, fields, len(g.tensors), size-g.dataStart, 2); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ropeFreqs, err := g.ropeFreqs(&cfg)
	if err != nil {
		return nil, err
	}
	want := expectedNames(&cfg, ggufTensorName)
	for _, n := range sortedKeys(g.tensors) {
		if !want[n] && !(ropeFreqs != nil && n == ggufTensorName(roleRopeFreqs, -1)) {
			return nil, fmt.Errorf("%s: unexpected tensor %s for a %d-layer %s", name, fileName(n), cfg.Layers, archName(&cfg))
		}
	}
	tok, addBOS, err := g.tokenizer()
	if err != nil {
		return nil, err
	}
	// llama.cpp's qwen2 and qwen3 rotate halves (NEOX RoPE) on rows stored
	// as Hugging Face has them; its llama rows are adjacent-pair.
	m, err := openStreaming(cfg, tensorReader{check: g.check, read: g.read}, ggufTensorName, ggufRotateHalf(&cfg), ropeFreqs, closer)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	m.Format, m.noBOS = "gguf", !addBOS
	if err := attachTokenizer(m, tok, name); err != nil {
		return nil, err
	}
	return m, nil
}

func ggufTensorName(role string, layer int) string {
	switch role {
	case roleEmbed:
		return "token_embd.weight"
	case roleFinalNorm:
		return "output_norm.weight"
	case roleClassifier:
		return "output.weight"
	case roleRopeFreqs:
		return "rope_freqs.weight"
	}
	suffix := map[string]string{
		roleAttnNorm: "attn_norm.weight", roleFFNNorm: "ffn_norm.weight", "q": "attn_q.weight", "k": "attn_k.weight", "v": "attn_v.weight",
		"o": "attn_output.weight", "gate": "ffn_gate.weight", "up": "ffn_up.weight", "down": "ffn_down.weight",
		roleQBias: "attn_q.bias", roleKBias: "attn_k.bias", roleVBias: "attn_v.bias",
		roleQNorm: "attn_q_norm.weight", roleKNorm: "attn_k_norm.weight",
	}[role]
	return fmt.Sprintf("blk.%d.%s", layer, suffix)
}

// ggufRotateHalf tells whether a GGUF file of this architecture keeps q and
// k rows in Hugging Face's rotate-half order: llama.cpp's converter
// permutes them to adjacent pairs for its llama architecture only.
func ggufRotateHalf(c *Config) bool { return c.Arch == ArchQwen2 || c.Arch == ArchQwen3 }

// ggufReader reads the header sequentially, tracking the offset for errors
// and the bytes left for bounding counts.
type ggufReader struct {
	br        *bufio.Reader
	pos, size int64
	name      string
	buf       [8]byte
}

func (g *ggufReader) errf(format string, args ...any) error {
	return fmt.Errorf("%s: gguf at byte %d: "+format, append([]any{g.name, g.pos}, args...)...)
}

func (g *ggufReader) fill(b []byte, what string) error {
	if int64(len(b)) > g.size-g.pos {
		return g.errf("truncated %s (%d bytes needed, %d left)", what, len(b), g.size-g.pos)
	}
	if _, err := io.ReadFull(g.br, b); err != nil {
		return g.errf("reading %s: %w", what, err)
	}
	g.pos += int64(len(b))
	return nil
}

func (g *ggufReader) u32(what string) (uint32, error) {
	err := g.fill(g.buf[:4], what)
	return binary.LittleEndian.Uint32(g.buf[:4]), err
}

func (g *ggufReader) u64(what string) (uint64, error) {
	err := g.fill(g.buf[:8], what)
	return binary.LittleEndian.Uint64(g.buf[:8]), err
}

func (g *ggufReader) str(what string) (string, error) {
	n, err := g.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > uint64(g.size-g.pos) {
		return "", g.errf("%s length %d exceeds the %d bytes left", what, n, g.size-g.pos)
	}
	b := make([]byte, n)
	if err := g.fill(b, what); err != nil {
		return "", err
	}
	return string(b), nil
}

// value reads one metadata value; arrays become typed slices.
func (g *ggufReader) value(typ uint32, key string) (any, error) {
	switch typ {
	case ggufU8, ggufI8, ggufBool:
		if err := g.fill(g.buf[:1], key); err != nil {
			return nil, err
		}
		switch typ {
		case ggufU8:
			return g.buf[0], nil
		case ggufI8:
			return int8(g.buf[0]), nil
		}
		if g.buf[0] > 1 {
			return nil, g.errf("%s: bool byte %d is neither 0 nor 1", key, g.buf[0])
		}
		return g.buf[0] == 1, nil
	case ggufU16, ggufI16:
		if err := g.fill(g.buf[:2], key); err != nil {
			return nil, err
		}
		v := binary.LittleEndian.Uint16(g.buf[:2])
		if typ == ggufI16 {
			return int16(v), nil
		}
		return v, nil
	case ggufU32, ggufI32, ggufF32:
		v, err := g.u32(key)
		switch typ {
		case ggufI32:
			return int32(v), err
		case ggufF32:
			return math.Float32frombits(v), err
		}
		return v, err
	case ggufU64, ggufI64, ggufF64:
		v, err := g.u64(key)
		switch typ {
		case ggufI64:
			return int64(v), err
		case ggufF64:
			return math.Float64frombits(v), err
		}
		return v, err
	case ggufString:
		return g.str(key)
	case ggufArray:
		return g.array(key)
	}
	return nil, g.errf("%s: unknown value type %d", key, typ)
}

func (g *ggufReader) array(key string) (any, error) {
	elem, err := g.u32(key + " array type")
	if err != nil {
		return nil, err
	}
	n, err := g.u64(key + " array count")
	if err != nil {
		return nil, err
	}
	if elem == ggufArray {
		return nil, g.errf("%s: arrays of arrays are not supported", key)
	}
	if elem >= uint32(len(ggufMinSize)) {
		return nil, g.errf("%s: unknown array element type %d", key, elem)
	}
	if need, ok := mulChecked(int64(min(n, math.MaxInt64)), ggufMinSize[elem]); !ok || need > g.size-g.pos {
		return nil, g.errf("%s: array of %d elements cannot fit in the %d bytes left", key, n, g.size-g.pos)
	}
	// Typed slices keep an array's memory within a small factor of the bytes
	// it occupies in the file (a []any would box every element).
	switch elem {
	case ggufU8:
		return readArray[uint8](g, elem, n, key)
	case ggufI8:
		return readArray[int8](g, elem, n, key)
	case ggufU16:
		return readArray[uint16](g, elem, n, key)
	case ggufI16:
		return readArray[int16](g, elem, n, key)
	case ggufU32:
		return readArray[uint32](g, elem, n, key)
	case ggufI32:
		return readArray[int32](g, elem, n, key)
	case ggufF32:
		return readArray[float32](g, elem, n, key)
	case ggufBool:
		return readArray[bool](g, elem, n, key)
	case ggufString:
		return readArray[string](g, elem, n, key)
	case ggufU64:
		return readArray[uint64](g, elem, n, key)
	case ggufI64:
		return readArray[int64](g, elem, n, key)
	}
	return readArray[float64](g, elem, n, key)
}

// readArray reads n elements of type elem; the caller has checked that n
// elements fit in the bytes left.
func readArray[T any](g *ggufReader, elem uint32, n uint64, key string) ([]T, error) {
	out := make([]T, n)
	for i := range out {
		v, err := g.value(elem, key)
		if err != nil {
			return nil, err
		}
		out[i] = v.(T)
	}
	return out, nil
}

func parseGGUF(r io.ReaderAt, size int64, name string) (*ggufFile, error) {
	g := &ggufReader{br: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16), size: size, name: name}
	var magic [4]byte
	if err := g.fill(magic[:], "magic"); err != nil {
		return nil, err
	}
	if string(magic[:]) != ggufMagic {
		return nil, fmt.Errorf("%s: not a GGUF file (magic %q, want %q)", name, magic[:], ggufMagic)
	}
	version, err := g.u32("version")
	if err != nil {
		return nil, err
	}
	switch version {
	case 2, 3:
	case 1:
		return nil, fmt.Errorf("%s: GGUF version 1 (32-bit counts) is not supported; convert to v3", name)
	case 0x02000000, 0x03000000:
		return nil, fmt.Errorf("%s: big-endian GGUF is not supported", name)
	default:
		return nil, fmt.Errorf("%s: unsupported GGUF version %d (want 2 or 3)", name, version)
	}
	nTensors, err := g.u64("tensor count")
	if err != nil {
		return nil, err
	}
	nKV, err := g.u64("metadata count")
	if err != nil {
		return nil, err
	}
	// Each KV takes at least 13 bytes and each tensor info 24.
	left := uint64(g.size - g.pos)
	if nKV > left/13 || nTensors > left/24 {
		return nil, g.errf("%d metadata entries and %d tensors cannot fit in %d bytes", nKV, nTensors, left)
	}
	f := &ggufFile{name: name, r: r, kv: map[string]any{}, tensors: map[string]*ggufTensor{}}
	for i := uint64(0); i < nKV; i++ {
		key, err := g.str(fmt.Sprintf("metadata key %d", i))
		if err != nil {
			return nil, err
		}
		// The key is quoted wherever an error shows it: it may hold
		// terminal escapes, NUL bytes or invalid UTF-8.
		label := "metadata key " + fileName(key)
		if _, dup := f.kv[key]; dup {
			return nil, g.errf("%s appears twice", label)
		}
		typ, err := g.u32(label + " type")
		if err != nil {
			return nil, err
		}
		if f.kv[key], err = g.value(typ, label); err != nil {
			return nil, err
		}
	}
	var order []*ggufTensor
	for i := uint64(0); i < nTensors; i++ {
		t, err := g.tensorInfo(i)
		if err != nil {
			return nil, err
		}
		if _, dup := f.tensors[t.name]; dup {
			return nil, g.errf("tensor %s listed twice", fileName(t.name))
		}
		f.tensors[t.name] = t
		order = append(order, t)
	}
	align := int64(ggufDefaultAlignment)
	if v, ok := f.kv["general.alignment"]; ok {
		a, isU32 := v.(uint32)
		if !isU32 || a == 0 || a&(a-1) != 0 {
			return nil, f.wrongValue("general.alignment", "a u32 power of two")
		}
		align = int64(a)
	}
	f.dataStart = alignUp(g.pos, align)
	return f, f.checkData(order, align, g.pos, size)
}

func (g *ggufReader) tensorInfo(i uint64) (*ggufTensor, error) {
	name, err := g.str(fmt.Sprintf("tensor %d name", i))
	if err != nil {
		return nil, err
	}
	// q, not name, goes into errors: see fileName.
	q := fileName(name)
	nd, err := g.u32("tensor " + q + " n_dims")
	if err != nil {
		return nil, err
	}
	if nd == 0 || nd > 4 {
		return nil, g.errf("tensor %s has %d dimensions, want 1 to 4", q, nd)
	}
	t := &ggufTensor{name: name}
	numel := int64(1)
	for d := uint32(0); d < nd; d++ {
		v, err := g.u64("tensor " + q + " dimension")
		if err != nil {
			return nil, err
		}
		var ok bool
		if numel, ok = mulChecked(numel, int64(min(v, math.MaxInt64))); !ok || v > math.MaxInt64 {
			return nil, g.errf("tensor %s: dimensions overflow", q)
		}
		t.dims = append(t.dims, int64(v))
	}
	if t.typ, err = g.u32("tensor " + q + " type"); err != nil {
		return nil, err
	}
	off, err := g.u64("tensor " + q + " offset")
	if err != nil {
		return nil, err
	}
	tn, known := ggmlTypeNames[t.typ]
	es, isFloat := ggmlFloatSizes[t.typ]
	switch {
	case !known:
		return nil, fmt.Errorf("%s: tensor %s has unknown ggml type %d", g.name, q, t.typ)
	case !isFloat:
		return nil, fmt.Errorf("%s: tensor %s has type %s; prunebench reads only F32, F16 and BF16 tensors "+
			"(quantised checkpoints cannot be pruned meaningfully: use an F16 GGUF or the HF original)", g.name, q, tn)
	}
	var ok bool
	if t.bytes, ok = mulChecked(numel, es); !ok || off > math.MaxInt64 {
		return nil, g.errf("tensor %s: size or offset overflows", q)
	}
	t.offset = int64(off)
	return t, nil
}

// alignUp rounds n up to a multiple of align (a power of two); n is a file
// offset, far from overflowing.
func alignUp(n, align int64) int64 { return (n + align - 1) &^ (align - 1) }

// checkData requires the tensors to tile the data section as ggml writes it:
// in offset order, the first at 0 and each at the first aligned offset after
// the previous one ends, so the only bytes no tensor claims are the alignment
// padding between tensors and after the last one. Anything else (an overlap,
// a gap, a missing or extra byte range) means the infos and the data
// disagree, and reading on would give shifted weights.
func (f *ggufFile) checkData(order []*ggufTensor, align, infoEnd, size int64) error {
	ts := append([]*ggufTensor(nil), order...)
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].offset < ts[j].offset })
	end := int64(0) // where the previous tensor ends, relative to dataStart
	prev := ""
	for _, t := range ts {
		if t.offset > size || t.bytes > size-f.dataStart-t.offset {
			return fmt.Errorf("%s: tensor %s (%d bytes at data offset %d) runs past the end of the %d-byte file (data starts at %d)",
				f.name, fileName(t.name), t.bytes, t.offset, size, f.dataStart)
		}
		want := alignUp(end, align)
		switch {
		case t.offset < end:
			return fmt.Errorf("%s: tensor %s at data offset %d overlaps tensor %s, which ends at %d", f.name, fileName(t.name), t.offset, fileName(prev), end)
		case t.offset != want && prev == "":
			return fmt.Errorf("%s: tensor %s is the first in the data section but starts at data offset %d, want 0", f.name, fileName(t.name), t.offset)
		case t.offset != want:
			return fmt.Errorf("%s: tensor %s starts at data offset %d, want %d (tensor %s ends at %d, then padding to the alignment %d): "+
				"%d bytes belong to no tensor", f.name, fileName(t.name), t.offset, want, fileName(prev), end, align, t.offset-end)
		}
		end, prev = t.offset+t.bytes, t.name
	}
	last := infoEnd // with no tensors, only padding may follow the infos
	if prev != "" {
		last = f.dataStart + end
	}
	if extra := size - last; extra >= align {
		what := "the tensor infos"
		if prev != "" {
			what = "tensor " + fileName(prev)
		}
		return fmt.Errorf("%s: %d bytes follow %s, which ends at byte %d; at most %d bytes of alignment padding may", f.name, extra, what, last, align-1)
	}
	return nil
}

// check fails unless the tensor exists with shape want (out×in; GGUF
// lists dims innermost first).
func (f *ggufFile) check(name string, want []int) error {
	t, ok := f.tensors[name]
	if !ok {
		return fmt.Errorf("%s: missing tensor %q", f.name, name)
	}
	match := len(t.dims) == len(want)
	for i := 0; match && i < len(want); i++ {
		match = t.dims[len(want)-1-i] == int64(want[i])
	}
	if !match {
		rev := make([]int, len(want))
		for i := range want {
			rev[i] = want[len(want)-1-i]
		}
		return fmt.Errorf("%s: tensor %q has GGUF shape %v, want %v", f.name, name, t.dims, rev)
	}
	return nil
}

// ggmlDTypes maps the float ggml types read to their safetensors dtype.
var ggmlDTypes = map[uint32]safetensors.DType{ggmlF32: safetensors.F32, ggmlF16: safetensors.F16, ggmlBF16: safetensors.BF16}

// read converts a checked tensor into dst.
func (f *ggufFile) read(name string, dst []float32) error {
	t, ok := f.tensors[name]
	if !ok {
		return fmt.Errorf("%s: missing tensor %q", f.name, name)
	}
	if n := t.bytes / ggmlFloatSizes[t.typ]; n != int64(len(dst)) {
		return fmt.Errorf("%s: tensor %q has %d elements, the buffer %d", f.name, name, n, len(dst))
	}
	if err := safetensors.ReadFloat32At(f.r, f.dataStart+t.offset, ggmlDTypes[t.typ], dst); err != nil {
		return fmt.Errorf("%s: reading tensor %q: %w", f.name, name, err)
	}
	return nil
}

// wrongValue is the error for a metadata key holding something other than
// want, or absent. The value is shown through describeValue: printed with
// Go's %v or %T it could be a 32k-entry array or a Go type name.
func (f *ggufFile) wrongValue(key, want string) error {
	v, ok := f.kv[key]
	if !ok {
		return fmt.Errorf("%s: missing metadata key %s, want %s", f.name, key, want)
	}
	return fmt.Errorf("%s: %s is %s, want %s", f.name, key, describeValue(v), want)
}

// ggufTypeNames spells the Go types that value returns as GGUF value types.
var ggufTypeNames = map[reflect.Type]string{
	reflect.TypeFor[uint8](): "u8", reflect.TypeFor[int8](): "i8",
	reflect.TypeFor[uint16](): "u16", reflect.TypeFor[int16](): "i16",
	reflect.TypeFor[uint32](): "u32", reflect.TypeFor[int32](): "i32",
	reflect.TypeFor[uint64](): "u64", reflect.TypeFor[int64](): "i64",
	reflect.TypeFor[float32](): "f32", reflect.TypeFor[float64](): "f64",
	reflect.TypeFor[bool](): "bool", reflect.TypeFor[string](): "string",
}

// describeValue gives a metadata value's GGUF type and a short excerpt:
// "u8 7", `string "gpt2"`, `array of 32000 string ["<unk>", "<s>", "</s>", …]`.
func describeValue(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice {
		return ggufTypeNames[rv.Type()] + " " + excerpt(v, 40)
	}
	// A few short elements say what the array holds and keep the
	// message one line.
	const shown, elemRunes = 3, 16
	var b strings.Builder
	fmt.Fprintf(&b, "array of %d %s [", rv.Len(), ggufTypeNames[rv.Type().Elem()])
	for i := range min(rv.Len(), shown) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(excerpt(rv.Index(i).Interface(), elemRunes))
	}
	if rv.Len() > shown {
		b.WriteString(", …")
	}
	b.WriteString("]")
	return b.String()
}

// fileName quotes a name taken from the file, a metadata key or a tensor
// name, for an error: escapes, NUL bytes and invalid UTF-8 come out as Go
// escapes, and a long name is cut to 64 characters.
func fileName(s string) string { return excerpt(s, 64) }

// excerpt prints a scalar; a string is quoted and cut to maxRunes
// characters, since one can be as long as the file.
func excerpt(v any, maxRunes int) string {
	s, ok := v.(string)
	if !ok {
		return fmt.Sprint(v)
	}
	// A rune takes at most 4 bytes, so a prefix of 4·maxRunes bytes
	// quotes to more than maxRunes runes whenever s is longer.
	cut := len(s) > 4*maxRunes
	q := []rune(strconv.Quote(s[:min(len(s), 4*maxRunes)]))
	if !cut && len(q) <= maxRunes {
		return string(q)
	}
	return string(q[:min(len(q), maxRunes)]) + "…"
}

// uintKey reads an integer metadata value of any integer type; it returns
// def when the key is absent and def >= 0, else fails.
func (f *ggufFile) uintKey(key string, def int) (int, error) {
	v, ok := f.kv[key]
	if !ok {
		if def < 0 {
			return 0, f.wrongValue(key, "an integer")
		}
		return def, nil
	}
	var n int64
	switch x := v.(type) {
	case uint8:
		n = int64(x)
	case int8:
		n = int64(x)
	case uint16:
		n = int64(x)
	case int16:
		n = int64(x)
	case uint32:
		n = int64(x)
	case int32:
		n = int64(x)
	case int64:
		n = x
	case uint64:
		if x > math.MaxInt32 {
			return 0, fmt.Errorf("%s: %s = %d is too large", f.name, key, x)
		}
		n = int64(x)
	default:
		return 0, f.wrongValue(key, "an integer")
	}
	if n < 0 || n > math.MaxInt32 {
		return 0, fmt.Errorf("%s: %s = %d is out of range", f.name, key, n)
	}
	return int(n), nil
}

// floatKey reads a float metadata value. A float32 is widened through its
// shortest decimal form, so 1e-5 stays 1e-5 as in the HF and llama2.c copies
// of the same model.
func (f *ggufFile) floatKey(key string, def float64, required bool) (float64, error) {
	switch x := f.kv[key].(type) {
	case nil:
		if required {
			return 0, f.wrongValue(key, "a float")
		}
		return def, nil
	case float32:
		return strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
	case float64:
		return x, nil
	default:
		return 0, f.wrongValue(key, "a float")
	}
}

// ggufArchs maps the GGUF architectures read to Config.Arch. Mistral is
// "llama" in GGUF; a sliding window makes it ArchMistral again.
var ggufArchs = map[string]string{"llama": "", "qwen2": ArchQwen2, "qwen3": ArchQwen3}

func (f *ggufFile) config() (Config, error) {
	arch, _ := f.kv["general.architecture"].(string)
	var c Config
	var ok bool
	if c.Arch, ok = ggufArchs[arch]; !ok {
		return Config{}, f.wrongValue("general.architecture", `string "llama", "qwen2" or "qwen3"`)
	}
	p := arch + "."
	var err error
	ints := []struct {
		dst *int
		key string
	}{
		{&c.SeqLen, p + "context_length"}, {&c.Dim, p + "embedding_length"},
		{&c.Layers, p + "block_count"}, {&c.HiddenDim, p + "feed_forward_length"},
		{&c.Heads, p + "attention.head_count"},
	}
	for _, k := range ints {
		if *k.dst, err = f.uintKey(k.key, -1); err != nil {
			return c, err
		}
	}
	if c.KVHeads, err = f.uintKey(p+"attention.head_count_kv", c.Heads); err != nil {
		return c, err
	}
	if _, ok := f.kv[p+"attention.key_length"]; ok {
		if c.HeadDim, err = f.uintKey(p+"attention.key_length", -1); err != nil {
			return c, err
		}
	} else if c.Heads == 0 || c.Dim%c.Heads != 0 {
		return c, fmt.Errorf("%s: %sembedding_length %d is not a multiple of %sattention.head_count %d and %sattention.key_length is absent",
			f.name, p, c.Dim, p, c.Heads, p)
	} else {
		c.HeadDim = c.Dim / c.Heads
	}
	for _, k := range []string{p + "attention.value_length", p + "rope.dimension_count"} {
		// Partial rotary embeddings and k/v widths that differ are not LLaMA.
		v, err := f.uintKey(k, c.HeadDim)
		if err != nil {
			return c, err
		}
		if v != c.HeadDim {
			return c, fmt.Errorf("%s: %s = %d, want the head dim %d", f.name, k, v, c.HeadDim)
		}
	}
	if c.NormEps, err = f.floatKey(p+"attention.layer_norm_rms_epsilon", 0, true); err != nil {
		return c, err
	}
	if c.RopeBase, err = f.floatKey(p+"rope.freq_base", 10000, false); err != nil {
		return c, err
	}
	if st, ok := f.kv[p+"rope.scaling.type"]; ok && st != "none" {
		return c, f.wrongValue(p+"rope.scaling.type", `string "none" (RoPE scaling other than rope_freqs.weight is not supported)`)
	}
	s, err := f.floatKey(p+"rope.scale_linear", 1, false)
	if err != nil {
		return c, err
	}
	if s != 1 {
		return c, fmt.Errorf("%s: %srope.scale_linear = %g, want 1 (RoPE scaling other than rope_freqs.weight is not supported)", f.name, p, s)
	}
	if _, ok := f.kv[p+"attention.sliding_window"]; ok {
		// llama.cpp's llama architecture carries Mistral; its qwen2 and
		// qwen3 apply no window, so one there is contradictory.
		if c.Arch != "" {
			return c, fmt.Errorf("%s: %sattention.sliding_window is not supported for architecture %s", f.name, p, arch)
		}
		if c.SlidingWindow, err = f.uintKey(p+"attention.sliding_window", -1); err != nil {
			return c, err
		}
		if c.SlidingWindow == 0 {
			return c, fmt.Errorf("%s: %sattention.sliding_window = 0, want a positive window", f.name, p)
		}
		c.Arch = ArchMistral
	}
	emb, ok := f.tensors["token_embd.weight"]
	if !ok || len(emb.dims) != 2 || emb.dims[1] > math.MaxInt32 {
		return c, fmt.Errorf("%s: token_embd.weight is missing or not a 2-D tensor", f.name)
	}
	c.Vocab = int(emb.dims[1])
	v, err := f.uintKey(p+"vocab_size", c.Vocab)
	if err != nil {
		return c, err
	}
	if v != c.Vocab {
		return c, fmt.Errorf("%s: %svocab_size = %d, want token_embd.weight's %d rows", f.name, p, v, c.Vocab)
	}
	_, hasOutput := f.tensors["output.weight"]
	c.TiedClassifier = !hasOutput
	if err := c.validate(ggufKeys(arch)); err != nil {
		return c, fmt.Errorf("%s: %w", f.name, err)
	}
	return c, nil
}

// ropeFreqs reads rope_freqs.weight, LLaMA-3.1's per-dimension divisors of
// the RoPE frequencies (head dim/2 of them), or returns nil when the file
// has none. A divisor must be finite and positive: 0 would turn every angle
// infinite.
func (f *ggufFile) ropeFreqs(c *Config) ([]float32, error) {
	name := ggufTensorName(roleRopeFreqs, -1)
	if _, ok := f.tensors[name]; !ok {
		return nil, nil
	}
	if !c.ScalableRoPE() {
		return nil, fmt.Errorf("%s: tensor %s is only read for architecture llama", f.name, name)
	}
	freqs, err := tensorReader{check: f.check, read: f.read}.fetch(name, []int{c.HeadDim / 2})
	if err != nil {
		return nil, err
	}
	for i, v := range freqs {
		if !(v > 0) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%s: tensor %s: value %d is %v; RoPE divisors must be finite and positive", f.name, name, i, v)
		}
	}
	return freqs, nil
}

// tokenizer builds the embedded vocabulary: SentencePiece
// (tokenizer.ggml.model "llama") or byte-level BPE ("gpt2"). addBOS is
// tokenizer.ggml.add_bos_token, which says whether a text starts with BOS;
// when absent, llama.cpp's default: yes for SentencePiece, by the
// pre-tokeniser for BPE (tokenizer.DefaultAddBOS).
func (f *ggufFile) tokenizer() (tok tokenizer.Tokenizer, addBOS bool, err error) {
	model, _ := f.kv["tokenizer.ggml.model"].(string)
	if model != "llama" && model != "gpt2" {
		return nil, false, f.wrongValue("tokenizer.ggml.model", `string "llama" (SentencePiece BPE) or "gpt2" (byte-level BPE)`)
	}
	pieces, ok := f.kv["tokenizer.ggml.tokens"].([]string)
	if !ok {
		return nil, false, f.wrongValue("tokenizer.ggml.tokens", "an array of string")
	}
	types := make([]int32, len(pieces))
	if v, present := f.kv["tokenizer.ggml.token_type"]; present {
		if types, ok = v.([]int32); !ok || len(types) != len(pieces) {
			return nil, false, f.wrongValue("tokenizer.ggml.token_type", fmt.Sprintf("an array of %d i32, one type per token", len(pieces)))
		}
	} else {
		for i := range types {
			types[i] = 1 // NORMAL
		}
	}
	if model == "gpt2" {
		return f.bpe(pieces, types)
	}
	scores := make([]float32, len(pieces))
	if v, present := f.kv["tokenizer.ggml.scores"]; present {
		if scores, ok = v.([]float32); !ok || len(scores) != len(pieces) {
			return nil, false, f.wrongValue("tokenizer.ggml.scores", fmt.Sprintf("an array of %d f32, one score per token", len(pieces)))
		}
	}
	bos, err := f.uintKey("tokenizer.ggml.bos_token_id", 1)
	if err != nil {
		return nil, false, err
	}
	eos, err := f.uintKey("tokenizer.ggml.eos_token_id", 2)
	if err != nil {
		return nil, false, err
	}
	unk, err := f.uintKey("tokenizer.ggml.unknown_token_id", 0)
	if err != nil {
		return nil, false, err
	}
	prefix, err := f.boolKey("tokenizer.ggml.add_space_prefix", true)
	if err != nil {
		return nil, false, err
	}
	if addBOS, err = f.boolKey("tokenizer.ggml.add_bos_token", true); err != nil {
		return nil, false, err
	}
	sp, err := tokenizer.NewSentencePiece(pieces, scores, types, bos, eos, unk, prefix)
	if err != nil {
		return nil, false, fmt.Errorf("%s: embedded vocabulary: %w", f.name, err)
	}
	return sp, addBOS, nil
}

// bpe builds a gpt2 vocabulary: merges, pre-tokeniser and special ids
// (absent ids are -1) besides the tokens and types.
func (f *ggufFile) bpe(tokens []string, types []int32) (tokenizer.Tokenizer, bool, error) {
	v := tokenizer.BPEVocab{Tokens: tokens, Types: types, BOS: -1, EOS: -1}
	var ok bool
	if v.Merges, ok = f.kv["tokenizer.ggml.merges"].([]string); !ok {
		return nil, false, f.wrongValue("tokenizer.ggml.merges", "an array of string")
	}
	if v.Pre, ok = f.kv["tokenizer.ggml.pre"].(string); !ok {
		return nil, false, f.wrongValue("tokenizer.ggml.pre", `a string such as "llama-bpe" or "qwen2"`)
	}
	for _, id := range []struct {
		dst *int
		key string
	}{{&v.BOS, "tokenizer.ggml.bos_token_id"}, {&v.EOS, "tokenizer.ggml.eos_token_id"}} {
		if _, present := f.kv[id.key]; present {
			var err error
			if *id.dst, err = f.uintKey(id.key, -1); err != nil {
				return nil, false, err
			}
		}
	}
	var err error
	if v.AddBOS, err = f.boolKey("tokenizer.ggml.add_bos_token", tokenizer.DefaultAddBOS(v.Pre)); err != nil {
		return nil, false, err
	}
	tok, err := tokenizer.NewBPE(v)
	if err != nil {
		return nil, false, fmt.Errorf("%s: embedded vocabulary: %w", f.name, err)
	}
	return tok, v.AddBOS, nil
}

// boolKey reads a bool metadata value, def when absent.
func (f *ggufFile) boolKey(key string, def bool) (bool, error) {
	v, present := f.kv[key]
	if !present {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, f.wrongValue(key, "a bool")
	}
	return b, nil
}
