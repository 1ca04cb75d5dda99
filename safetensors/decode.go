package safetensors

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"
	"unsafe"

	"github.com/prunebench/prunebench/linalg"
)

// littleEndianHost is whether float32s are stored in memory as F32 tensors
// are in the files.
var littleEndianHost = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// readChunkBytes bounds the raw bytes ReadFloat32At holds at once, so that
// converting a 7B model's 180 MB matrix does not first buffer all of it.
const readChunkBytes = 4 << 20

// ReadFloat32At reads len(dst) values of dtype dt (F32, F16 or BF16,
// little-endian) starting at byte off of r and converts them into dst. It
// reads in chunks of a few MiB and converts each on every core; F32 on a
// little-endian host is read straight into dst.
func ReadFloat32At(r io.ReaderAt, off int64, dt DType, dst []float32) error {
	w := dt.Size()
	switch dt {
	case F32, F16, BF16:
	default:
		return fmt.Errorf("dtype %s is not a float32, float16 or bfloat16: %w", dt, ErrDType)
	}
	if dt == F32 && littleEndianHost && len(dst) > 0 {
		// The file's bytes are dst's: read them in place, with no buffer
		// and no conversion pass, in one positioned read per core (a
		// single one copies from the page cache on one core only).
		raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), 4*len(dst))
		var mu sync.Mutex
		var first error
		firstAt := len(dst)
		linalg.ParallelFor(len(dst), func(a, b int) {
			if _, err := r.ReadAt(raw[4*a:4*b], off+4*int64(a)); err != nil {
				mu.Lock()
				if a < firstAt { // the error of the earliest part, whatever finished first
					first, firstAt = err, a
				}
				mu.Unlock()
			}
		})
		return first
	}
	per := readChunkBytes / w
	buf := make([]byte, min(len(dst), per)*w)
	for lo := 0; lo < len(dst); lo += per {
		hi := min(lo+per, len(dst))
		raw := buf[:(hi-lo)*w]
		if _, err := r.ReadAt(raw, off+int64(lo)*int64(w)); err != nil {
			return err
		}
		out := dst[lo:hi]
		// The dtype is chosen once per slice, not once per value.
		linalg.ParallelFor(len(out), func(a, b int) {
			switch dt {
			case F32:
				for i := a; i < b; i++ {
					out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
				}
			case F16:
				for i := a; i < b; i++ {
					out[i] = HalfToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
				}
			default:
				for i := a; i < b; i++ {
					out[i] = BF16ToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
				}
			}
		})
	}
	return nil
}
