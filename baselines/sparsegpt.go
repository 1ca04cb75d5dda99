package baselines

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/prunebench/prunebench/linalg"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// SparseGPT is the OBS column sweep of Frantar & Alistarh (2023): the mask
// is chosen adaptively (per block of columns, or per group of M columns for
// N:M) on the weights as already updated, and every pruned weight's error
// is compensated on the columns to its right through the upper Cholesky
// factor of H⁻¹. The whole sweep runs in float64.
//
// The fields are used exactly as given: DefaultSparseGPT has the paper's
// settings, and Prune refuses values outside the ranges Validate checks
// rather than replacing them, so that a run records what it ran.
type SparseGPT struct {
	BlockSize int     // columns per lazy-update block, ≥ 1
	PercDamp  float64 // damping as a fraction of mean(diag H), > 0 and finite
}

// DefaultSparseGPT is SparseGPT with the reference's settings (PRUNING.md
// §5): blocks of 128 columns, percdamp 0.01.
func DefaultSparseGPT() SparseGPT {
	return SparseGPT{BlockSize: 128, PercDamp: 0.01}
}

// Validate checks the options against their ranges. Damping 0 is refused
// because the retries scale it by 10 and could not recover a singular
// Hessian; a block size above the layer width is one block.
func (s SparseGPT) Validate() error {
	switch {
	case s.BlockSize < 1:
		return fmt.Errorf("sparsegpt: --blocksize %d: must be ≥ 1", s.BlockSize)
	case !(s.PercDamp > 0) || math.IsInf(s.PercDamp, 0):
		return fmt.Errorf("sparsegpt: --percdamp %g: must be > 0 and finite", s.PercDamp)
	}
	return nil
}

// choleskyRetries is how many times a failed factorisation is retried, each
// time with 10× the damping, before giving up.
const choleskyRetries = 4

// Name implements prune.Method.
func (SparseGPT) Name() string { return "sparsegpt" }

// Prune implements prune.Method. Unstructured: each block of BlockSize
// columns prunes its exact share of int(numel·s) weights by w²/U_jj² (see
// choose). N:M: each group of M columns is chosen when the sweep reaches it.
// ctx is checked in the factorisation and at every block of columns.
func (s SparseGPT) Prune(ctx context.Context, w *model.Linear, st *prune.Stats, p prune.Pattern) (prune.Mask, prune.Report, error) {
	start := time.Now()
	if err := s.Validate(); err != nil {
		return nil, prune.Report{}, err
	}
	if err := p.Validate(); err != nil {
		return nil, prune.Report{}, fmt.Errorf("sparsegpt: %w", err)
	}
	if err := p.Fits(w.In); err != nil {
		return nil, prune.Report{}, fmt.Errorf("sparsegpt: %w", err)
	}
	// The sweep's blocks are min(BlockSize, width) wide (a width that M
	// divides, as Fits checked), so that is what M must divide.
	if bs := min(s.BlockSize, w.In); p.Structured() && bs%p.M != 0 {
		return nil, prune.Report{}, fmt.Errorf("sparsegpt: --blocksize %d: must be a multiple of M=%d for %s, so that N:M groups do not straddle blocks", s.BlockSize, p.M, p)
	}
	sw, err := s.newSweep(ctx, w, st)
	if err != nil {
		return nil, prune.Report{}, err
	}
	mask := make(prune.Mask, w.Out*w.In)
	step := sw.bs
	if p.Structured() {
		step = p.M
	}
	if err := sw.run(ctx, mask, step, func(c0, c1 int) error { return sw.choose(mask, c0, c1, p) }); err != nil {
		return nil, prune.Report{}, err
	}
	rep, err := sw.finish(w, start)
	return mask, rep, err
}

// PruneWithMask runs the same column sweep on a given fixed mask (same
// shape as w): no selection, only SparseGPT's weight update. The ADMM
// comparison uses it to put both updates on one support.
func (s SparseGPT) PruneWithMask(ctx context.Context, w *model.Linear, st *prune.Stats, mask prune.Mask) (prune.Report, error) {
	start := time.Now()
	if err := s.Validate(); err != nil {
		return prune.Report{}, err
	}
	if len(mask) != w.Out*w.In {
		return prune.Report{}, fmt.Errorf("sparsegpt: mask has %d entries for a %d×%d weight", len(mask), w.Out, w.In)
	}
	sw, err := s.newSweep(ctx, w, st)
	if err != nil {
		return prune.Report{}, err
	}
	if err := sw.run(ctx, mask, sw.bs, nil); err != nil {
		return prune.Report{}, err
	}
	return sw.finish(w, start)
}

