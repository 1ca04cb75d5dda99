package safetensors

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"

	"github.com/prunebench/prunebench/internal/atomicfile"
)

// Writer collects tensors and writes them as one safetensors file or as
// shards. It keeps references to the caller's slices, which must not change
// until the write returns.
type Writer struct {
	tensors map[string]pending
	meta    map[string]string
}

type pending struct {
	dtype DType
	shape []int
	f32   []float32
	f64   []float64
	u8    []uint8
	// load, when set, gives the float32 data at write time (AddFloat32Func).
	load func() ([]float32, error)
}

func (p pending) bytes() int64 { return int64(p.count()) * int64(p.dtype.Size()) }

func (p pending) count() int {
	switch {
	case p.f64 != nil:
		return len(p.f64)
	case p.u8 != nil:
		return len(p.u8)
	case p.load != nil:
		n := 1
		for _, d := range p.shape {
			n *= d
		}
		return n
	}
	return len(p.f32)
}

// NewWriter returns an empty Writer.
func NewWriter() *Writer { return &Writer{tensors: map[string]pending{}} }

// SetMetadata sets a __metadata__ entry.
func (w *Writer) SetMetadata(key, value string) {
	if w.meta == nil {
		w.meta = map[string]string{}
	}
	w.meta[key] = value
}

func (w *Writer) add(name string, p pending) error {
	if name == "" || name == "__metadata__" {
		return fmt.Errorf("safetensors: invalid tensor name %q", name)
	}
	if _, dup := w.tensors[name]; dup {
		return fmt.Errorf("safetensors: tensor %q added twice", name)
	}
	n := 1
	for _, d := range p.shape {
		if d < 0 {
			return fmt.Errorf("safetensors: tensor %q: negative dimension in shape %v", name, p.shape)
		}
		n *= d
	}
	if n != p.count() {
		return fmt.Errorf("safetensors: tensor %q: shape %v holds %d elements, data has %d", name, p.shape, n, p.count())
	}
	p.shape = append([]int(nil), p.shape...)
	w.tensors[name] = p
	return nil
}

// AddFloat32 adds a tensor stored as dtype F32, F16 or BF16 (converted with
// round-to-nearest-even).
func (w *Writer) AddFloat32(name string, shape []int, data []float32, dtype DType) error {
	if dtype != F32 && dtype != F16 && dtype != BF16 {
		return fmt.Errorf("safetensors: tensor %q: cannot store float32 data as %s", name, dtype)
	}
	if data == nil {
		data = []float32{}
	}
	return w.add(name, pending{dtype: dtype, shape: shape, f32: data})
}

// AddFloat32Func is AddFloat32 for data that load gives only when the
// tensor is written, so that a model larger than memory is saved one
// tensor at a time. load must return exactly the shape's elements.
func (w *Writer) AddFloat32Func(name string, shape []int, dtype DType, load func() ([]float32, error)) error {
	if dtype != F32 && dtype != F16 && dtype != BF16 {
		return fmt.Errorf("safetensors: tensor %q: cannot store float32 data as %s", name, dtype)
	}
	return w.add(name, pending{dtype: dtype, shape: shape, load: load})
}

// AddFloat64 adds an F64 tensor.
func (w *Writer) AddFloat64(name string, shape []int, data []float64) error {
	if data == nil {
		data = []float64{}
	}
	return w.add(name, pending{dtype: F64, shape: shape, f64: data})
}

// AddUint8 adds a U8 tensor.
func (w *Writer) AddUint8(name string, shape []int, data []uint8) error {
	if data == nil {
		data = []uint8{}
	}
	return w.add(name, pending{dtype: U8, shape: shape, u8: data})
}

