package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/prunebench/prunebench/internal/jsonerr"
)

// MaxHeaderSize is the largest JSON header accepted, the reference reader's cap.
const MaxHeaderSize = 100 << 20

// TensorInfo describes one tensor of a file. Begin and End are byte offsets
// relative to the start of the data buffer, half-open.
type TensorInfo struct {
	Name       string
	DType      DType
	Shape      []int
	Begin, End int64
}

// NumElements is the product of the shape (1 for a scalar).
func (t TensorInfo) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is a parsed safetensors file. Tensor data is read on demand.
type File struct {
	path      string
	r         io.ReaderAt
	closer    io.Closer
	dataStart int64
	tensors   map[string]TensorInfo
	names     []string
	meta      map[string]string
}

// Open parses the header of the file at path. Close releases it.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := parse(fh, st.Size(), path)
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// Parse reads a safetensors header from r, whose total length is size.
func Parse(r io.ReaderAt, size int64) (*File, error) { return parse(r, size, "safetensors") }

// Close releases the underlying file when the File came from Open.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	err := f.closer.Close()
	f.closer = nil
	return err
}

// Path is the file name used in error messages.
func (f *File) Path() string { return f.path }

// Paths is the file's path as a one-element list, the form Set.Paths has.
func (f *File) Paths() []string { return []string{f.path} }

// Names lists the tensors in name order.
func (f *File) Names() []string { return append([]string(nil), f.names...) }

// Info returns the description of a tensor.
func (f *File) Info(name string) (TensorInfo, bool) {
	t, ok := f.tensors[name]
	return t, ok
}

// Metadata returns the __metadata__ map (nil when absent).
func (f *File) Metadata() map[string]string { return f.meta }

// rawEntry is one header value. Pointers tell a missing field from a zero;
// the arrays stay raw until their length is known to be sane.
type rawEntry struct {
	DType       *string         `json:"dtype"`
	Shape       json.RawMessage `json:"shape"`
	DataOffsets json.RawMessage `json:"data_offsets"`
}

// MaxRank is the most dimensions a tensor may have: numpy's own limit. A
// larger shape is refused before it is decoded, so a header of one shape
// with millions of entries cannot cost many times its size in memory.
const MaxRank = 64

// ints decodes a JSON array of at most limit integers; nil when absent or
// null.
func ints(raw json.RawMessage, limit int, what string) ([]int64, error) {
	if n := bytes.Count(raw, []byte(",")) + 1; n > limit {
		return nil, fmt.Errorf("%s has %d entries, more than %d", what, n, limit)
	}
	var v []int64
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", what, jsonerr.Describe(err))
		}
	}
	return v, nil
}

func parse(r io.ReaderAt, size int64, path string) (*File, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: "+format, append([]any{path}, args...)...)
	}
	if size < 8 {
		return nil, fail("file is %d bytes, too short for the 8-byte header length", size)
	}
	var nb [8]byte
	if _, err := r.ReadAt(nb[:], 0); err != nil {
		return nil, fail("reading header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(nb[:])
	if n > MaxHeaderSize {
		return nil, fail("header length %d exceeds the %d-byte limit", n, MaxHeaderSize)
	}
	if int64(n) > size-8 {
		return nil, fail("header length %d runs past the end of the %d-byte file", n, size)
	}
	if n == 0 {
		return nil, fail("header does not start with '{' (it is empty)")
	}
	hdr := make([]byte, n)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, fail("reading %d-byte header: %w", n, err)
	}
	if hdr[0] != '{' {
		return nil, fail("header does not start with '{'")
	}
	f := &File{path: path, r: r, dataStart: 8 + int64(n), tensors: map[string]TensorInfo{}}
	dataLen := size - f.dataStart
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if _, err := dec.Token(); err != nil {
		return nil, fail("header JSON: %w", jsonerr.Describe(err))
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fail("header JSON: %w", jsonerr.Describe(err))
		}
		name, _ := tok.(string)
		if seen[name] {
			return nil, fail("header lists %q twice", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			if err := dec.Decode(&f.meta); err != nil {
				return nil, fail("__metadata__ must map strings to strings: %w", jsonerr.Describe(err))
			}
			continue
		}
		var e rawEntry
		if err := dec.Decode(&e); err != nil {
			return nil, fail("tensor %q: %w", name, jsonerr.Describe(err))
		}
		t, err := checkEntry(name, e, dataLen)
		if err != nil {
			return nil, fail("%w", err)
		}
		f.tensors[name] = t
		f.names = append(f.names, name)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fail("header JSON: %w", jsonerr.Describe(err))
	}
	// Only padding may follow the object.
	if rest := bytes.TrimRight(hdr[dec.InputOffset():], " \t\r\n\x00"); len(rest) != 0 {
		return nil, fail("header has %d unexpected bytes after the JSON object", len(rest))
	}
	sort.Strings(f.names)
	if err := checkLayout(f, dataLen); err != nil {
		return nil, fail("%w", err)
	}
	return f, nil
}

