package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Protobuf wire types (https://protobuf.dev/programming-guides/encoding).
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// pbReader walks the fields of one protobuf message. Offsets in errors are
// absolute within the file so that a bad byte can be found with a hex dump.
type pbReader struct {
	buf  []byte
	pos  int
	base int    // file offset of buf[0]
	name string // message path for errors, e.g. "ModelProto.pieces[3]"
}

// pbField is one decoded field. Only the member matching wire is set.
type pbField struct {
	num   uint64
	wire  int
	at    int // file offset of the key
	u     uint64
	bytes []byte
	bytAt int // file offset of bytes[0]
}

func (r *pbReader) errorf(at int, format string, args ...any) error {
	return fmt.Errorf("byte %d: %s: %s", r.base+at, r.name, fmt.Sprintf(format, args...))
}

func (r *pbReader) more() bool { return r.pos < len(r.buf) }

func (r *pbReader) varint() (uint64, error) {
	start := r.pos
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if r.pos >= len(r.buf) {
			return 0, r.errorf(start, "truncated varint")
		}
		b := r.buf[r.pos]
		r.pos++
		if shift == 63 && b > 1 {
			return 0, r.errorf(start, "varint overflows 64 bits")
		}
		v |= uint64(b&0x7F) << shift
		if b < 0x80 {
			return v, nil
		}
	}
}

// next reads one field, whatever its type, so callers can skip unknown ones
// by ignoring the result.
func (r *pbReader) next() (pbField, error) {
	f := pbField{at: r.pos}
	key, err := r.varint()
	if err != nil {
		return f, err
	}
	f.num, f.wire = key>>3, int(key&7)
	if f.num == 0 {
		return f, r.errorf(f.at, "field number 0 is invalid")
	}
	switch f.wire {
	case wireVarint:
		f.u, err = r.varint()
	case wireFixed64, wireFixed32:
		size := 8
		if f.wire == wireFixed32 {
			size = 4
		}
		if len(r.buf)-r.pos < size {
			return f, r.errorf(r.pos, "field %d: truncated fixed%d (%d bytes left)", f.num, size*8, len(r.buf)-r.pos)
		}
		if size == 4 {
			f.u = uint64(binary.LittleEndian.Uint32(r.buf[r.pos:]))
		} else {
			f.u = binary.LittleEndian.Uint64(r.buf[r.pos:])
		}
		r.pos += size
	case wireBytes:
		lenAt := r.pos
		var n uint64
		n, err = r.varint()
		if err == nil && n > uint64(len(r.buf)-r.pos) {
			err = r.errorf(lenAt, "field %d: length %d but only %d bytes left", f.num, n, len(r.buf)-r.pos)
		}
		if err == nil {
			f.bytes, f.bytAt = r.buf[r.pos:r.pos+int(n)], r.base+r.pos
			r.pos += int(n)
		}
	default:
		err = r.errorf(f.at, "field %d: unsupported wire type %d (groups are not used by sentencepiece)", f.num, f.wire)
	}
	return f, err
}

// sub returns a reader over a length-delimited field holding a message.
func (r *pbReader) sub(f pbField, name string) (*pbReader, error) {
	if f.wire != wireBytes {
		return nil, r.errorf(f.at, "field %d (%s): wire type %d, want %d (message)", f.num, name, f.wire, wireBytes)
	}
	return &pbReader{buf: f.bytes, base: f.bytAt, name: name}, nil
}

func (r *pbReader) want(f pbField, wire int, what string) error {
	if f.wire != wire {
		return r.errorf(f.at, "field %d (%s): wire type %d, want %d", f.num, what, f.wire, wire)
	}
	return nil
}

// int32 decodes an int32/enum varint, which protobuf sign-extends to 64 bits.
func (r *pbReader) int32(f pbField, what string) (int32, error) {
	if err := r.want(f, wireVarint, what); err != nil {
		return 0, err
	}
	v := int64(f.u)
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, r.errorf(f.at, "field %d (%s): %d does not fit int32", f.num, what, v)
	}
	return int32(v), nil
}

func (r *pbReader) bool(f pbField, what string) (bool, error) {
	if err := r.want(f, wireVarint, what); err != nil {
		return false, err
	}
	return f.u != 0, nil
}

func (r *pbReader) float32(f pbField, what string) (float32, error) {
	if err := r.want(f, wireFixed32, what); err != nil {
		return 0, err
	}
	return math.Float32frombits(uint32(f.u)), nil
}

// The writer side: append one field in the wire format the reader above
// decodes. Only what MarshalModel needs.

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendKey(b []byte, num, wire int) []byte { return appendVarint(b, uint64(num)<<3|uint64(wire)) }

// appendInt32 writes an int32/enum/bool varint; negative values are
// sign-extended to 64 bits as protobuf requires.
func appendInt32(b []byte, num int, v int32) []byte {
	return appendVarint(appendKey(b, num, wireVarint), uint64(int64(v)))
}

func appendBool(b []byte, num int, v bool) []byte {
	var x int32
	if v {
		x = 1
	}
	return appendInt32(b, num, x)
}

func appendFloat32(b []byte, num int, v float32) []byte {
	return binary.LittleEndian.AppendUint32(appendKey(b, num, wireFixed32), math.Float32bits(v))
}

// appendBytes writes a string, bytes or embedded message field.
func appendBytes(b []byte, num int, v []byte) []byte {
	return append(appendVarint(appendKey(b, num, wireBytes), uint64(len(v))), v...)
}