// sweep is one SparseGPT pass over a weight: W in float64 and U, the
// upper Cholesky factor of the damped H⁻¹. bs is the block size capped at
// the width, which sizes the error buffer by the layer, not by the option.
type sweep struct {
	out, in, bs int
	w           []float64
	u           []float64
	notes       []string
}

func (s SparseGPT) newSweep(ctx context.Context, w *model.Linear, st *prune.Stats) (*sweep, error) {
	if err := prune.CheckFinite(w); err != nil {
		return nil, fmt.Errorf("sparsegpt: %w", err)
	}
	if err := st.Check(w.In); err != nil {
		return nil, fmt.Errorf("sparsegpt: %w", err)
	}
	n := w.In
	sw := &sweep{out: w.Out, in: n, bs: min(s.BlockSize, n), w: make([]float64, len(w.W))}
	for i, v := range w.W {
		sw.w[i] = float64(v)
	}
	dead := deadInputs(st)
	// A dead input carries no information: its weights are dropped and
	// H_jj = 1 keeps H invertible (the reference's rule).
	for _, j := range dead {
		for r := 0; r < sw.out; r++ {
			sw.w[r*n+j] = 0
		}
	}
	if len(dead) > 0 {
		sw.notes = append(sw.notes, fmt.Sprintf("%d dead input columns zeroed (first %d)", len(dead), dead[0]))
	}
	// U depends on the statistics and the damping only: the linears that
	// share an input (q/k/v, gate/up) share one, from the Stats' cache.
	v, err := st.Memo(invCholKey{s.PercDamp}, func() (any, error) {
		return s.invChol(ctx, st, dead)
	})
	if err != nil {
		return nil, err
	}
	f := v.(*invChol)
	sw.u = f.u
	sw.notes = append(sw.notes, f.notes...)
	return sw, nil
}

// invChol is U, the upper Cholesky factor of the damped H⁻¹, with the note
// of a retry that found it. It is shared read-only.
type invChol struct {
	u     []float64
	notes []string
}

// invCholKey names U in a Stats' cache.
type invCholKey struct{ percdamp float64 }

// deadInputs lists the inputs whose Gram diagonal is 0.
func deadInputs(st *prune.Stats) []int {
	var dead []int
	n := st.In
	for j := 0; j < n; j++ {
		if st.Gram[j*n+j] == 0 {
			dead = append(dead, j)
		}
	}
	return dead
}

// invChol computes U, retrying with 10× the damping when the Cholesky
// factorisation fails.
func (s SparseGPT) invChol(ctx context.Context, st *prune.Stats, dead []int) (*invChol, error) {
	n := st.In
	f := &invChol{u: make([]float64, n*n)}
	for try := 0; ; try++ {
		damp := s.PercDamp * math.Pow(10, float64(try))
		err := factor(ctx, f.u, st, dead, damp)
		if err == nil {
			if try > 0 {
				f.notes = append(f.notes, fmt.Sprintf("Cholesky failed at percdamp %g; succeeded at %g", s.PercDamp, damp))
			}
			return f, nil
		}
		if !errors.Is(err, linalg.ErrNotPositiveDefinite) {
			return nil, fmt.Errorf("sparsegpt: %w", err)
		}
		if try == choleskyRetries {
			return nil, fmt.Errorf("sparsegpt: Cholesky of the damped Hessian (%d×%d) failed at percdamp %g through %g", n, n, s.PercDamp, damp)
		}
	}
}

// factor builds H = 2G/Seqs with the dead-column fix and damping
// percdamp·mean(diag H) in h, and replaces it by the upper Cholesky factor
// of H⁻¹. It returns linalg.ErrNotPositiveDefinite when H is not
// numerically positive definite (also when U's diagonal is not positive
// and finite, which would make every pruned weight's update NaN or Inf).
// (The scale 2/Seqs changes nothing but rounding; it keeps the numbers
// those of the reference.)
func factor(ctx context.Context, h []float64, st *prune.Stats, dead []int, percdamp float64) error {
	n := st.In
	scale := 2 / float64(st.Seqs)
	linalg.ParallelFor(len(h), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			h[i] = st.Gram[i] * scale
		}
	})
	for _, j := range dead {
		h[j*n+j] = 1
	}
	mean := 0.0
	for j := 0; j < n; j++ {
		mean += h[j*n+j]
	}
	mean /= float64(n)
	for j := 0; j < n; j++ {
		h[j*n+j] += percdamp * mean
	}
	if err := linalg.InvCholeskyUpper(ctx, h, n); err != nil {
		return err
	}
	for j := 0; j < n; j++ {
		if d := h[j*n+j]; !(d > 0) || math.IsInf(d, 0) {
			return linalg.ErrNotPositiveDefinite
		}
	}
	return nil
}