func checkEntry(name string, e rawEntry, dataLen int64) (TensorInfo, error) {
	dims, err := ints(e.Shape, MaxRank, "shape")
	if err != nil {
		return TensorInfo{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	offs, err := ints(e.DataOffsets, 3, "data_offsets") // 3 so that the error can say how many
	if err != nil {
		return TensorInfo{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	if e.DType == nil || dims == nil || offs == nil {
		return TensorInfo{}, fmt.Errorf("tensor %q: needs dtype, shape and data_offsets", name)
	}
	dt := DType(*e.DType)
	if dt.Size() == 0 {
		return TensorInfo{}, fmt.Errorf("tensor %q: unknown dtype %q", name, *e.DType)
	}
	numel := int64(1)
	shape := make([]int, len(dims))
	for i, d := range dims {
		if d < 0 {
			return TensorInfo{}, fmt.Errorf("tensor %q: negative dimension %d in shape %v", name, d, dims)
		}
		if d > 0 && numel > math.MaxInt64/int64(dt.Size())/d {
			return TensorInfo{}, fmt.Errorf("tensor %q: shape %v overflows", name, dims)
		}
		numel *= d
		shape[i] = int(d)
	}
	if len(offs) != 2 {
		return TensorInfo{}, fmt.Errorf("tensor %q: data_offsets has %d entries, want 2", name, len(offs))
	}
	begin, end := offs[0], offs[1]
	if begin < 0 || end < begin || end > dataLen {
		return TensorInfo{}, fmt.Errorf("tensor %q: data_offsets [%d, %d] outside the %d-byte data buffer", name, begin, end, dataLen)
	}
	if want := numel * int64(dt.Size()); end-begin != want {
		return TensorInfo{}, fmt.Errorf("tensor %q: data_offsets span %d bytes, but %s%v needs %d", name, end-begin, dt, dims, want)
	}
	return TensorInfo{Name: name, DType: dt, Shape: shape, Begin: begin, End: end}, nil
}

// checkLayout requires the tensors to tile the data buffer exactly, as the
// reference reader does: overlaps, holes and trailing bytes all mean the
// header and the data disagree.
func checkLayout(f *File, dataLen int64) error {
	ts := make([]TensorInfo, 0, len(f.tensors))
	for _, t := range f.tensors {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].Begin != ts[j].Begin {
			return ts[i].Begin < ts[j].Begin
		}
		if ts[i].End != ts[j].End {
			return ts[i].End < ts[j].End
		}
		return ts[i].Name < ts[j].Name
	})
	pos := int64(0)
	for i, t := range ts {
		if t.Begin < pos {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap tensor %q", t.Name, t.Begin, t.End, ts[i-1].Name)
		}
		if t.Begin > pos {
			return fmt.Errorf("tensor %q: data_offsets start at %d, leaving a gap after byte %d", t.Name, t.Begin, pos)
		}
		pos = t.End
	}
	if pos != dataLen {
		last := "no tensor"
		if len(ts) > 0 {
			last = fmt.Sprintf("tensor %q", ts[len(ts)-1].Name)
		}
		return fmt.Errorf("tensors cover %d bytes but the data buffer is %d bytes: %d bytes follow %s", pos, dataLen, dataLen-pos, last)
	}
	return nil
}

// ErrDType is wrapped by accessors asked for a tensor of another dtype.
var ErrDType = errors.New("unsupported dtype")

func (f *File) raw(name string, allowed ...DType) (TensorInfo, []byte, error) {
	t, ok := f.tensors[name]
	if !ok {
		return t, nil, fmt.Errorf("%s: no tensor %q", f.path, name)
	}
	okType := false
	for _, d := range allowed {
		okType = okType || t.DType == d
	}
	if !okType {
		return t, nil, fmt.Errorf("%s: tensor %q has dtype %s, want one of %v: %w", f.path, name, t.DType, allowed, ErrDType)
	}
	buf := make([]byte, t.End-t.Begin)
	if _, err := f.r.ReadAt(buf, f.dataStart+t.Begin); err != nil {
		return t, nil, fmt.Errorf("%s: reading tensor %q: %w", f.path, name, err)
	}
	return t, buf, nil
}

// Float32 reads an F32, F16 or BF16 tensor as float32, with its shape.
func (f *File) Float32(name string) ([]float32, []int, error) {
	t, ok := f.tensors[name]
	if !ok {
		return nil, nil, fmt.Errorf("%s: no tensor %q", f.path, name)
	}
	out := make([]float32, t.NumElements())
	if err := f.Float32Into(name, out); err != nil {
		return nil, nil, err
	}
	return out, t.Shape, nil
}

// Float32Into reads an F32, F16 or BF16 tensor into dst, which must hold
// exactly its elements: the streaming loaders reuse one buffer per matrix.
func (f *File) Float32Into(name string, dst []float32) error {
	t, ok := f.tensors[name]
	if !ok {
		return fmt.Errorf("%s: no tensor %q", f.path, name)
	}
	switch t.DType {
	case F32, F16, BF16:
	default:
		return fmt.Errorf("%s: tensor %q has dtype %s, want one of %v: %w", f.path, name, t.DType, []DType{F32, F16, BF16}, ErrDType)
	}
	if n := t.NumElements(); n != len(dst) {
		return fmt.Errorf("%s: tensor %q has %d elements, the buffer %d", f.path, name, n, len(dst))
	}
	if err := ReadFloat32At(f.r, f.dataStart+t.Begin, t.DType, dst); err != nil {
		return fmt.Errorf("%s: reading tensor %q: %w", f.path, name, err)
	}
	return nil
}

// Float64 reads an F64 tensor.
func (f *File) Float64(name string) ([]float64, []int, error) {
	t, buf, err := f.raw(name, F64)
	if err != nil {
		return nil, nil, err
	}
	out := make([]float64, t.NumElements())
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:]))
	}
	return out, t.Shape, nil
}

// Uint8 reads a U8 or BOOL tensor (masks are stored either way).
func (f *File) Uint8(name string) ([]uint8, []int, error) {
	t, buf, err := f.raw(name, U8, BOOL)
	if err != nil {
		return nil, nil, err
	}
	return buf, t.Shape, nil
}
