package runners_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/eval"
	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/runners"
	"github.com/prunebench/prunebench/safetensors"
)

// TestBOSFollowsTheVocabulary: texts start with BOS exactly when the
// vocabulary says so (LLaMA-3's tokenizer_config.json: yes; Qwen3's: no
// BOS at all), in the evaluation text, the calibration and the llamacpp
// protocol's chunks, which llama.cpp leaves alone without add_bos_token.
// Before, every text got the vocabulary's BOS, which for Qwen3 is none:
// the llamacpp protocol failed on token −1.
func TestBOSFollowsTheVocabulary(t *testing.T) {
	dir := datatest.Dir(t)
	for _, c := range []struct {
		name, tokenizer string
		cfg             model.Config
		bos             bool
	}{
		{"llama3", "tokenizers/llama3/tokenizer.json",
			model.Config{Dim: 32, HiddenDim: 64, Layers: 1, Heads: 4, KVHeads: 2, HeadDim: 8, Vocab: 128256, SeqLen: 256, NormEps: 1e-5, RopeBase: 500000}, true},
		{"qwen3", "tokenizers/qwen3/tokenizer.json",
			model.Config{Arch: model.ArchQwen3, Dim: 32, HiddenDim: 64, Layers: 1, Heads: 4, KVHeads: 2, HeadDim: 16, Vocab: 151936, SeqLen: 256, NormEps: 1e-6, RopeBase: 1e6, TiedClassifier: true}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			mdir := filepath.Join(t.TempDir(), c.name)
			if err := model.WriteSynthetic(context.Background(), mdir, c.cfg, 1, safetensors.F32, filepath.Join(dir, c.tokenizer)); err != nil {
				t.Fatal(err)
			}
			m, err := model.Open(mdir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.AddBOS() != c.bos {
				t.Fatalf("AddBOS %v, want %v", m.AddBOS(), c.bos)
			}
			text, err := data.ReadText(dir, "wikitext2")
			if err != nil {
				t.Fatal(err)
			}
			want := len(m.Tokenizer.Encode(text.Text, c.bos, false))
			spec := runners.RunSpec{Model: mdir, DataDir: dir, Method: spec("wanda"), Pattern: prune.Pattern{Ratio: 0.5},
				Calib: data.CalibSpec{Source: data.CorpusWikiText2Valid, NSamples: 2, SeqLen: 32, Mode: data.ModeContiguous},
				Eval: runners.EvalSpec{PPL: []runners.PPLSpec{
					{Dataset: "wikitext2", SeqLen: 32, MaxWindows: 2},
					{Dataset: "wikitext2", SeqLen: 32, MaxWindows: 2, Protocol: eval.ProtocolLlamaCpp},
				}}}
			o, err := runners.Run(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range o.PPL {
				if p.Tokens != want {
					t.Errorf("%s: %d tokens, want %d (BOS %v)", p.Protocol, p.Tokens, want, c.bos)
				}
			}
			// Contiguous calibration tokenises its whole corpus once.
			valid, err := data.ReadText(dir, data.CorpusWikiText2Valid)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := o.Calib.Tokens, len(m.Tokenizer.Encode(valid.Text, c.bos, false)); got != want {
				t.Errorf("calibration corpus of %d tokens, want %d (BOS %v)", got, want, c.bos)
			}
		})
	}
}
