package model

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/safetensors"
)

// TestWriteSynthetic writes a small random LLaMA in F32 and in BF16 and
// loads both through the Hugging Face loader: the shapes are the config's,
// and every BF16 weight is its F32 twin rounded to bfloat16.
func TestWriteSynthetic(t *testing.T) {
	tok := datatest.Path(t, "tokenizers/llama2/tokenizer.model")
	cfg := Config{Dim: 64, HiddenDim: 172, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 16, Vocab: 32000, SeqLen: 128, NormEps: 1e-5, RopeBase: 10000}
	load := func(dtype safetensors.DType) *Model {
		dir := filepath.Join(t.TempDir(), string(dtype))
		if err := WriteSynthetic(context.Background(), dir, cfg, 7, dtype, tok); err != nil {
			t.Fatal(err)
		}
		m, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	f32, bf16 := load(safetensors.F32), load(safetensors.BF16)
	if f32.Config != cfg {
		t.Fatalf("loaded config %+v, want %+v", f32.Config, cfg)
	}
	var nonzero int
	for l := range cfg.Layers {
		a, b := f32.Weights.Blocks[l].Linears(), bf16.Weights.Blocks[l].Linears()
		for i := range a {
			for j, w := range a[i].W {
				if want := safetensors.BF16ToFloat32(safetensors.Float32ToBF16(w)); b[i].W[j] != want {
					t.Fatalf("block %d %s[%d]: BF16 %g, want %g (F32 %g rounded)", l, LinearNames[i], j, b[i].W[j], want, w)
				}
				if w != 0 {
					nonzero++
				}
			}
		}
	}
	if nonzero == 0 {
		t.Fatal("all weights zero")
	}
	ctx := context.Background()
	if _, err := f32.ForwardContext(ctx, []int{1, 100, 200, 300}, 1, 4); err != nil {
		t.Fatal(err)
	}
}
