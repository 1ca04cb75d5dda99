package baselines

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// Wanda prunes by |W|·‖x_j‖ with each output row as the comparison group
// (Sun et al. 2023); N:M groups are as for magnitude. No weight update.
type Wanda struct{}

// Name implements prune.Method.
func (Wanda) Name() string { return "wanda" }

// Prune implements prune.Method; as for Magnitude, ctx is only checked
// before the one selection.
func (Wanda) Prune(ctx context.Context, w *model.Linear, st *prune.Stats, p prune.Pattern) (prune.Mask, prune.Report, error) {
	start := time.Now()
	if err := ctx.Err(); err != nil {
		return nil, prune.Report{}, fmt.Errorf("wanda: %w", err)
	}
	if err := prune.CheckFinite(w); err != nil {
		return nil, prune.Report{}, fmt.Errorf("wanda: %w", err)
	}
	if err := st.Check(w.In); err != nil {
		return nil, prune.Report{}, fmt.Errorf("wanda: %w", err)
	}
	norm := ScalerRow(st)
	for j, v := range norm {
		norm[j] = math.Sqrt(v)
	}
	scores := make([]float64, len(w.W))
	for i, v := range w.W {
		scores[i] = math.Abs(float64(v)) * norm[i%w.In]
	}
	return selectAndApply("wanda", w, scores, p, true, start)
}

// ScalerRow is Wanda's statistic: the mean over sequences of Σ_tokens x_j²,
// i.e. diag(G)/Seqs (the reference's running mean, without its rounding).
func ScalerRow(st *prune.Stats) []float64 {
	d := st.Diag()
	for j := range d {
		d[j] /= float64(st.Seqs)
	}
	return d
}
