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
	protected prune.Mask
}

// sparsityAt is the cubic ramp at step t, written as the reference
// computes it (s − s·(1−(t+1)/K)³) so that int(numel·s_t) agrees with it
// at the same float boundaries; it is exactly s at t = K−1.
func sparsityAt(s float64, t, k int) float64 {
	r := 1 - float64(t+1)/float64(k)
	return s - s*(r*r*r)
}

// step writes into mask the mask at gradual step t from scores = |B+U|
// (which it may overwrite). The last step is the one-shot selection at the
// target, which for N:M equals pruning every non-protected entry: exact
// N:M. Its buffers are reused from step to step.
func (s *selector) step(t int, scores []float32, mask prune.Mask) error {
	return selectStep(s, t, scores, mask)
}

// selectStep is step for either score type: the float64 reference
// iteration of the tests selects with it too.
func selectStep[F prune.Float](s *selector, t int, scores []F, mask prune.Mask) error {
	numel := s.out * s.in
	if t == s.steps-1 || (s.full && !s.p.Structured() && !s.perOutput) {
		return prune.SelectInto(mask, scores, s.out, s.in, s.p, s.perOutput)
	}
	st := sparsityAt(s.p.Sparsity(), t, s.steps)
	switch {
	case s.p.Structured():
		// Protected top-N: the N largest of each group can never be
		// pruned at this step, the rest compete layer-wide.
		if s.protected == nil {
			s.protected = make(prune.Mask, numel)
		}
		prune.SelectNMInto(s.protected, scores, s.out, s.in, s.p.N, s.p.M)
		inf := F(math.Inf(1))
		for i, p := range s.protected {
			if !p {
				scores[i] = inf
			}
		}
		prune.SelectPerMatrixInto(mask, scores, prune.PruneCount(numel, st))
	case s.perOutput:
		prune.SelectPerRowInto(mask, scores, s.out, s.in, prune.PruneCount(s.in, st))
	default:
		prune.SelectPerMatrixInto(mask, scores, prune.PruneCount(numel, st))
	}
	return nil
}
