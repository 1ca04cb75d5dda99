package prune_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/prunebench/prunebench/baselines"
	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/safetensors"
)

// TestRunStreamingMatchesWhole prunes a sharded BF16 checkpoint opened
// streaming (each block read when pruned, committed to a spill file) and
// the same checkpoint loaded whole: the per-linear results and every
// pruned weight are identical.
func TestRunStreamingMatchesWhole(t *testing.T) {
	cfg := model.Config{Dim: 64, HiddenDim: 172, Layers: 3, Heads: 4, KVHeads: 2, HeadDim: 16, Vocab: 32000, SeqLen: 128, NormEps: 1e-5, RopeBase: 10000}
	dir := filepath.Join(t.TempDir(), "bf16")
	if err := model.WriteSynthetic(context.Background(), dir, cfg, 3, safetensors.BF16, datatest.Path(t, "tokenizers/llama2/tokenizer.model")); err != nil {
		t.Fatal(err)
	}
	calib := calibration(4, 32, cfg.Vocab)
	for _, c := range []struct {
		method prune.Method
		p      prune.Pattern
	}{
		{baselines.Wanda{}, prune.Pattern{Ratio: 0.5}},
		{baselines.DefaultSparseGPT(), prune.Pattern{N: 2, M: 4}},
	} {
		t.Run(c.method.Name(), func(t *testing.T) {
			whole, err := model.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			streaming, err := model.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer streaming.Close()
			opts := prune.PipelineOptions{ChunkSeqs: 2}
			want, err := prune.Run(context.Background(), whole, calib, c.method, c.p, opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := prune.Run(context.Background(), streaming, calib, c.method, c.p, opts)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want.Blocks {
				want.Blocks[i].Seconds, got.Blocks[i].Seconds = 0, 0
				want.Blocks[i].PruneSeconds, got.Blocks[i].PruneSeconds = 0, 0
				for j := range want.Blocks[i].Linears {
					want.Blocks[i].Linears[j].Seconds, got.Blocks[i].Linears[j].Seconds = 0, 0
				}
			}
			if !reflect.DeepEqual(got.Blocks, want.Blocks) {
				t.Errorf("streaming results %+v\nwhole %+v", got.Blocks, want.Blocks)
			}
			for l := range cfg.Layers {
				b, release, err := streaming.Block(l)
				if err != nil {
					t.Fatal(err)
				}
				for i, lin := range b.Linears() {
					w := whole.Weights.Blocks[l].Linears()[i].W
					for j := range w {
						if math.Float32bits(lin.W[j]) != math.Float32bits(w[j]) {
							t.Fatalf("block %d %s[%d]: streaming %g, whole %g", l, model.LinearNames[i], j, lin.W[j], w[j])
						}
					}
				}
				release()
			}
		})
	}
}

// TestRunSpilledInputsMatch: with the block inputs in a temporary file
// (SpillInputs) the pruned weights and results are those of inputs in
// memory, and the file leaves nothing in TMPDIR.
func TestRunSpilledInputsMatch(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	calib := calibration(64, 32, 40) // 128 KiB of inputs: chunks of whole pages
	p := prune.Pattern{Ratio: 0.5}
	want, inMemory := tinyModel(t, 40), prune.PipelineOptions{ChunkSeqs: 8}
	wantRes, err := prune.Run(context.Background(), want, calib, baselines.Wanda{}, p, inMemory)
	if err != nil {
		t.Fatal(err)
	}
	got := tinyModel(t, 40)
	gotRes, err := prune.Run(context.Background(), got, calib, baselines.Wanda{}, p, prune.PipelineOptions{ChunkSeqs: 8, SpillInputs: true})
	if err != nil {
		t.Fatal(err)
	}
	for l := range got.Weights.Blocks {
		for i, lin := range got.Weights.Blocks[l].Linears() {
			w := want.Weights.Blocks[l].Linears()[i].W
			for j := range w {
				if math.Float32bits(lin.W[j]) != math.Float32bits(w[j]) {
					t.Fatalf("block %d %s[%d]: spilled %g, in memory %g", l, model.LinearNames[i], j, lin.W[j], w[j])
				}
			}
		}
	}
	for i := range wantRes.Blocks {
		if gotRes.Blocks[i].MeanRelError != wantRes.Blocks[i].MeanRelError {
			t.Errorf("block %d: error %g spilled, %g in memory", i, gotRes.Blocks[i].MeanRelError, wantRes.Blocks[i].MeanRelError)
		}
	}
	if es, _ := os.ReadDir(tmp); len(es) != 0 {
		t.Errorf("TMPDIR holds %v", es)
	}
}
