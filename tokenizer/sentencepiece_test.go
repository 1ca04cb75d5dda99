package tokenizer

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// smallPieces: ids 259.. are "▁", "a", "b", "<", "s", ">", "▁a", "ab", "<s",
// "▁▁", "s>" as UNUSED, which must never be a merge result, and "ba".
func smallPieces() []spPiece {
	return append(spBase(),
		spPiece{"▁", -100, typeNormal}, spPiece{"a", -100, typeNormal}, spPiece{"b", -100, typeNormal},
		spPiece{"<", -100, typeNormal}, spPiece{"s", -100, typeNormal}, spPiece{">", -100, typeNormal},
		spPiece{"▁a", -1, typeNormal}, spPiece{"ab", -2, typeNormal}, spPiece{"<s", -3, typeUserDefined},
		spPiece{"▁▁", -1e9, typeNormal}, spPiece{"s>", 0, typeUnused},
		spPiece{"ba", -2, typeNormal})
}

func TestSentencePieceEncode(t *testing.T) {
	llama := mustSP(t, spModel(smallPieces(), bpeTrainer, llamaNormalizer))
	noFallback := mustSP(t, spModel(smallPieces(), pbBytes(2, pbInt(3, modelBPE)), llamaNormalizer))
	defaults := mustSP(t, spModel(smallPieces(), bpeTrainer)) // proto2 defaults: remove extra whitespace
	noPrefix := mustSP(t, spModel(smallPieces(), bpeTrainer, pbBytes(3, cat(pbUint(3, 0), pbUint(4, 0)))))
	noEscape := mustSP(t, spModel(smallPieces(), bpeTrainer, pbBytes(3, cat(pbUint(4, 0), pbUint(5, 0)))))
	for _, c := range []struct {
		name     string
		tok      *SentencePiece
		text     string
		bos, eos bool
		want     []int
	}{
		{"empty", llama, "", true, false, []int{1}},
		{"merge", llama, "ab", true, true, []int{1, 265, 261, 2}},
		{"no tie", llama, "aab", false, false, []int{265, 266}},
		{"tie leftmost", llama, "bab", false, false, []int{259, 270, 261}},
		{"spaces kept", llama, "  a", false, false, []int{268, 265}},
		{"control text not merged", llama, "<s>", false, false, []int{259, 267, 264}},
		{"byte fallback", llama, "é", false, false, []int{259, 0xC3 + 3, 0xA9 + 3}},
		{"malformed byte is U+FFFD", llama, "\xff", false, false, []int{259, 0xEF + 3, 0xBF + 3, 0xBD + 3}},
		{"unk run", noFallback, "éé a", false, false, []int{259, 0, 265}},
		{"unk runs", noFallback, "ébé", false, false, []int{259, 0, 261, 0}},
		{"extra whitespace removed", defaults, "  a   b ", false, false, []int{265, 259, 261}},
		{"only whitespace", defaults, "   ", false, false, []int{}},
		{"no dummy prefix", noPrefix, "a", false, false, []int{260}},
		{"no escaping", noEscape, "a b", false, false, []int{' ' + 3, 260, ' ' + 3, 261}},
	} {
		if got := c.tok.Encode(c.text, c.bos, c.eos); !slices.Equal(got, c.want) {
			t.Errorf("%s: Encode(%q) = %v, want %v", c.name, c.text, got, c.want)
		}
	}
}

func TestSentencePieceDecode(t *testing.T) {
	tok := mustSP(t, spModel(smallPieces(), bpeTrainer, llamaNormalizer))
	for _, c := range []struct {
		prev, id int
		want     string
	}{
		{1, 265, "a"},
		{5, 265, " a"},
		{1, 268, " "},
		{1, 3 + 0x20, " "}, // a byte piece is not the dummy prefix
		{0, 3 + 0xC3, "\xC3"},
		{0, 1, ""},
		{0, 0, "<unk>"},
		{0, -1, ""},
		{0, 271, ""},
	} {
		if got := tok.Decode(c.prev, c.id); got != c.want {
			t.Errorf("Decode(%d, %d) = %q, want %q", c.prev, c.id, got, c.want)
		}
	}
	if tok.Piece(265) != "▁a" || tok.Piece(271) != "" || tok.VocabSize() != 271 || tok.BOS() != 1 || tok.EOS() != 2 {
		t.Errorf("Piece(265)=%q Piece(271)=%q VocabSize=%d BOS=%d EOS=%d",
			tok.Piece(265), tok.Piece(271), tok.VocabSize(), tok.BOS(), tok.EOS())
	}
}

