package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// vocabRecord is one entry of a llama2.c vocabulary file built by a test.
type vocabRecord struct {
	text  string
	score float32
}

// llama2cFile serialises records in llama2.c's layout.
func llama2cFile(maxLen uint32, recs []vocabRecord) []byte {
	b := binary.LittleEndian.AppendUint32(nil, maxLen)
	for _, r := range recs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(r.score))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r.text)))
		b = append(b, r.text...)
	}
	return b
}

// llama2cBase is what tokenizer.py always writes first: <unk>, BOS, EOS and
// the 256 byte pieces.
func llama2cBase() []vocabRecord {
	recs := []vocabRecord{{"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}}
	for b := range 256 {
		recs = append(recs, vocabRecord{fmt.Sprintf("<0x%02X>", b), 0})
	}
	return recs
}

func maxLen(recs []vocabRecord) uint32 {
	m := 0
	for _, r := range recs {
		m = max(m, len(r.text))
	}
	return uint32(m)
}

func mustLlama2C(t testing.TB, recs []vocabRecord) *Llama2C {
	t.Helper()
	tok, err := ParseLlama2C(llama2cFile(maxLen(recs), recs), 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Protobuf encoding helpers.

func pbVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func pbKey(b []byte, num, wire int) []byte { return pbVarint(b, uint64(num)<<3|uint64(wire)) }

func pbBytes(num int, payload []byte) []byte {
	return append(pbVarint(pbKey(nil, num, wireBytes), uint64(len(payload))), payload...)
}

func pbUint(num int, v uint64) []byte { return pbVarint(pbKey(nil, num, wireVarint), v) }

func pbInt(num int, v int32) []byte { return pbUint(num, uint64(int64(v))) }

func pbFloat(num int, f float32) []byte {
	return binary.LittleEndian.AppendUint32(pbKey(nil, num, wireFixed32), math.Float32bits(f))
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// spPiece is one ModelProto.SentencePiece.
type spPiece struct {
	text  string
	score float32
	typ   int32
}

func (p spPiece) proto() []byte {
	return pbBytes(1, cat(pbBytes(1, []byte(p.text)), pbFloat(2, p.score), pbInt(3, p.typ)))
}

// spBase mirrors Llama-2's special and byte pieces.
func spBase() []spPiece {
	ps := []spPiece{{"<unk>", 0, typeUnknown}, {"<s>", 0, typeControl}, {"</s>", 0, typeControl}}
	for b := range 256 {
		ps = append(ps, spPiece{fmt.Sprintf("<0x%02X>", b), 0, typeByte})
	}
	return ps
}

// bpeTrainer is a BPE trainer_spec with byte fallback, like Llama-2's.
var bpeTrainer = pbBytes(2, cat(pbInt(3, modelBPE), pbUint(35, 1)))

// llamaNormalizer is Llama-2's normalizer_spec.
var llamaNormalizer = pbBytes(3, cat(pbBytes(1, []byte("identity")), pbUint(3, 1), pbUint(4, 0)))

func spModel(pieces []spPiece, specs ...[]byte) []byte {
	var b []byte
	for _, p := range pieces {
		b = append(b, p.proto()...)
	}
	return cat(append([][]byte{b}, specs...)...)
}

func mustSP(t testing.TB, data []byte) *SentencePiece {
	t.Helper()
	tok, err := ParseSentencePiece(data)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// naiveRunC is run.c's encode transcribed literally, with its quadratic
// rescan after every merge.
func naiveRunC(t *Llama2C, text string) []int {
	var toks []int
	if text != "" {
		toks = append(toks, t.ids[" "])
	}
	b := []byte(text)
	for i := 0; i < len(b); {
		n := 1
		for i+n < len(b) && n < 4 && b[i+n]&0xC0 == 0x80 {
			n++
		}
		if id, ok := t.ids[string(b[i:i+n])]; ok {
			toks = append(toks, id)
		} else {
			for _, c := range b[i : i+n] {
				toks = append(toks, int(c)+3)
			}
		}
		i += n
	}
	for {
		best, bestID, bestIdx := float32(-1e10), -1, -1
		for i := 0; i+1 < len(toks); i++ {
			id, ok := t.ids[t.pieces[toks[i]]+t.pieces[toks[i+1]]]
			if ok && t.scores[id] > best {
				best, bestID, bestIdx = t.scores[id], id, i
			}
		}
		if bestIdx < 0 {
			return toks
		}
		toks[bestIdx] = bestID
		toks = append(toks[:bestIdx+1], toks[bestIdx+2:]...)
	}
}

// naiveSP is SentencePiece's BPE encode with a quadratic rescan.
func naiveSP(t *SentencePiece, text string) []int {
	norm := t.normalize(text)
	var syms []string
	for _, r := range norm {
		syms = append(syms, string(r))
	}
	for {
		bestIdx, best := -1, float32(0)
		for i := 0; i+1 < len(syms); i++ {
			id, ok := t.ids[syms[i]+syms[i+1]]
			if !ok || t.types[id] != typeNormal && t.types[id] != typeUserDefined {
				continue
			}
			if bestIdx < 0 || t.scores[id] > best {
				best, bestIdx = t.scores[id], i
			}
		}
		if bestIdx < 0 {
			break
		}
		syms[bestIdx] += syms[bestIdx+1]
		syms = append(syms[:bestIdx+1], syms[bestIdx+2:]...)
	}
	var out []int
	lastUnk := false
	for _, s := range syms {
		id, ok := t.ids[s]
		if ok && id != t.unk {
			out = append(out, id)
			lastUnk = false
			continue
		}
		if t.byteFallback {
			for _, c := range []byte(s) {
				out = append(out, t.ids[fmt.Sprintf("<0x%02X>", c)])
			}
		} else if !lastUnk {
			out = append(out, t.unk)
		}
		lastUnk = true
	}
	return out
}

// randomText draws n units from alphabet, a mix of the interesting cases:
// spaces, multi-byte characters, U+2581 itself and malformed bytes.
func randomText(rng *rand.Rand, alphabet []string, n int) string {
	var sb strings.Builder
	for range n {
		sb.WriteString(alphabet[rng.IntN(len(alphabet))])
	}
	return sb.String()
}

var testAlphabet = []string{"a", "b", "c", "d", " ", " ", "é", "中", "▁", "\n", "\x80", "\xe2\x96", "<", "0x", ">"}

// decodeAll concatenates Decode over ids as a generation loop would.
func decodeAll(tok Tokenizer, prev int, ids []int) string {
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteString(tok.Decode(prev, id))
		prev = id
	}
	return sb.String()
}
