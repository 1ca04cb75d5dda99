package model

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
)

// storiesTokens is real text, so the logits are those of a typical input
// rather than of random ids.
func storiesTokens(t *testing.T, m *Model, n int) []int {
	t.Helper()
	ids := m.Tokenizer.Encode("Once upon a time, there was a little girl named Lily. She loved to play outside "+
		"in the park with her friends, and every day her mom took her to see the big old tree.", true, false)
	if len(ids) < n {
		t.Fatalf("test text has %d tokens, need %d", len(ids), n)
	}
	return ids[:n]
}

func TestForwardStories260K(t *testing.T) {
	m, err := LoadLlama2C(datatest.Path(t, "models/stories260K/stories260K.bin"),
		datatest.Path(t, "models/stories260K/tok512.bin"))
	if err != nil {
		t.Fatal(err)
	}
	tokens := storiesTokens(t, m, 40)
	checkAgainstReference(t, m, tokens, 2, 20)
}

func TestForwardTinyGGUF(t *testing.T) {
	m, err := LoadGGUF(datatest.Path(t, "models/llama-2-tiny-random/llama-2-tiny-random.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("config %+v", m.Config)
	tokens := m.Tokenizer.Encode("Hello world, this is a tiny random Llama.", true, false)
	checkAgainstReference(t, m, tokens, 1, len(tokens))
}

// TestForwardStories260KHF saves stories260K in the HF layout (Q/K rows
// permuted to rotate-half order) and checks that the reloaded copy gives the
// reference's logits, i.e. that the permutation round trip and the forward
// agree on one RoPE convention.
func TestForwardStories260KHF(t *testing.T) {
	src := loadStories(t)
	dir := filepath.Join(t.TempDir(), "stories260K-hf")
	if err := SaveHF(src, dir); err != nil {
		t.Fatal(err)
	}
	m, err := LoadHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	tokens := storiesTokens(t, m, 30)
	checkAgainstReference(t, m, tokens, 1, 30)
	want, err := src.Forward(tokens, 1, 30)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Forward(tokens, 1, 30)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("logit %d: HF copy %g, llama2.c original %g", i, got[i], want[i])
		}
	}
}

// TestGenerateGolden is run.c's `./run stories260K.bin -z tok512.bin -t 0
// -n 256` (empty prompt); run.c ends its output with a newline of its own.
func TestGenerateGolden(t *testing.T) {
	m := loadStories(t)
	want, err := os.ReadFile(datatest.Golden(t, "stories260K-greedy.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	if err := Generate(context.Background(), m, "", 256, 0, 0, func(p string) { got.WriteString(p) }); err != nil {
		t.Fatal(err)
	}
	if got.String()+"\n" != string(want) {
		t.Errorf("generated\n%q\nwant\n%q", got.String()+"\n", want)
	}
}
