package safetensors

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/prunebench/prunebench/linalg"
)

// readChunkBytes bounds the raw bytes ReadFloat32At holds at once, so that
// converting a 7B model's 180 MB matrix does not first buffer all of it.
const readChunkBytes = 4 << 20

// ReadFloat32At reads len(dst) values of dtype dt (F32, F16 or BF16,
// little-endian) starting at byte off of r and converts them into dst. It
// reads in chunks of a few MiB and converts each on every core.
func ReadFloat32At(r io.ReaderAt, off int64, dt DType, dst []float32) error {
	w := dt.Size()
	switch dt {
	case F32, F16, BF16:
	default:
		return fmt.Errorf("dtype %s is not a float32, float16 or bfloat16: %w", dt, ErrDType)
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
		linalg.ParallelFor(len(out), func(a, b int) {
			for i := a; i < b; i++ {
				switch dt {
				case F32:
					out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
				case F16:
					out[i] = HalfToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
				default:
					out[i] = BF16ToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
				}
			}
		})
	}
	return nil
}
