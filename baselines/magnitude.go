package baselines

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// Magnitude prunes the smallest |W|: per matrix when unstructured, per
// group of M inputs of each row for N:M. It needs no data.
type Magnitude struct{}

// Name implements prune.Method.
func (Magnitude) Name() string { return "magnitude" }

// Prune implements prune.Method; st is ignored and may be nil. One
// selection over the layer is its whole work, so ctx is only checked
// before it.
func (Magnitude) Prune(ctx context.Context, w *model.Linear, _ *prune.Stats, p prune.Pattern) (prune.Mask, prune.Report, error) {
	start := time.Now()
	if err := ctx.Err(); err != nil {
		return nil, prune.Report{}, fmt.Errorf("magnitude: %w", err)
	}
	if err := prune.CheckFinite(w); err != nil {
		return nil, prune.Report{}, fmt.Errorf("magnitude: %w", err)
	}
	scores := make([]float64, len(w.W))
	for i, v := range w.W {
		scores[i] = math.Abs(float64(v))
	}
	return selectAndApply("magnitude", w, scores, p, false, start)
}

// selectAndApply chooses the mask from scores, zeroes the pruned weights
// and fills the report: the shared tail of the score-only methods.
func selectAndApply(name string, w *model.Linear, scores []float64, p prune.Pattern, perRow bool, start time.Time) (prune.Mask, prune.Report, error) {
	if err := p.Validate(); err != nil {
		return nil, prune.Report{}, fmt.Errorf("%s: %w", name, err)
	}
	mask, err := prune.Select(scores, w.Out, w.In, p, perRow)
	if err != nil {
		return nil, prune.Report{}, fmt.Errorf("%s: %w", name, err)
	}
	mask.Apply(w.W)
	return mask, report(w, start), nil
}

func report(w *model.Linear, start time.Time) prune.Report {
	r := prune.Report{Elapsed: time.Since(start)}
	if n := len(w.W); n > 0 {
		r.Sparsity = float64(prune.Zeros(w.W)) / float64(n)
	}
	return r
}
