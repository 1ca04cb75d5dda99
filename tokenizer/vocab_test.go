package tokenizer

import (
	"slices"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
)

// vocabSource is what Vocab is defined on.
type vocabSource interface {
	Tokenizer
	Vocab() (Vocab, error)
}

// TestVocabRebuilds: a SentencePiece tokenizer rebuilt from Vocab, as a
// GGUF reader builds it, encodes the test texts as the original does, for
// the Llama-2 tokenizer.model and the llama2.c vocabularies of Llama-2 and
// stories260K.
func TestVocabRebuilds(t *testing.T) {
	sp, err := LoadSentencePiece(datatest.Path(t, "tokenizers/llama2/tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	bin, err := LoadLlama2C(datatest.Path(t, "tokenizers/llama2/tokenizer.bin"), 32000)
	if err != nil {
		t.Fatal(err)
	}
	tok512, err := LoadLlama2C(datatest.Path(t, "models/stories260K/tok512.bin"), 512)
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Split(readFile(t, "tokenizers/llama2/vocab-test.inp"), "\n__ggml_vocab_test__\n")
	wiki := readFile(t, "wikitext-2/wiki.test.raw")
	texts = append(texts, "Once upon a time, there was a little girl named Lily.", wiki[:20000])
	for _, c := range []struct {
		name string
		tok  vocabSource
	}{
		{"tokenizer.model", sp}, {"tokenizer.bin", bin}, {"tok512.bin", tok512},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := c.tok.Vocab()
			if err != nil {
				t.Fatal(err)
			}
			got, err := NewSentencePiece(v.Pieces, v.Scores, v.Types, v.BOS, v.EOS, v.Unk, v.AddDummyPrefix)
			if err != nil {
				t.Fatal(err)
			}
			if got.VocabSize() != c.tok.VocabSize() || got.BOS() != c.tok.BOS() || got.EOS() != c.tok.EOS() {
				t.Errorf("size, BOS, EOS = %d, %d, %d; want %d, %d, %d",
					got.VocabSize(), got.BOS(), got.EOS(), c.tok.VocabSize(), c.tok.BOS(), c.tok.EOS())
			}
			for i, text := range texts {
				if a, b := c.tok.Encode(text, true, true), got.Encode(text, true, true); !slices.Equal(a, b) {
					t.Errorf("text %d %.40q: %v originally, %v rebuilt", i, text, a, b)
				}
			}
		})
	}
}

// TestLlama2CVocab checks the piece types and texts a llama2.c vocabulary
// maps to.
func TestLlama2CVocab(t *testing.T) {
	recs := append(llama2cBase(), vocabRecord{" ", -1}, vocabRecord{" a", -2}, vocabRecord{"zz", -2e10})
	v, err := mustLlama2C(t, recs).Vocab()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id    int
		piece string
		typ   int32
	}{
		{0, "<unk>", typeUnknown}, {1, "<s>", typeControl}, {2, "</s>", typeControl},
		{3, "<0x00>", typeByte}, {258, "<0xFF>", typeByte},
		{259, "▁", typeNormal}, {260, "▁a", typeNormal}, {261, "zz", typeUnused},
	} {
		if v.Pieces[c.id] != c.piece || v.Types[c.id] != c.typ {
			t.Errorf("id %d: %q type %d, want %q type %d", c.id, v.Pieces[c.id], v.Types[c.id], c.piece, c.typ)
		}
	}
	if v.BOS != 1 || v.EOS != 2 || v.Unk != 0 || !v.AddDummyPrefix || v.Scores[260] != -2 {
		t.Errorf("BOS %d EOS %d unk %d prefix %v score %v", v.BOS, v.EOS, v.Unk, v.AddDummyPrefix, v.Scores[260])
	}
}

// TestVocabRefuses: what a GGUF vocabulary cannot say is an error.
func TestVocabRefuses(t *testing.T) {
	emptyEntry := append(llama2cBase(), vocabRecord{" ", -1}, vocabRecord{"", -2})
	noBytes := slices.DeleteFunc(smallPieces(), func(p spPiece) bool { return p.typ == typeByte })
	for _, c := range []struct {
		name string
		tok  vocabSource
		want string
	}{
		{"remove extra whitespaces", mustSP(t, spModel(smallPieces(), bpeTrainer)), "remove_extra_whitespaces"},
		{"unescaped spaces", mustSP(t, spModel(smallPieces(), bpeTrainer, pbBytes(3, cat(pbUint(4, 0), pbUint(5, 0))))), "escape_whitespaces"},
		{"byte fallback off", mustSP(t, spModel(smallPieces(), pbBytes(2, pbInt(3, modelBPE)), llamaNormalizer)), "byte_fallback is false with 256"},
		{"no byte pieces", mustSP(t, spModel(noBytes, pbBytes(2, pbInt(3, modelBPE)), llamaNormalizer)), ""},
		{"empty llama2.c entry", mustLlama2C(t, emptyEntry), "entry 260 is empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.tok.Vocab()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
