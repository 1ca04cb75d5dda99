package runners_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/runners"
)

// TestRunOutGGUF: `--out FILE.gguf` saves the pruned model as an F32 GGUF
// file that loads back with the run's exact weights (its zeros included)
// and perplexity; an existing file is refused before any pruning.
func TestRunOutGGUF(t *testing.T) {
	dir := datatest.Dir(t)
	out := filepath.Join(t.TempDir(), "pruned.gguf")
	ev := runners.EvalSpec{PPL: []runners.PPLSpec{{Dataset: "wikitext2", SeqLen: 128, MaxWindows: 2}}}
	s := runners.RunSpec{Model: "stories260K", DataDir: dir, Method: spec("wanda"), Pattern: prune.Pattern{N: 2, M: 4},
		Calib: data.CalibSpec{NSamples: 4, SeqLen: 64, Mode: data.ModeContiguous}, Eval: ev, Out: out}
	o, err := runners.Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if o.Record.Out != out {
		t.Errorf("record out %q, want %q", o.Record.Out, out)
	}
	m, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	// Every group of 4 inputs keeps at most 2 weights.
	for l := range m.Weights.Blocks {
		for i, lin := range m.Weights.Blocks[l].Linears() {
			for g := 0; g < len(lin.W); g += 4 {
				if z := countZeros(lin.W[g : g+4]); z < 2 {
					t.Fatalf("block %d linear %d group at %d: %d zeros, want 2:4", l, i, g, z)
				}
			}
		}
	}
	again, err := runners.Run(context.Background(), runners.RunSpec{Model: out, DataDir: dir, Method: runners.MethodSpec{Name: runners.Dense}, Eval: ev})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := again.PPL[0].PPL, o.PPL[0].PPL; got != want {
		t.Errorf("saved GGUF's perplexity %v, in-process %v", got, want)
	}
	if _, err := runners.Run(context.Background(), s); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("second run onto %s: %v, want a refusal", out, err)
	}
}

func countZeros(w []float32) int {
	n := 0
	for _, v := range w {
		if v == 0 {
			n++
		}
	}
	return n
}
