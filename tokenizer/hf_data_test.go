package tokenizer

import (
	"slices"
	"strconv"
	"strings"
	"testing"

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
	hf, err := LoadHFTokenizer(datatest.Path(t, "tokenizers/"+name+"/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	gguf, err := NewBPE(hf.BPEVocab())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*BPE{"tokenizer.json": hf, "BPEVocab": gguf}
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
					if back := decodeAll(tok, -1, got); back != text {
						t.Errorf("%s, case %d: decodes to %q, want %q", tname, i, back, text)
					}
				}
			}
		})
	}
}
