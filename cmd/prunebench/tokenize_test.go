package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
)

func TestTokenize(t *testing.T) {
	llama3 := filepath.Dir(datatest.Path(t, "tokenizers/llama3/tokenizer.json"))
	text := filepath.Join(t.TempDir(), "text.txt")
	if err := os.WriteFile(text, []byte("Hello world"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"pieces", []string{"--tokenizer", llama3, "--text", "Hello world", "--bos"},
			"128000 -> '<|begin_of_text|>'\n  9906 -> 'Hello'\n  1917 -> ' world'\n"},
		{"ids", []string{"--tokenizer", llama3 + "/tokenizer.json", "--file", text, "--ids"}, "[9906, 1917]\n"},
		{"count", []string{"--tokenizer", llama3, "--text", "Hello world", "--bos", "--count"}, "3\n"},
		{"empty text", []string{"--tokenizer", llama3, "--text", "", "--ids"}, "[]\n"},
		{"SentencePiece", []string{"--tokenizer", datatest.Path(t, "tokenizers/llama2/tokenizer.model"), "--text", "Hello world", "--ids"},
			"[15043, 3186]\n"},
		{"model", []string{"--data-dir", datatest.Dir(t), "--model", "stories260K", "--text", "the", "--bos"},
			"     1 -> '\n<s>\n'\n   265 -> ' the'\n"},
		{"SentencePiece pieces", []string{"--tokenizer", datatest.Path(t, "tokenizers/llama2/tokenizer.model"), "--text", "Hello", "--bos"},
			"     1 -> '<s>'\n 15043 -> ' Hello'\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if o := mustRun(t, append([]string{"tokenize"}, c.args...)...); o.stdout != c.want {
				t.Errorf("stdout %q, want %q", o.stdout, c.want)
			}
		})
	}
}

func TestTokenizeJSON(t *testing.T) {
	qwen3 := filepath.Dir(datatest.Path(t, "tokenizers/qwen3/tokenizer.json"))
	var r struct {
		Tokenizer string
		VocabSize int `json:"vocab_size"`
		Count     int
		IDs       []int
		Pieces    []string
	}
	o := mustRun(t, "tokenize", "--tokenizer", qwen3, "--text", "Hello world<|im_end|>", "--json")
	decodeJSON(t, o.stdout, &r, "tokenizer", "vocab_size", "count", "ids", "pieces")
	if r.Tokenizer != qwen3 || r.VocabSize != 151669 || r.Count != 3 ||
		!slices.Equal(r.IDs, []int{9707, 1879, 151645}) || !slices.Equal(r.Pieces, []string{"Hello", "Ġworld", "<|im_end|>"}) {
		t.Errorf("got %+v", r)
	}
	o = mustRun(t, "tokenize", "--tokenizer", qwen3, "--text", "Hello", "--json", "--count")
	if strings.Contains(o.stdout, "ids") || !strings.Contains(o.stdout, `"count":1`) {
		t.Errorf("--count --json printed %s", o.stdout)
	}
}

// TestTokenizeErrors: wording errors exit 2, bad files and impossible
// requests 1, each with one line naming the flag or file.
func TestTokenizeErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "tokenizer.json")
	if err := os.WriteFile(bad, []byte(`{"model": {"type": "WordPiece"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no source", []string{"--text", "x"}, exitUsage, "want exactly one of --model and --tokenizer"},
		{"two sources", []string{"--model", "stories260K", "--tokenizer", bad, "--text", "x"}, exitUsage, "want exactly one of --model and --tokenizer"},
		{"no text", []string{"--tokenizer", bad}, exitUsage, "want exactly one of --text and --file"},
		{"two texts", []string{"--tokenizer", bad, "--text", "", "--file", bad}, exitUsage, "want exactly one of --text and --file"},
		{"ids and count", []string{"--tokenizer", bad, "--text", "x", "--ids", "--count"}, exitUsage, "--ids and --count exclude each other"},
		{"bad tokenizer", []string{"--tokenizer", bad, "--text", "x"}, exitFail, bad + `: model.type is "WordPiece"`},
		{"not a vocabulary", []string{"--tokenizer", filepath.Join(dir, "notes.txt"), "--text", "x"}, exitFail, "notes.txt: not a vocabulary file by its name"},
		{"missing text file", []string{"--tokenizer", bad, "--file", filepath.Join(dir, "none.txt")}, exitFail, "--file: open " + filepath.Join(dir, "none.txt")},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := cli(t, append([]string{"tokenize"}, c.args...)...)
			if o.code != c.code || !strings.Contains(o.stderr, c.want) || strings.Count(o.stderr, "\n") != 1 || o.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and one line containing %q", o.code, o.stdout, o.stderr, c.code, c.want)
			}
		})
	}
	qwen3 := datatest.Path(t, "tokenizers/qwen3/tokenizer.json")
	if o := cli(t, "tokenize", "--tokenizer", qwen3, "--text", "x", "--bos"); o.code != exitFail || !strings.Contains(o.stderr, "has no BOS token") {
		t.Errorf("--bos without BOS: exit %d, stderr %q", o.code, o.stderr)
	}
}
