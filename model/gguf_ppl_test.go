package model_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/prunebench/prunebench/eval"
	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/safetensors"
)

// TestSaveGGUFPerplexity: stories260K exported to GGUF (F32) and loaded
// back gives the perplexity of the original, to the last bit, under both
// protocols on WikiText-2's first windows; Model.AddBOS stays on.
func TestSaveGGUFPerplexity(t *testing.T) {
	src, err := model.Load(datatest.Path(t, "models/stories260K"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "stories260K.gguf")
	if err := model.SaveGGUF(context.Background(), src, path, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	got, err := model.LoadGGUF(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.AddBOS() || !src.AddBOS() {
		t.Errorf("AddBOS: original %v, export %v; want true", src.AddBOS(), got.AddBOS())
	}
	text, err := os.ReadFile(datatest.Path(t, "wikitext-2/wiki.test.raw"))
	if err != nil {
		t.Fatal(err)
	}
	tokens := src.Tokenizer.Encode(string(text[:40000]), true, false)
	for _, protocol := range []string{eval.ProtocolWanda, eval.ProtocolLlamaCpp} {
		opts := eval.PPLOptions{Protocol: protocol, SeqLen: 256, MaxWindows: 8, BOS: src.Tokenizer.BOS()}
		a, err := eval.Perplexity(context.Background(), src, tokens, src.Config.SeqLen, opts)
		if err != nil {
			t.Fatal(err)
		}
		b, err := eval.Perplexity(context.Background(), got, tokens, got.Config.SeqLen, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: ppl %.6f over %d windows", protocol, a.PPL, a.Windows)
		if a.PPL != b.PPL || a.Scored != b.Scored || a.Windows != 8 {
			t.Errorf("%s: ppl %v (%d scored), export %v (%d scored)", protocol, a.PPL, a.Scored, b.PPL, b.Scored)
		}
	}
}
