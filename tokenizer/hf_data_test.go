package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/prunebench/prunebench/internal/datatest"
)

// hfCases reads a folder's llama.cpp test vectors: the texts and their ids
// (no BOS).
func hfCases(t *testing.T, dir string) (texts []string, ids [][]int) {
	t.Helper()
	texts = strings.Split(readFile(t, dir+"/vocab-test.inp"), "\n__ggml_vocab_test__\n")
	if texts[len(texts)-1] != "" {
		t.Fatalf("%s/vocab-test.inp does not end with the separator", dir)
	}
	texts = texts[:len(texts)-1]
	lines := strings.Split(strings.TrimSuffix(readFile(t, dir+"/vocab-test.out"), "\n"), "\n")
	if len(texts) != 46 || len(lines) != 46 {
		t.Fatalf("%s: %d inputs and %d outputs, want 46 each", dir, len(texts), len(lines))
	}
	for i, l := range lines {
		want := []int{}
		for _, f := range strings.Fields(l) {
			id, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s/vocab-test.out line %d: %v", dir, i+1, err)
			}
			want = append(want, id)
		}
		ids = append(ids, want)
	}
	return texts, ids
}

// hfTokenizers loads tokenizers/NAME/tokenizer.json, and the same
// vocabulary rebuilt from its BPEVocab as from a GGUF file.
func hfTokenizers(t *testing.T, name string) map[string]*BPE {
	t.Helper()
	hf, err := loadHF(datatest.Path(t, "tokenizers/"+name+"/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	gguf, err := NewBPE(hf.BPEVocab())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*BPE{"tokenizer.json": hf, "BPEVocab": gguf}
}

// loadHF is LoadHFTokenizer once per path and test binary, as loading
// takes a second.
func loadHF(path string) (*BPE, error) {
	hfMu.Lock()
	defer hfMu.Unlock()
	if tok, ok := hfLoaded[path]; ok {
		return tok, nil
	}
	tok, err := LoadHFTokenizer(path)
	if err == nil {
		hfLoaded[path] = tok
	}
	return tok, err
}

var (
	hfMu     sync.Mutex
	hfLoaded = map[string]*BPE{}
)

// normalized is the text decoding tok's encoding of s gives back: s after
// the tokenizer's normaliser.
func normalized(tok *BPE, s string) string {
	if tok.pre.nfc {
		return norm.NFC.String(s)
	}
	return s
}

func TestHFTestVectors(t *testing.T) {
	for _, name := range []string{"llama3", "qwen3"} {
		t.Run(name, func(t *testing.T) {
			texts, ids := hfCases(t, "tokenizers/"+name)
			for tname, tok := range hfTokenizers(t, name) {
				for i, text := range texts {
					got := tok.Encode(text, false, false)
					if !slices.Equal(got, ids[i]) {
						t.Errorf("%s, case %d %q:\n got %v\nwant %v", tname, i, text, got, ids[i])
					}
					if back := decodeAll(tok, -1, got); back != normalized(tok, text) {
						t.Errorf("%s, case %d: decodes to %q, want %q", tname, i, back, text)
					}
				}
			}
		})
	}
}

// TestHFWikiText encodes the joined WikiText-2 test split in one call, as
// the perplexity protocol does, and decodes it back.
func TestHFWikiText(t *testing.T) {
	text := readFile(t, "wikitext-2/wikitext-2-raw-v1.test.joined.txt")
	// With BOS for LLaMA-3, which has one; Qwen has none.
	for name, want := range map[string]int{"llama3": 289077, "qwen3": 299078} {
		toks := hfTokenizers(t, name)
		tok := toks["tokenizer.json"]
		start := time.Now()
		ids := tok.Encode(text, true, false)
		t.Logf("%s: %d tokens in %v", name, len(ids), time.Since(start))
		if len(ids) != want {
			t.Errorf("%s: %d tokens, want %d", name, len(ids), want)
		}
		if back := decodeAll(tok, -1, ids); back != normalized(tok, text) {
			t.Errorf("%s: decoding the tokens does not give the text back", name)
		}
		if again := toks["BPEVocab"].Encode(text, true, false); !slices.Equal(again, ids) {
			t.Errorf("%s: the tokenizer rebuilt from its BPEVocab encodes differently", name)
		}
	}
}

// TestHFSpecials checks what the real files say about their special
// tokens: LLaMA-3 puts <|begin_of_text|> first (llama.cpp's default, as
// this tokenizer.json predates the template that says so), Qwen has no BOS
// and ends with <|im_end|>.
func TestHFSpecials(t *testing.T) {
	for _, c := range []struct {
		name                  string
		vocab, bos, eos       int
		addBOS                bool
		pre, bosText, eosText string
	}{
		{"llama3", 128256, 128000, 128001, true, PreLlama3, "<|begin_of_text|>", "<|end_of_text|>"},
		{"qwen3", 151669, -1, 151645, false, PreQwen2, "", "<|im_end|>"},
	} {
		tok := hfTokenizers(t, c.name)["tokenizer.json"]
		if tok.VocabSize() != c.vocab || tok.BOS() != c.bos || tok.EOS() != c.eos || tok.AddBOS() != c.addBOS || tok.Pre() != c.pre {
			t.Errorf("%s: VocabSize %d, BOS %d, EOS %d, AddBOS %v, Pre %q; want %d, %d, %d, %v, %q", c.name,
				tok.VocabSize(), tok.BOS(), tok.EOS(), tok.AddBOS(), tok.Pre(), c.vocab, c.bos, c.eos, c.addBOS, c.pre)
		}
		if tok.Piece(c.bos) != c.bosText || tok.Piece(c.eos) != c.eosText {
			t.Errorf("%s: BOS %q, EOS %q", c.name, tok.Piece(c.bos), tok.Piece(c.eos))
		}
	}
}

// TestHFMatchesNaive compares the encoder with the quadratic reference on
// random slices of WikiText (byte offsets, so malformed edges occur too).
func TestHFMatchesNaive(t *testing.T) {
	text := readFile(t, "wikitext-2/wikitext-2-raw-v1.test.joined.txt")
	rng := rand.New(rand.NewPCG(9, 10))
	for _, name := range []string{"llama3", "qwen3"} {
		tok := hfTokenizers(t, name)["tokenizer.json"]
		for range 200 {
			lo := rng.IntN(len(text) - 300)
			s := text[lo : lo+rng.IntN(300)]
			if got, want := tok.Encode(s, false, false), naiveBPE(tok, s); !slices.Equal(got, want) {
				t.Fatalf("%s, %q:\n got %v\nwant %v", name, s, got, want)
			}
			if back, want := decodeAll(tok, -1, tok.Encode(s, false, false)), normalized(tok, s); back != want {
				t.Fatalf("%s, %q decodes to %q, want %q", name, s, back, want)
			}
		}
	}
}