type headerEntry struct {
	DType       DType    `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// WriteFile writes every tensor, in name order, to path. The file is written
// beside path under a temporary name and renamed into place, so readers never
// see a partial file.
func (w *Writer) WriteFile(path string) error {
	return w.writeFile(context.Background(), path, w.sortedNames())
}

func (w *Writer) sortedNames() []string {
	names := make([]string, 0, len(w.tensors))
	for n := range w.tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// writeFile writes names to path, giving up between tensors once ctx is done.
func (w *Writer) writeFile(ctx context.Context, path string, names []string) error {
	hdr := map[string]any{}
	if len(w.meta) > 0 {
		hdr["__metadata__"] = w.meta
	}
	off := int64(0)
	for _, n := range names {
		p := w.tensors[n]
		hdr[n] = headerEntry{DType: p.dtype, Shape: p.shape, DataOffsets: [2]int64{off, off + p.bytes()}}
		off += p.bytes()
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		return fmt.Errorf("%s: encoding header: %w", path, err)
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	return atomicWrite(path, func(out io.Writer) error {
		if err := binary.Write(out, binary.LittleEndian, uint64(len(js))); err != nil {
			return err
		}
		if _, err := out.Write(js); err != nil {
			return err
		}
		for _, n := range names {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := w.tensors[n].encode(out); err != nil {
				return fmt.Errorf("tensor %q: %w", n, err)
			}
		}
		return nil
	})
}

func (p pending) encode(out io.Writer) error {
	if p.load != nil {
		data, err := p.load()
		if err != nil {
			return err
		}
		if len(data) != p.count() {
			return fmt.Errorf("%d values given for shape %v", len(data), p.shape)
		}
		p.f32, p.load = data, nil
	}
	const chunk = 1 << 16
	w := p.dtype.Size()
	buf := make([]byte, chunk*w)
	for lo := 0; lo < p.count(); lo += chunk {
		hi := min(lo+chunk, p.count())
		b := buf[:(hi-lo)*w]
		for i := lo; i < hi; i++ {
			o := (i - lo) * w
			switch p.dtype {
			case F32:
				binary.LittleEndian.PutUint32(b[o:], math.Float32bits(p.f32[i]))
			case F16:
				binary.LittleEndian.PutUint16(b[o:], Float32ToHalf(p.f32[i]))
			case BF16:
				binary.LittleEndian.PutUint16(b[o:], Float32ToBF16(p.f32[i]))
			case F64:
				binary.LittleEndian.PutUint64(b[o:], math.Float64bits(p.f64[i]))
			default:
				b[o] = p.u8[i]
			}
		}
		if _, err := out.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// atomicWrite streams fill into a temporary file next to path and commits it
// through atomicfile (synced, given the usual permissions, renamed over
// path); on any error the temporary file is removed.
func atomicWrite(path string, fill func(io.Writer) error) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		f.Abort()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Commit()
}

// IndexName is the Hugging Face index file of a sharded checkpoint.
const IndexName = "model.safetensors.index.json"

// SingleName is the file name of an unsharded checkpoint.
const SingleName = "model.safetensors"

// Index is the content of model.safetensors.index.json.
type Index struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// WriteSharded writes the tensors into dir: as model.safetensors when their
// data fits in maxShardBytes, else as model-0000K-of-0000N.safetensors shards
// (tensors in name order, a new shard whenever the next tensor would exceed
// the limit) plus model.safetensors.index.json, written last. It returns the
// names of the files written.
func (w *Writer) WriteSharded(dir string, maxShardBytes int64) ([]string, error) {
	return w.WriteShardedContext(context.Background(), dir, maxShardBytes)
}

// WriteShardedContext is WriteSharded that stops between tensors once ctx is
// done, returning its error; the file being written is removed, files
// already finished stay.
func (w *Writer) WriteShardedContext(ctx context.Context, dir string, maxShardBytes int64) ([]string, error) {
	if maxShardBytes <= 0 {
		return nil, fmt.Errorf("safetensors: shard size limit %d must be positive", maxShardBytes)
	}
	names := w.sortedNames()
	var groups [][]string
	var total, cur int64
	for _, n := range names {
		b := w.tensors[n].bytes()
		if len(groups) == 0 || (cur+b > maxShardBytes && cur > 0) {
			groups = append(groups, nil)
			cur = 0
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], n)
		cur += b
		total += b
	}
	if len(groups) <= 1 {
		return []string{SingleName}, w.writeFile(ctx, filepath.Join(dir, SingleName), names)
	}
	idx := Index{Metadata: map[string]any{"total_size": total}, WeightMap: map[string]string{}}
	var files []string
	for k, g := range groups {
		file := fmt.Sprintf("model-%05d-of-%05d.safetensors", k+1, len(groups))
		if err := w.writeFile(ctx, filepath.Join(dir, file), g); err != nil {
			return files, err
		}
		files = append(files, file)
		for _, n := range g {
			idx.WeightMap[n] = file
		}
	}
	js, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return files, fmt.Errorf("%s: %w", IndexName, err)
	}
	path := filepath.Join(dir, IndexName)
	if err := atomicWrite(path, func(out io.Writer) error { _, err := out.Write(append(js, '\n')); return err }); err != nil {
		return files, err
	}
	return append(files, IndexName), nil
}