// TestParseSentencePieceSkipsUnknownFields inserts fields of every wire
// type, at the top level and inside each message, plus pad_id = -1 as a
// ten-byte varint; none may change the result.
func TestParseSentencePieceSkipsUnknownFields(t *testing.T) {
	unknown := cat(pbUint(99, 7),
		binary.LittleEndian.AppendUint64(pbKey(nil, 98, wireFixed64), 1),
		pbBytes(97, []byte("x")),
		binary.LittleEndian.AppendUint32(pbKey(nil, 96, wireFixed32), 1))
	var pieces []byte
	for _, p := range smallPieces() {
		pieces = append(pieces, pbBytes(1, cat(unknown, pbBytes(1, []byte(p.text)), pbFloat(2, p.score), pbInt(3, p.typ)))...)
	}
	data := cat(unknown, pieces,
		pbBytes(2, cat(unknown, pbInt(3, modelBPE), pbUint(35, 1), pbInt(43, -1), pbInt(40, 0), pbInt(41, 1), pbInt(42, 2))),
		pbBytes(3, cat(pbBytes(1, []byte("identity")), unknown, pbUint(3, 1), pbUint(4, 0))),
		pbBytes(5, []byte("denormalizer")))
	got := mustSP(t, data)
	want := mustSP(t, spModel(smallPieces(), bpeTrainer, llamaNormalizer))
	for _, text := range []string{"a b  <s>é", "\xffab"} {
		if g, w := got.Encode(text, true, true), want.Encode(text, true, true); !slices.Equal(g, w) {
			t.Errorf("Encode(%q) = %v, want %v", text, g, w)
		}
	}
}

