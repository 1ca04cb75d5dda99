package tokenizer

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestHostileVocabularies gives files whose counts and lengths claim far
// more than they hold: each is refused with an error naming the file and the
// record, having allocated little more than the small file itself.
func TestHostileVocabularies(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := llama2cFile(maxLen(llama2cBase()), llama2cBase())
	hugeLen := append(append([]byte(nil), good...), 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f)
	spGood := spModel(smallPieces(), bpeTrainer, llamaNormalizer)
	hugePiece := cat(pbKey(nil, 1, wireBytes), pbVarint(nil, 1<<40))
	emptyPieces := []byte(strings.Repeat("\x0a\x00", 100000))
	big := write("big.model", make([]byte, MaxFileSize+1))
	bigJSON := write("big.json", nil)
	if err := os.Truncate(bigJSON, MaxTokenizerJSONSize+1); err != nil {
		t.Fatal(err)
	}
	hugeID := write("id.json", []byte(`{"model": {"type": "BPE", "vocab": {"a": 4294967296}}, "added_tokens": [{"id": 1099511627776, "content": "x"}]}`))
	cases := []struct {
		name string
		load func() error
		want []string
	}{
		{"llama2.c: huge vocabulary size", func() error { _, err := LoadLlama2C(write("tok.bin", good), 1<<30); return err },
			[]string{"tok.bin", "record 259", "want 1073741824 records"}},
		{"llama2.c: huge record length", func() error { _, err := LoadLlama2C(write("len.bin", hugeLen), 0); return err },
			[]string{"len.bin", "record 259", "length 2147483647 exceeds max_token_length"}},
		{"sentencepiece: huge piece length", func() error {
			_, err := LoadSentencePiece(write("piece.model", append(append([]byte(nil), spGood...), hugePiece...)))
			return err
		}, []string{"piece.model", "length 1099511627776 but only"}},
		{"sentencepiece: many empty pieces", func() error { _, err := LoadSentencePiece(write("empty.model", emptyPieces)); return err },
			[]string{"empty.model", "piece 0 is empty"}},
		{"oversized file", func() error { _, err := LoadSentencePiece(big); return err },
			[]string{"big.model", "limit"}},
		{"tokenizer.json: huge ids", func() error { _, err := LoadHFTokenizer(hugeID); return err },
			[]string{"id.json", `model.vocab["a"] is 4294967296`}},
		{"oversized tokenizer.json", func() error { _, err := LoadHFTokenizer(bigJSON); return err },
			[]string{"big.json", "limit"}},
		{"not a regular file", func() error { _, err := LoadLlama2C(dir, 0); return err },
			[]string{dir, "not a regular file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := c.load()
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\ndoes not say %q", err, w)
				}
			}
			if d := after.TotalAlloc - before.TotalAlloc; d > 4<<20 {
				t.Errorf("allocated %d bytes refusing it", d)
			}
		})
	}
}
