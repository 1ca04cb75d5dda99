package tokenizer

import (
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prunebench/prunebench/internal/datatest"
)

// llama2Tokenizers loads the Llama-2 vocabulary three ways: tokenizer.model,
// the same pieces passed as a GGUF loader would, and tokenizer.bin.
func llama2Tokenizers(t *testing.T) map[string]Tokenizer {
	t.Helper()
	sp, err := LoadSentencePiece(datatest.Path(t, "tokenizers/llama2/tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	gguf, err := NewSentencePiece(sp.pieces, sp.scores, sp.types, sp.bos, sp.eos, sp.unk, true)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := LoadLlama2C(datatest.Path(t, "tokenizers/llama2/tokenizer.bin"), 32000)
	if err != nil {
		t.Fatal(err)
	}
	// The GGUF vocabulary written out as tokenizer.model and read back.
	saved, err := ParseSentencePiece(gguf.MarshalModel())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Tokenizer{"tokenizer.model": sp, "gguf": gguf, "tokenizer.bin": bin, "gguf saved as tokenizer.model": saved}
}

func readFile(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(datatest.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLlama2Model(t *testing.T) {
	sp, err := LoadSentencePiece(datatest.Path(t, "tokenizers/llama2/tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	if sp.VocabSize() != 32000 || sp.BOS() != 1 || sp.EOS() != 2 || sp.unk != 0 {
		t.Errorf("VocabSize, BOS, EOS, unk = %d, %d, %d, %d", sp.VocabSize(), sp.BOS(), sp.EOS(), sp.unk)
	}
	if !sp.byteFallback || !sp.addDummyPrefix || sp.removeExtraWhitespaces || !sp.escapeWhitespaces {
		t.Errorf("byte_fallback %v, add_dummy_prefix %v, remove_extra_whitespaces %v, escape_whitespaces %v; want true, true, false, true",
			sp.byteFallback, sp.addDummyPrefix, sp.removeExtraWhitespaces, sp.escapeWhitespaces)
	}
	count := map[int32]int{}
	for _, typ := range sp.types {
		count[typ]++
	}
	if want := map[int32]int{typeNormal: 31741, typeByte: 256, typeControl: 2, typeUnknown: 1}; !maps.Equal(count, want) {
		t.Errorf("piece types %v, want %v", count, want)
	}
	if sp.Piece(13) != "<0x0A>" || sp.Piece(29871) != "▁" {
		t.Errorf("pieces 13, 29871 = %q, %q", sp.Piece(13), sp.Piece(29871))
	}
}

// TestVocabTestVectors checks the 46 llama.cpp test vectors (no BOS) and
// that decoding gives the text back.
func TestVocabTestVectors(t *testing.T) {
	toks := llama2Tokenizers(t)
	inputs := strings.Split(readFile(t, "tokenizers/llama2/vocab-test.inp"), "\n__ggml_vocab_test__\n")
	if inputs[len(inputs)-1] != "" {
		t.Fatalf("vocab-test.inp does not end with the separator")
	}
	inputs = inputs[:len(inputs)-1]
	lines := strings.Split(strings.TrimSuffix(readFile(t, "tokenizers/llama2/vocab-test.out"), "\n"), "\n")
	if len(inputs) != 46 || len(lines) != 46 {
		t.Fatalf("%d inputs and %d outputs, want 46 each", len(inputs), len(lines))
	}
	for i, text := range inputs {
		want := []int{}
		for _, f := range strings.Fields(lines[i]) {
			id, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("vocab-test.out line %d: %v", i+1, err)
			}
			want = append(want, id)
		}
		for name, tok := range toks {
			got := tok.Encode(text, false, false)
			if !slices.Equal(got, want) {
				t.Errorf("%s, case %d %q:\n got %v\nwant %v", name, i, text, got, want)
			}
			if back := decodeAll(tok, tok.BOS(), got); back != text {
				t.Errorf("%s, case %d: decodes to %q, want %q", name, i, back, text)
			}
		}
	}
}

func TestOnceUponATime(t *testing.T) {
	const text = "Once upon a time, there was a little girl named Lily."
	want := []int{1, 9038, 2501, 263, 931, 29892, 727, 471, 263, 2217, 7826, 4257, 365, 2354, 29889, 2}
	for name, tok := range llama2Tokenizers(t) {
		if got := tok.Encode(text, true, true); !slices.Equal(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", name, got, want)
		}
	}
}

func TestTok512(t *testing.T) {
	path := datatest.Path(t, "models/stories260K/tok512.bin")
	tok, err := LoadLlama2C(path, 512)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int]string{259: " t", 260: "he", 261: " a", 265: " the"} {
		if got := tok.Piece(id); got != want {
			t.Errorf("piece %d = %q, want %q", id, got, want)
		}
	}
	// " " + t,h,e: " t" (score 0) first, then "he" (-1), then " the" (-6).
	if got, want := tok.Encode("the", true, false), []int{1, 265}; !slices.Equal(got, want) {
		t.Errorf("Encode(the) = %v, want %v", got, want)
	}
	if got := decodeAll(tok, tok.BOS(), tok.Encode("Lily's mom said, \"Don't worry.\"", false, false)); got != "Lily's mom said, \"Don't worry.\"" {
		t.Errorf("round trip gave %q", got)
	}
	for _, c := range []struct {
		path string
		size int
		want string
	}{
		{path, 511, "bytes follow the 511 records requested"},
		{path, 513, "record 512 at byte 6227: truncated header (0 of 8 bytes); want 513 records"},
		{datatest.Path(t, "tokenizers/llama2/tokenizer.bin"), 512, "bytes follow the 512 records requested"},
	} {
		if _, err := LoadLlama2C(c.path, c.size); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s with vocab size %d: error %v, want %q", c.path, c.size, err, c.want)
		}
	}
}

// TestRealVocabMatchesNaive compares the fast encoders with the quadratic
// references on random slices of WikiText.
func TestRealVocabMatchesNaive(t *testing.T) {
	toks := llama2Tokenizers(t)
	sp, bin := toks["tokenizer.model"].(*SentencePiece), toks["tokenizer.bin"].(*Llama2C)
	text := readFile(t, "wikitext-2/wikitext-2-raw-v1.test.joined.txt")
	rng := rand.New(rand.NewPCG(7, 8))
	for range 300 {
		// Byte offsets, so malformed edges occur too.
		lo := rng.IntN(len(text) - 200)
		s := text[lo : lo+rng.IntN(200)]
		if got, want := sp.Encode(s, false, false), naiveSP(sp, s); !slices.Equal(got, want) {
			t.Fatalf("tokenizer.model, %q:\n got %v\nwant %v", s, got, want)
		}
		if got, want := bin.Encode(s, false, false), naiveRunC(bin, s); !slices.Equal(got, want) {
			t.Fatalf("tokenizer.bin, %q:\n got %v\nwant %v", s, got, want)
		}
	}
}

// TestWikiTextTokenCount encodes the joined WikiText-2 test split in one
// call, as the perplexity protocol does (EVALUATION.md §1.1).
func TestWikiTextTokenCount(t *testing.T) {
	text := readFile(t, "wikitext-2/wikitext-2-raw-v1.test.joined.txt")
	toks := llama2Tokenizers(t)
	tok512, err := LoadLlama2C(datatest.Path(t, "models/stories260K/tok512.bin"), 512)
	if err != nil {
		t.Fatal(err)
	}
	encode := func(name string, tok Tokenizer) []int {
		start := time.Now()
		ids := tok.Encode(text, true, false)
		t.Logf("%s: %d tokens in %v", name, len(ids), time.Since(start))
		return ids
	}
	sp := encode("tokenizer.model", toks["tokenizer.model"])
	if len(sp) != 341469 {
		t.Errorf("tokenizer.model: %d tokens, want 341469", len(sp))
	}
	if bin := encode("tokenizer.bin", toks["tokenizer.bin"]); !slices.Equal(bin, sp) {
		t.Errorf("tokenizer.bin differs from tokenizer.model (%d vs %d tokens)", len(bin), len(sp))
	}
	if n := len(encode("tok512.bin", tok512)); n != 815070 {
		t.Errorf("tok512.bin: %d tokens, want 815070", n)
	}
	if back := decodeAll(toks["tokenizer.model"], -1, sp); back != text {
		i := 0
		for i < min(len(back), len(text)) && back[i] == text[i] {
			i++
		}
		t.Errorf("decoding the tokens differs from the text at byte %d", i)
	}
}
