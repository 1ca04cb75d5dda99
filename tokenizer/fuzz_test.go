package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/data"
)

// addFileSeed adds the first n bytes of a shared-data file to the corpus
// when the data directory is present; the crafted seeds keep the fuzz
// functions meaningful without it.
func addFileSeed(f *testing.F, rel string, n int, extra ...any) {
	dir := data.Dir("")
	if dir == "" {
		return
	}
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		return
	}
	f.Add(append([]any{b[:min(n, len(b))]}, extra...)...)
}

// checkIDs fails when an encoding holds an id outside the vocabulary.
func checkIDs(t *testing.T, tok Tokenizer, text string) {
	for _, id := range tok.Encode(text, true, true) {
		if id < 0 || id >= tok.VocabSize() {
			t.Fatalf("Encode(%q) gave id %d outside the %d-entry vocabulary", text, id, tok.VocabSize())
		}
	}
}

func FuzzParseLlama2C(f *testing.F) {
	small := smallVocab()
	good := llama2cFile(maxLen(small), small)
	f.Add(good, uint16(0))
	f.Add(good, uint16(len(small)))
	f.Add(good[:len(good)-5], uint16(0))
	f.Add(good[:3], uint16(0))
	f.Add([]byte{7, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f}, uint16(1))
	addFileSeed(f, "models/stories260K/tok512.bin", 1<<16, uint16(512))
	addFileSeed(f, "tokenizers/llama2/tokenizer.bin", 4096, uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, vocabSize uint16) {
		tok, err := ParseLlama2C(b, int(vocabSize))
		if err != nil {
			return
		}
		if vocabSize != 0 && tok.VocabSize() != int(vocabSize) {
			t.Fatalf("asked for %d records, got %d", vocabSize, tok.VocabSize())
		}
		checkIDs(t, tok, "Hello wörld <0x0A>\x80 ab")
		for id := -1; id <= tok.VocabSize(); id++ {
			tok.Decode(1, id)
		}
	})
}

func FuzzParseSentencePiece(f *testing.F) {
	good := spModel(smallPieces(), bpeTrainer, llamaNormalizer)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(spModel(smallPieces()))
	f.Add([]byte{0x0a, 0x80})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	addFileSeed(f, "tokenizers/llama2/tokenizer.model", 4096)
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := ParseSentencePiece(b)
		if err != nil {
			return
		}
		checkIDs(t, tok, "Hello wörld  <s>\xff ab")
		for id := -1; id <= tok.VocabSize(); id++ {
			tok.Decode(tok.BOS(), id)
		}
	})
}

// FuzzEncode checks that SentencePiece encoding never fails and that
// decoding after BOS (which drops the dummy prefix) gives the text back,
// with the two changes SentencePiece itself makes: a malformed byte becomes
// U+FFFD and U+2581 reads back as a space. The real Llama-2 model is used
// when the data is present, the small crafted one otherwise.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", " ", "  a", "ab ba", "Hello world", "中文 é\n\t", "\xff\xe2\x96", "▁x", "<s>", "<0x0A>"} {
		f.Add(s)
	}
	tok := mustSP(f, spModel(smallPieces(), bpeTrainer, llamaNormalizer))
	if dir := data.Dir(""); dir != "" {
		if real, err := LoadSentencePiece(filepath.Join(dir, "tokenizers/llama2/tokenizer.model")); err == nil {
			tok = real
		}
	}
	f.Fuzz(func(t *testing.T, text string) {
		ids := tok.Encode(text, true, false)
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("Encode(%q): id %d outside the vocabulary", text, id)
			}
		}
		want := strings.ReplaceAll(string([]rune(text)), spaceSymbol, " ")
		if got := decodeAll(tok, -1, ids); got != want {
			t.Fatalf("Encode(%q) = %v decodes to %q, want %q", text, ids, got, want)
		}
	})
}

// FuzzMarshalModel checks the tokenizer.model writer against the reader:
// whatever ParseSentencePiece accepts, MarshalModel writes in a form that
// parses back to the same vocabulary and settings, encodes alike, and
// serialises to the same bytes again.
func FuzzMarshalModel(f *testing.F) {
	f.Add(spModel(smallPieces(), bpeTrainer, llamaNormalizer), "Hello wörld  <s>\xff ab")
	f.Add(spModel(smallPieces(), bpeTrainer), "  a  b ")
	f.Add(spModel(smallPieces(), pbBytes(2, pbInt(3, modelBPE)), pbBytes(3, pbUint(5, 0))), "é b")
	f.Fuzz(func(t *testing.T, b []byte, text string) {
		a, err := ParseSentencePiece(b)
		if err != nil {
			return
		}
		saved := a.MarshalModel()
		back, err := ParseSentencePiece(saved)
		if err != nil {
			t.Fatalf("the written model does not parse: %v", err)
		}
		sameSentencePiece(t, a, back)
		if x, y := a.Encode(text, true, true), back.Encode(text, true, true); !slices.Equal(x, y) {
			t.Fatalf("Encode(%q): %v before saving, %v after", text, x, y)
		}
		if again := back.MarshalModel(); !slices.Equal(again, saved) {
			t.Fatal("writing the read-back model gives different bytes")
		}
	})
}
