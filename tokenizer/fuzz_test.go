package tokenizer

import (
	"math/rand/v2"
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

// FuzzParseHFTokenizer feeds hostile tokenizer.json and tokenizer_config.json
// content: parsing fails with an error or gives a tokenizer whose ids are
// in range and whose decoding gives the text back.
func FuzzParseHFTokenizer(f *testing.F) {
	good := marshal(f, smallHF())
	f.Add(good, []byte(nil))
	f.Add(good, []byte(`{"bos_token": "<|bos|>", "add_bos_token": true}`))
	f.Add(marshal(f, smallQwen()), []byte(`{"bos_token": {"content": "<|bos|>"}}`))
	f.Add(marshal(f, set(smallHF(), "model.merges", []any{[]any{"a", "b"}})), []byte(`{}`))
	f.Add(good[:len(good)/2], []byte(`{"eos_token": 7}`))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 9223372036854775807}}}`), []byte(nil))
	f.Add([]byte(`{"added_tokens": [{"id": -1, "content": ""}], "model": {"type": "BPE", "vocab": {}}}`), []byte(nil))
	f.Add([]byte(strings.Repeat("[", 10001)), []byte(strings.Repeat("{", 100)))
	addFileSeed(f, "tokenizers/qwen3/tokenizer.json", 4096, []byte(nil))
	f.Fuzz(func(t *testing.T, b, cfg []byte) {
		tok, err := ParseHFTokenizer(b, cfg)
		if err != nil {
			return
		}
		checkIDs(t, tok, "Hello wörld  <|bos|>\xff ab 123\n\n")
		const text = "ab a b's 12345 ü\n"
		if got, want := decodeAll(tok, -1, tok.Encode(text, false, false)), normalized(tok, text); got != want {
			t.Fatalf("%q decodes to %q", text, got)
		}
		for id := -1; id <= tok.VocabSize(); id++ {
			tok.Decode(-1, id)
			tok.Piece(id)
		}
	})
}

// FuzzBPEEncode checks byte-level encoding on any text: the ids are those
// of the quadratic reference, and decoding gives back the normalised text
// (all of it, malformed bytes included) unless it spelled a control token.
// LLaMA-3's and Qwen's real vocabularies are used when the data is present,
// a small random one otherwise.
func FuzzBPEEncode(f *testing.F) {
	for _, s := range []string{"", " ", "  a", "Hello world", "it's 12345", "中文 é\n\t", "e\u0301", "\xff\xe2\x96", "<|endoftext|>", "<think>x", "\u00a0 \u3000\r\n"} {
		f.Add(s)
	}
	toks := []*BPE{mustBPE(f, randomRanks(rand.New(rand.NewPCG(5, 6)), PreLlama3))}
	if dir := data.Dir(""); dir != "" {
		for _, name := range []string{"llama3", "qwen3"} {
			if tok, err := loadHF(filepath.Join(dir, "tokenizers", name, "tokenizer.json")); err == nil {
				toks = append(toks, tok)
			}
		}
	}
	f.Fuzz(func(t *testing.T, text string) {
		for _, tok := range toks {
			ids := tok.Encode(text, false, false)
			if want := naiveBPE(tok, text); !slices.Equal(ids, want) {
				t.Fatalf("%s: Encode(%q) = %v, the reference gives %v", tok.Pre(), text, ids, want)
			}
			var specials []int
			if tok.BOS() >= 0 {
				specials = append(specials, tok.BOS())
			}
			specials = append(append(specials, ids...), tok.EOS())
			if got := tok.Encode(text, true, true); !slices.Equal(got, slices.DeleteFunc(specials, func(id int) bool { return id < 0 })) {
				t.Fatalf("%s: Encode(%q, bos, eos) = %v, want %v", tok.Pre(), text, got, specials)
			}
			control := false
			for _, id := range ids {
				if id < 0 || id >= tok.VocabSize() {
					t.Fatalf("Encode(%q): id %d outside the vocabulary", text, id)
				}
				control = control || tok.v.Types[id] == typeControl
			}
			if got, want := decodeAll(tok, -1, ids), normalized(tok, text); !control && got != want {
				t.Fatalf("%s: Encode(%q) = %v decodes to %q, want %q", tok.Pre(), text, ids, got, want)
			}
		}
	})
}
