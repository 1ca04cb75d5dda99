package baselines

import (
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
type SparseGPT struct {
	BlockSize int     // columns per lazy-update block; 0 means 128
	PercDamp  float64 // damping as a fraction of mean(diag H); 0 means 0.01
}

// choleskyRetries is how many times a failed factorisation is retried, each
// time with 10× the damping, before giving up.
const choleskyRetries = 4

// Name implements prune.Method.
func (SparseGPT) Name() string { return "sparsegpt" }

func (s SparseGPT) settings() (bs int, damp float64, err error) {
	bs, damp = s.BlockSize, s.PercDamp
	if bs == 0 {
		bs = 128
	}
	if damp == 0 {
		damp = 0.01
	}
	if bs < 0 || !(damp > 0) || math.IsInf(damp, 0) {
		return 0, 0, fmt.Errorf("sparsegpt: block size %d and damping %g: want a positive block size and a positive finite damping", s.BlockSize, s.PercDamp)
	}
	return bs, damp, nil
}

// Prune implements prune.Method. Unstructured: each block of BlockSize
// columns prunes its exact share of int(numel·s) weights by w²/U_jj² (see
// choose). N:M: each group of M columns is chosen when the sweep reaches it.
func (s SparseGPT) Prune(w *model.Linear, st *prune.Stats, p prune.Pattern) (prune.Mask, prune.Report, error) {
	start := time.Now()
	bs, damp, err := s.settings()
	if err != nil {
		return nil, prune.Report{}, err
	}
	if err := p.Validate(); err != nil {
		return nil, prune.Report{}, fmt.Errorf("sparsegpt: %w", err)
	}
	if err := p.Fits(w.In); err != nil {
		return nil, prune.Report{}, fmt.Errorf("sparsegpt: %w", err)
	}
	if p.Structured() && bs%p.M != 0 {
		return nil, prune.Report{}, fmt.Errorf("sparsegpt: block size %d is not a multiple of M=%d, so N:M groups would straddle blocks", bs, p.M)
	}
	sw, err := newSweep(w, st, bs, damp)
	if err != nil {
		return nil, prune.Report{}, err
	}
	mask := make(prune.Mask, w.Out*w.In)
	step := bs
	if p.Structured() {
		step = p.M
	}
	if err := sw.run(mask, step, func(c0, c1 int) error { return sw.choose(mask, c0, c1, p) }); err != nil {
		return nil, prune.Report{}, err
	}
	rep, err := sw.finish(w, start)
	return mask, rep, err
}

// PruneWithMask runs the same column sweep on a given fixed mask (same
// shape as w): no selection, only SparseGPT's weight update. The ADMM
// comparison uses it to put both updates on one support.
func (s SparseGPT) PruneWithMask(w *model.Linear, st *prune.Stats, mask prune.Mask) (prune.Report, error) {
	start := time.Now()
	bs, damp, err := s.settings()
	if err != nil {
		return prune.Report{}, err
	}
	if len(mask) != w.Out*w.In {
		return prune.Report{}, fmt.Errorf("sparsegpt: mask has %d entries for a %d×%d weight", len(mask), w.Out, w.In)
	}
	sw, err := newSweep(w, st, bs, damp)
	if err != nil {
		return prune.Report{}, err
	}
	if err := sw.run(mask, bs, nil); err != nil {
		return prune.Report{}, err
	}
	return sw.finish(w, start)
}

// sweep is one SparseGPT pass over a weight: W in float64 and U, the
// upper Cholesky factor of the damped H⁻¹.
type sweep struct {
	out, in, bs int
	w           []float64
	u           []float64
	notes       []string
}

func newSweep(w *model.Linear, st *prune.Stats, bs int, percdamp float64) (*sweep, error) {
	if err := prune.CheckFinite(w); err != nil {
		return nil, fmt.Errorf("sparsegpt: %w", err)
	}
	if err := st.Check(w.In); err != nil {
		return nil, fmt.Errorf("sparsegpt: %w", err)
	}
	n := w.In
	sw := &sweep{out: w.Out, in: n, bs: bs, w: make([]float64, len(w.W)), u: make([]float64, n*n)}
	for i, v := range w.W {
		sw.w[i] = float64(v)
	}
	var dead []int
	for j := 0; j < n; j++ {
		if st.Gram[j*n+j] == 0 {
			dead = append(dead, j)
		}
	}
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
	for try := 0; ; try++ {
		damp := percdamp * math.Pow(10, float64(try))
		if sw.factor(st, dead, damp) {
			if try > 0 {
				sw.notes = append(sw.notes, fmt.Sprintf("Cholesky failed at percdamp %g; succeeded at %g", percdamp, damp))
			}
			return sw, nil
		}
		if try == choleskyRetries {
			return nil, fmt.Errorf("sparsegpt: Cholesky of the damped Hessian (%d×%d) failed at percdamp %g through %g", n, n, percdamp, damp)
		}
	}
}

// factor builds H = 2G/Seqs with the dead-column fix and damping
// percdamp·mean(diag H), and replaces it in u by the upper Cholesky factor
// of H⁻¹. It reports false when H is not numerically positive definite.
// (The scale 2/Seqs changes nothing but rounding; it keeps the numbers
// those of the reference.)
func (sw *sweep) factor(st *prune.Stats, dead []int, percdamp float64) bool {
	n := sw.in
	h := sw.u
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
	if !linalg.InvCholeskyUpper(h, n) {
		return false
	}
	for j := 0; j < n; j++ {
		if d := h[j*n+j]; !(d > 0) || math.IsInf(d, 0) {
			return false
		}
	}
	return true
}

// run sweeps the columns block by block. choose, when not nil, is called
// with each step [c0,c1) of step columns before the sweep reaches it and
// fills mask there from the current weights; with nil the mask is fixed.
func (sw *sweep) run(mask prune.Mask, step int, choose func(c0, c1 int) error) error {
	out, n := sw.out, sw.in
	errs := make([]float64, out*sw.bs)
	for i1 := 0; i1 < n; i1 += sw.bs {
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
