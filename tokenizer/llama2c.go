package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/prunebench/prunebench/internal/smallfile"
)

// llama2.c hard-codes the special ids and the byte fallback offset.
const (
	llama2cBOS        = 1
	llama2cEOS        = 2
	llama2cByteOffset = 3
	// run.c starts its best-pair search at -1e10 with a strict comparison,
	// so entries scoring at or below it are never merge results.
	llama2cMinScore = -1e10
)

// Llama2C is a llama2.c vocabulary (tokenizer.bin, tok512.bin) with run.c's
// encoder and decoder.
type Llama2C struct {
	pieces []string
	scores []float32
	ids    map[string]int
	space  int // id of " ", the dummy prefix
	merger *merger
}

var _ Tokenizer = (*Llama2C)(nil)

// LoadLlama2C reads a llama2.c vocabulary file; see ParseLlama2C.
func LoadLlama2C(path string, vocabSize int) (*Llama2C, error) {
	data, err := smallfile.Read(path, MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("llama2.c vocabulary: %w", err)
	}
	t, err := ParseLlama2C(data, vocabSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParseLlama2C reads a llama2.c vocabulary: uint32 max_token_length, then
// records of (float32 score, uint32 len, len bytes). The file does not store
// its size: with vocabSize > 0 exactly that many records must be present
// and nothing may follow them (bytes left over mean the vocabulary belongs to
// a different model, which would otherwise silently mis-tokenise); with
// vocabSize == 0 records are read to the end of the data.
//
// Every record must fit max_token_length (run.c's buffers assume it), scores
// must not be NaN, ids 3..258 must be the byte pieces <0x00>..<0xFF> that
// run.c's byte fallback (id = byte+3) relies on, and " " must be present for
// the dummy prefix. When a string occurs twice the lower id wins.
func ParseLlama2C(data []byte, vocabSize int) (*Llama2C, error) {
	if vocabSize < 0 {
		return nil, fmt.Errorf("llama2.c vocabulary: vocab size %d is negative", vocabSize)
	}
	if len(data) < 4 {
		return nil, fmt.Errorf("llama2.c vocabulary: %d bytes, too short for the uint32 max_token_length header", len(data))
	}
	maxLen := binary.LittleEndian.Uint32(data)
	t := &Llama2C{ids: make(map[string]int)}
	off := 4
	for i := 0; vocabSize == 0 && off < len(data) || i < vocabSize; i++ {
		if len(data)-off < 8 {
			return nil, fmt.Errorf("llama2.c vocabulary: record %d at byte %d: truncated header (%d of 8 bytes)%s",
				i, off, len(data)-off, wantRecords(vocabSize))
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
		n := binary.LittleEndian.Uint32(data[off+4:])
		if n > maxLen {
			return nil, fmt.Errorf("llama2.c vocabulary: record %d at byte %d: length %d exceeds max_token_length %d",
				i, off, n, maxLen)
		}
		if uint64(n) > uint64(len(data)-off-8) {
			return nil, fmt.Errorf("llama2.c vocabulary: record %d at byte %d: length %d but only %d bytes remain%s",
				i, off, n, len(data)-off-8, wantRecords(vocabSize))
		}
		if math.IsNaN(float64(score)) {
			return nil, fmt.Errorf("llama2.c vocabulary: record %d at byte %d: score is NaN", i, off)
		}
		s := string(data[off+8 : off+8+int(n)])
		off += 8 + int(n)
		if _, dup := t.ids[s]; !dup {
			t.ids[s] = i
		}
		t.pieces = append(t.pieces, s)
		t.scores = append(t.scores, score)
	}
	if off != len(data) {
		return nil, fmt.Errorf("llama2.c vocabulary: %d bytes follow the %d records requested: the file holds a larger vocabulary than the model's",
			len(data)-off, vocabSize)
	}
	if len(t.pieces) < llama2cByteOffset+256 {
		return nil, fmt.Errorf("llama2.c vocabulary: %d records, want at least %d (3 specials and 256 byte pieces)",
			len(t.pieces), llama2cByteOffset+256)
	}
	for b := range 256 {
		want := fmt.Sprintf("<0x%02X>", b)
		if got := t.pieces[b+llama2cByteOffset]; got != want {
			return nil, fmt.Errorf("llama2.c vocabulary: record %d is %q, want %q: run.c's byte fallback maps byte b to id b+3",
				b+llama2cByteOffset, got, want)
		}
	}
	space, ok := t.ids[" "]
	if !ok {
		return nil, fmt.Errorf("llama2.c vocabulary: no \" \" record, which run.c emits as the dummy prefix")
	}
	t.space = space
	t.merger = newMerger(t.pieces, t.scores, t.ids, func(id int) bool { return t.scores[id] > llama2cMinScore })
	return t, nil
}

func wantRecords(vocabSize int) string {
	if vocabSize == 0 {
		return ""
	}
	return fmt.Sprintf("; want %d records", vocabSize)
}

// Encode follows run.c's encode: BOS, the " " dummy prefix for non-empty
// text, one symbol per UTF-8 code point (a lead byte and at most 3
// continuation bytes) or per byte (id byte+3) when the code point is not an
// entry, then greedy highest-score merging, then EOS. Unlike run.c, a NUL
// byte is ordinary text rather than the end of the string.
func (t *Llama2C) Encode(text string, bos, eos bool) []int {
	var out []int
	if bos {
		out = append(out, llama2cBOS)
	}
	sm := streamMerger{m: t.merger, emit: func(s symbol) { out = append(out, s.id) }}
	t.symbols(text, sm.add)
	sm.flush(true)
	if eos {
		out = append(out, llama2cEOS)
	}
	return out
}

// Decode follows run.c: the entry's text, without its leading space after
// BOS, with <0xHH> entries turned into the raw byte. Ids outside the
// vocabulary decode to "".
func (t *Llama2C) Decode(prev, id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	p := t.pieces[id]
	if prev == llama2cBOS {
		p = strings.TrimPrefix(p, " ")
	}
	if b, ok := bytePiece(p); ok {
		return string([]byte{b})
	}
	return p
}

// bytePiece parses "<0xHH>" (either hex case, as run.c's sscanf accepts).
func bytePiece(p string) (byte, bool) {
	if len(p) != 6 || p[:3] != "<0x" || p[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexDigit(p[3])
	lo, ok2 := hexDigit(p[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// Piece returns the stored string of id ("" outside the vocabulary).
func (t *Llama2C) Piece(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// VocabSize is the number of records.
func (t *Llama2C) VocabSize() int { return len(t.pieces) }

// BOS is 1, as run.c hard-codes.
func (t *Llama2C) BOS() int { return llama2cBOS }

// EOS is 2, as run.c hard-codes.
func (t *Llama2C) EOS() int { return llama2cEOS }

// symbols hands add the sequence run.c starts merging from.
func (t *Llama2C) symbols(text string, add func(symbol)) {
	if text != "" {
		add(symbol{text: t.pieces[t.space], id: t.space})
	}
	for i := 0; i < len(text); {
		j := i + 1
		for j < len(text) && j-i < 4 && text[j]&0xC0 == 0x80 {
			j++
		}
		if id, ok := t.ids[text[i:j]]; ok {
			add(symbol{text: t.pieces[id], id: id})
		} else {
			for k := i; k < j; k++ {
				id := int(text[k]) + llama2cByteOffset
				add(symbol{text: t.pieces[id], id: id})
			}
		}
		i = j
	}
}