func TestParseSentencePieceErrors(t *testing.T) {
	good := spModel(smallPieces(), bpeTrainer, llamaNormalizer)
	withPiece := func(i int, p spPiece) []byte {
		ps := smallPieces()
		ps[i] = p
		return spModel(ps, bpeTrainer, llamaNormalizer)
	}
	trainer := func(fields ...[]byte) []byte {
		return spModel(smallPieces(), pbBytes(2, cat(append([][]byte{pbInt(3, modelBPE), pbUint(35, 1)}, fields...)...)))
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated key", append(slices.Clone(good), 0x80), "byte " + strconv.Itoa(len(good)) + ": ModelProto: truncated varint"},
		{"varint overflow", append(slices.Clone(good), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02), "varint overflows 64 bits"},
		{"length past end", good[:len(good)-1], "ModelProto: field 3: length"},
		{"truncated fixed32 in piece", cat(pbBytes(1, pbKey(nil, 2, wireFixed32)), good),
			"byte 3: ModelProto.pieces[0]: field 2: truncated fixed32 (0 bytes left)"},
		{"field zero", cat(good, []byte{0x00}), "field number 0 is invalid"},
		{"group", cat(good, pbKey(nil, 7, 3)), "unsupported wire type 3"},
		{"score as varint", cat(pbBytes(1, pbUint(2, 5)), good), "ModelProto.pieces[0]: field 2 (score): wire type 0, want 5"},
		{"trainer as varint", cat(pbUint(2, 1), good), "field 2 (ModelProto.trainer_spec): wire type 0, want 2 (message)"},
		{"unigram by default", spModel(smallPieces()), "model_type is 1 (Unigram"},
		{"word model", spModel(smallPieces(), pbBytes(2, pbInt(3, 3))), "model_type is 3"},
		{"int32 overflow", spModel(smallPieces(), pbBytes(2, pbUint(3, 1<<40))), "1099511627776 does not fit int32"},
		{"charsmap", spModel(smallPieces(), bpeTrainer, pbBytes(3, cat(pbBytes(1, []byte("nmt_nfkc")), pbBytes(2, []byte{1, 2})))),
			`precompiled_charsmap holds 2 bytes (normaliser "nmt_nfkc")`},
		{"bos -1", trainer(pbInt(41, -1)), "bos id -1 outside the 271 pieces"},
		{"unk not UNKNOWN", trainer(pbInt(40, 3)), `unk id 3 is "<0x00>" of type 6, want type 2`},
		{"duplicate", withPiece(260, spPiece{"▁", 0, typeNormal}), `piece 260 "▁" duplicates piece 259`},
		{"empty piece", withPiece(260, spPiece{"", 0, typeNormal}), "piece 260 is empty"},
		{"bad type", withPiece(260, spPiece{"a", 0, 7}), `piece 260 "a": type 7, want 1..6`},
		{"bad byte piece", withPiece(260, spPiece{"a", 0, typeByte}), `piece 260 "a" has type BYTE but is not <0xHH>`},
		{"missing byte piece", withPiece(3, spPiece{"zz", 0, typeNormal}), "only 255 of the 256"},
		{"NaN score", withPiece(260, spPiece{"a", float32(math.NaN()), typeNormal}), `piece 260 "a": score is NaN`},
		{"no pieces", bpeTrainer, "no pieces"},
		{"absent piece text", cat(pbBytes(1, pbFloat(2, 1)), good), "piece 0 is empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSentencePiece(c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// ggufArrays splits pieces into the three arrays a GGUF file stores.
func ggufArrays(ps []spPiece) ([]string, []float32, []int32) {
	var texts []string
	var scores []float32
	var types []int32
	for _, p := range ps {
		texts, scores, types = append(texts, p.text), append(scores, p.score), append(types, p.typ)
	}
	return texts, scores, types
}

func TestNewSentencePiece(t *testing.T) {
	texts, scores, types := ggufArrays(smallPieces())
	tok, err := NewSentencePiece(texts, scores, types, 1, 2, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	// GGUF keeps spaces (no remove_extra_whitespaces) and infers byte
	// fallback from the 256 byte pieces.
	if got, want := tok.Encode("  é", false, false), []int{268, 259, 0xC3 + 3, 0xA9 + 3}; !slices.Equal(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
	if got, want := tok.Encode("a", true, false), []int{1, 265}; !slices.Equal(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
	noPrefix, err := NewSentencePiece(texts, scores, types, 1, 2, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := noPrefix.Encode("a", false, false), []int{260}; !slices.Equal(got, want) {
		t.Errorf("without dummy prefix: Encode = %v, want %v", got, want)
	}

	types3 := slices.Clone(types)
	types3[3] = typeNormal // <0x00> is no longer a byte piece: no fallback
	partial, err := NewSentencePiece(texts, scores, types3, 1, 2, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := partial.Encode("éé", false, false), []int{259, 0}; !slices.Equal(got, want) {
		t.Errorf("partial byte pieces: Encode = %v, want %v", got, want)
	}

	if _, err := NewSentencePiece(texts, scores[1:], types, 1, 2, 0, true); err == nil ||
		!strings.Contains(err.Error(), "271 pieces, 270 scores and 271 types") {
		t.Errorf("length mismatch: error %v", err)
	}
	if _, err := NewSentencePiece(texts, scores, types, 1, 2, 300, true); err == nil ||
		!strings.Contains(err.Error(), "unk id 300 outside") {
		t.Errorf("unk out of range: error %v", err)
	}
}

func TestLoadSentencePieceNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.model")
	if err := os.WriteFile(path, []byte{0x0a, 0x05}, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadSentencePiece(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+": ") {
		t.Fatalf("error %v does not name %s", err, path)
	}
	if _, err := LoadSentencePiece(filepath.Join(t.TempDir(), "missing.model")); err == nil {
		t.Fatal("missing file: no error")
	}
}

// sameSentencePiece fails unless a and b hold the same vocabulary and
// normaliser settings, everything Encode and Decode depend on.
func sameSentencePiece(t testing.TB, a, b *SentencePiece) {
	t.Helper()
	if !slices.Equal(a.pieces, b.pieces) || !slices.Equal(a.types, b.types) ||
		!slices.EqualFunc(a.scores, b.scores, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) }) {
		t.Fatalf("pieces, scores or types differ")
	}
	type settings struct {
		bos, eos, unk                                                      int
		byteFallback, addDummyPrefix, removeExtraWhitespaces, escapeSpaces bool
	}
	sa := settings{a.bos, a.eos, a.unk, a.byteFallback, a.addDummyPrefix, a.removeExtraWhitespaces, a.escapeWhitespaces}
	sb := settings{b.bos, b.eos, b.unk, b.byteFallback, b.addDummyPrefix, b.removeExtraWhitespaces, b.escapeWhitespaces}
	if sa != sb {
		t.Fatalf("settings %+v, want %+v", sb, sa)
	}
}

// TestMarshalModel compares MarshalModel with the test's own naive protobuf
// writer field by field, and checks that every normaliser setting survives
// a round trip.
func TestMarshalModel(t *testing.T) {
	pieces := smallPieces()
	var texts []string
	var scores []float32
	var types []int32
	for _, p := range pieces {
		texts, scores, types = append(texts, p.text), append(scores, p.score), append(types, p.typ)
	}
	tok, err := NewSentencePiece(texts, scores, types, 1, 2, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	want := spModel(pieces,
		pbBytes(2, cat(pbInt(3, modelBPE), pbInt(4, int32(len(pieces))), pbUint(35, 1), pbInt(40, 0), pbInt(41, 1), pbInt(42, 2))),
		pbBytes(3, cat(pbBytes(1, []byte("identity")), pbUint(3, 0), pbUint(4, 0), pbUint(5, 1))))
	if got := tok.MarshalModel(); !slices.Equal(got, want) {
		t.Fatalf("MarshalModel differs from the naive encoding:\n got %x\nwant %x", got, want)
	}
	for _, model := range [][]byte{
		spModel(pieces, bpeTrainer, llamaNormalizer),
		spModel(pieces, bpeTrainer), // proto2 defaults: remove extra whitespace
		spModel(pieces, pbBytes(2, cat(pbInt(3, modelBPE), pbInt(40, 0), pbInt(41, 3), pbInt(42, 4))),
			pbBytes(3, cat(pbUint(3, 0), pbUint(5, 0)))),
	} {
		a := mustSP(t, model)
		b := mustSP(t, a.MarshalModel())
		sameSentencePiece(t, a, b)
		for _, text := range []string{"", "  a b  ", "ab<s>é", "\xff"} {
			if x, y := a.Encode(text, true, true), b.Encode(text, true, true); !slices.Equal(x, y) {
				t.Errorf("Encode(%q): %v before saving, %v after", text, x, y)
			}
		}
	}
}
