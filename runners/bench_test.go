package runners_test

import (
	"context"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/runners"
	"github.com/prunebench/prunebench/safetensors"
)

// TestBench runs the synthetic benchmark on a small shape: every block is
// pruned to the pattern, the evaluation scores its windows and the
// figures are filled in.
func TestBench(t *testing.T) {
	shape := model.Config{Dim: 64, HiddenDim: 172, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 16, Vocab: 32000, SeqLen: 128, NormEps: 1e-5, RopeBase: 10000}
	r, err := runners.Bench(context.Background(), runners.BenchSpec{
		Shape: shape, DType: safetensors.BF16, Tokenizer: datatest.Path(t, "tokenizers/llama2/tokenizer.model"),
		Method: spec("sparsegpt"), Pattern: prune.Pattern{N: 2, M: 4}, NSamples: 2, SeqLen: 64, EvalWindows: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Blocks) != 2 || r.Blocks[1].Sparsity != 0.5 {
		t.Errorf("blocks %+v: want 2 at sparsity 0.5", r.Blocks)
	}
	if r.EvalTokens != 128 || !(r.EvalTokensPerSec > 0) || !(r.EvalGFLOPs > 0) || !(r.SgemmGFLOPs > 0) || r.PeakRSS <= 0 {
		t.Errorf("figures %+v: want 128 eval tokens and positive rates", r)
	}
	if r.Method.Options["percdamp"] != 0.01 {
		t.Errorf("method %+v: want the resolved options", r.Method)
	}
	if _, err := runners.Bench(context.Background(), runners.BenchSpec{Shape: shape, Method: spec("wanda"), Pattern: prune.Pattern{Ratio: 0.5}, NSamples: 1, SeqLen: 129}); err == nil {
		t.Error("a calibration window beyond the context was accepted")
	}
}
