package tokenizer

import (
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
)

// BenchmarkEncodeWikiText times one whole-file encode per tokenizer, the
// perplexity protocol's single call.
func BenchmarkEncodeWikiText(b *testing.B) {
	text := readFile(b, "wikitext-2/wikitext-2-raw-v1.test.joined.txt")
	sp, err := LoadSentencePiece(datatest.Path(b, "tokenizers/llama2/tokenizer.model"))
	if err != nil {
		b.Fatal(err)
	}
	bin, err := LoadLlama2C(datatest.Path(b, "tokenizers/llama2/tokenizer.bin"), 32000)
	if err != nil {
		b.Fatal(err)
	}
	llama3, err := LoadHFTokenizer(datatest.Path(b, "tokenizers/llama3/tokenizer.json"))
	if err != nil {
		b.Fatal(err)
	}
	qwen3, err := LoadHFTokenizer(datatest.Path(b, "tokenizers/qwen3/tokenizer.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		tok  Tokenizer
	}{{"tokenizer.model", sp}, {"tokenizer.bin", bin}, {"llama3", llama3}, {"qwen3", qwen3}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				c.tok.Encode(text, true, false)
			}
		})
	}
}
