package prune_test

import (
	"context"
	"testing"

	"github.com/prunebench/prunebench/baselines"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// memoCounter prunes with Wanda and memoises a value on the statistics,
// counting computations and holding on to the Stats it saw.
type memoCounter struct {
	prune.Method
	computed int
	seen     map[*prune.Stats]bool
}

func (m *memoCounter) Prune(ctx context.Context, w *model.Linear, st *prune.Stats, p prune.Pattern) (prune.Mask, prune.Report, error) {
	if _, err := st.Memo("factor", func() (any, error) { m.computed++; return new(int), nil }); err != nil {
		return nil, prune.Report{}, err
	}
	m.seen[st] = true
	return m.Method.Prune(ctx, w, st, p)
}

// TestRunSharesAndReleasesMemo: in each block, q/k/v and gate/up share one
// memoised value (4 computations per block for 7 linears), and nothing is
// left cached once the run is over.
func TestRunSharesAndReleasesMemo(t *testing.T) {
	m := tinyModel(t, 24)
	mc := &memoCounter{Method: baselines.Wanda{}, seen: map[*prune.Stats]bool{}}
	if _, err := prune.Run(context.Background(), m, calibration(2, 8, 40), mc, prune.Pattern{Ratio: 0.5}, prune.PipelineOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := 4 * m.Config.Layers; mc.computed != want {
		t.Errorf("%d computations, want %d (4 inputs × %d blocks)", mc.computed, want, m.Config.Layers)
	}
	for st := range mc.seen {
		computed := false
		if _, err := st.Memo("factor", func() (any, error) { computed = true; return nil, nil }); err != nil {
			t.Fatal(err)
		}
		if !computed {
			t.Error("a value was still cached after the run")
		}
	}
}