// run sweeps the columns block by block. choose, when not nil, is called
// with each step [c0,c1) of step columns before the sweep reaches it and
// fills mask there from the current weights; with nil the mask is fixed.
// It stops before a block when ctx is done: a block's work is bounded by
// its lazy update, out·in·bs multiply-adds.
func (sw *sweep) run(ctx context.Context, mask prune.Mask, step int, choose func(c0, c1 int) error) error {
	out, n := sw.out, sw.in
	errs := make([]float64, out*sw.bs)
	for i1 := 0; i1 < n; i1 += sw.bs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("sparsegpt: columns %d..%d: %w", i1, n-1, err)
		}
		i2 := min(i1+sw.bs, n)
		b := i2 - i1
		for c0 := i1; c0 < i2; c0 += step {
			c1 := min(c0+step, i2)
			if choose != nil {
				if err := choose(c0, c1); err != nil {
					return err
				}
			}
			sw.columns(mask, errs, i1, i2, c0, c1)
		}
		// Lazy batch update: the block's accumulated errors reach all later
		// columns in one gemm instead of one rank-1 update per column.
		if i2 < n {
			linalg.Dgemm(false, false, out, n-i2, b, -1, errs, sw.bs, sw.u[i1*n+i2:], n, 1, sw.w[i2:], n)
		}
	}
	return nil
}

// columns applies the OBS update for columns [c0,c1) of block [i1,i2):
// each pruned weight is zeroed and its error (w/U_ii) is spread over the
// rest of its row inside the block. Rows are independent.
func (sw *sweep) columns(mask prune.Mask, errs []float64, i1, i2, c0, c1 int) {
	n, u := sw.in, sw.u
	linalg.ParallelFor(sw.out, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := sw.w[r*n : (r+1)*n]
			e := errs[r*sw.bs : (r+1)*sw.bs]
			for i := c0; i < c1; i++ {
				if !mask[r*n+i] {
					e[i-i1] = 0
					continue
				}
				d := row[i] / u[i*n+i]
				row[i] = 0
				e[i-i1] = d
				if d == 0 {
					continue
				}
				ui := u[i*n : i*n+i2]
				for j := i + 1; j < i2; j++ {
					row[j] -= d * ui[j]
				}
			}
		}
	})
}

// choose selects the pruned weights of columns [c0,c1) by w²/U_jj² on the
// current weights: M−N per row when the step is one N:M group; otherwise
// the step is a whole block, which prunes its share of the matrix's
// int(numel·s) by cumulative rounding, int(out·c1·s) − int(out·c0·s). That
// is the reference's int(numel_block·s) whenever those are integers, and
// keeps the matrix exact (what Verify checks) when they are not.
func (sw *sweep) choose(mask prune.Mask, c0, c1 int, p prune.Pattern) error {
	n, c := sw.in, c1-c0
	scores := make([]float64, sw.out*c)
	for r := 0; r < sw.out; r++ {
		for j := 0; j < c; j++ {
			w, d := sw.w[r*n+c0+j], sw.u[(c0+j)*n+c0+j]
			scores[r*c+j] = w * w / (d * d)
		}
	}
	var m prune.Mask
	if p.Structured() {
		var err error
		if m, err = prune.Select(scores, sw.out, c, p, false); err != nil {
			return fmt.Errorf("sparsegpt: columns %d..%d: %w", c0, c1-1, err)
		}
	} else {
		k := prune.PruneCount(sw.out*c1, p.Ratio) - prune.PruneCount(sw.out*c0, p.Ratio)
		m = prune.SelectPerMatrix(scores, k)
	}
	for r := 0; r < sw.out; r++ {
		copy(mask[r*n+c0:r*n+c1], m[r*c:(r+1)*c])
	}
	return nil
}

// finish writes the swept weights back to w and reports; a non-finite
// result is an error rather than a silently broken layer.
func (sw *sweep) finish(w *model.Linear, start time.Time) (prune.Report, error) {
	for i, v := range sw.w {
		if !(math.Abs(v) <= math.MaxFloat32) {
			return prune.Report{}, fmt.Errorf("sparsegpt: updated weight [%d,%d] is %g, not a finite float32 (ill-conditioned Hessian?)", i/sw.in, i%sw.in, v)
		}
	}
	for i, v := range sw.w {
		w.W[i] = float32(v)
	}
	rep := report(w, start)
	rep.Notes = sw.notes
	return rep, nil
}
