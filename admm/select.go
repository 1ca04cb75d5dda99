package admm

import (
	"math"

	"github.com/prunebench/prunebench/prune"
)

// selector chooses ADMM-Grad's mask at each gradual step, in W layout.
type selector struct {
	out, in   int
	p         prune.Pattern
	perOutput bool
	steps     int  // K
	full      bool // reference-full: layer-global selects at s at every step
}

// sparsityAt is the cubic ramp at step t, written as the reference
// computes it (s − s·(1−(t+1)/K)³) so that int(numel·s_t) agrees with it
// at the same float boundaries; it is exactly s at t = K−1.
func sparsityAt(s float64, t, k int) float64 {
	r := 1 - float64(t+1)/float64(k)
	return s - s*(r*r*r)
}

// step returns the mask at gradual step t from scores = |B+U| (which it
// may overwrite). The last step is the one-shot selection at the target,
// which for N:M equals pruning every non-protected entry: exact N:M.
func (s selector) step(t int, scores []float64) (prune.Mask, error) {
	numel := s.out * s.in
	if t == s.steps-1 || (s.full && !s.p.Structured() && !s.perOutput) {
		return prune.Select(scores, s.out, s.in, s.p, s.perOutput)
	}
	st := sparsityAt(s.p.Sparsity(), t, s.steps)
	switch {
	case s.p.Structured():
		// Protected top-N: the N largest of each group can never be
		// pruned at this step, the rest compete layer-wide.
		pruned := prune.SelectNM(scores, s.out, s.in, s.p.N, s.p.M)
		for i, p := range pruned {
			if !p {
				scores[i] = math.Inf(1)
			}
		}
		return prune.SelectPerMatrix(scores, prune.PruneCount(numel, st)), nil
	case s.perOutput:
		return prune.SelectPerRow(scores, s.out, s.in, prune.PruneCount(s.in, st)), nil
	default:
		return prune.SelectPerMatrix(scores, prune.PruneCount(numel, st)), nil
	}
}
