package prune

import (
	"fmt"
	"math"
	"slices"

	"github.com/prunebench/prunebench/linalg"
)

// Mask marks pruned weights (true = pruned) of an out×in matrix, row-major.
type Mask []bool

// Count returns the number of pruned entries.
func (m Mask) Count() int {
	c := 0
	for _, p := range m {
		if p {
			c++
		}
	}
	return c
}

// Float is the score types selection accepts: ADMM's float32 iterates
// score in float32, everything else in float64.
type Float interface{ float32 | float64 }

// pruneSmallest marks in mask the k smallest of scores (same length), ties
// broken by the smaller index: exactly the first k of a stable ascending
// sort. It runs in O(n) rather than a sort's O(n log n) because SparseGPT
// selects over every 128-column block of 7B-sized layers: the k-th smallest
// value t is found by selection, then every score below t is pruned and
// the earliest of those equal to t fill the remainder. NaN ranks as −Inf.
// buf is scratch of at least len(scores). It is sequential: the naive twin
// of pruneSmallestParallel, and the per-row selections' kernel.
func pruneSmallest[F Float](scores []F, k int, mask Mask, buf []F) {
	k = min(k, len(scores))
	if k <= 0 {
		return
	}
	v := buf[:len(scores)]
	for i, s := range scores {
		v[i] = rank(s)
	}
	t := kthSmallest(v, k-1)
	below := 0
	for _, s := range scores {
		if rank(s) < t {
			below++
		}
	}
	ties := k - below
	for i, s := range scores {
		switch r := rank(s); {
		case r < t:
			mask[i] = true
		case r == t && ties > 0:
			mask[i] = true
			ties--
		}
	}
}

func rank[F Float](s F) F {
	r := s
	if s != s {
		r = F(math.Inf(-1))
	}
	return r
}

// kthSmallest returns the k-th smallest (0-based) of v, reordering v:
// quickselect with a median-of-3 pivot and a 3-way partition, so that runs
// of equal scores (quantised weights, dead inputs) stay linear.
func kthSmallest[F Float](v []F, k int) F {
	lo, hi := 0, len(v)
	for hi-lo > 16 {
		a, b, c := v[lo], v[lo+(hi-lo)/2], v[hi-1]
		p := max(min(a, b), min(max(a, b), c))
		lt, i, gt := lo, lo, hi
		for i < gt {
			switch {
			case v[i] < p:
				v[lt], v[i] = v[i], v[lt]
				lt++
				i++
			case v[i] > p:
				gt--
				v[i], v[gt] = v[gt], v[i]
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt
		case k >= gt:
			lo = gt
		default:
			return p
		}
	}
	slices.Sort(v[lo:hi])
	return v[k]
}

// SelectPerMatrix prunes the k smallest scores of the whole matrix.
func SelectPerMatrix[F Float](scores []F, k int) Mask {
	mask := make(Mask, len(scores))
	SelectPerMatrixInto(mask, scores, k)
	return mask
}

// SelectPerMatrixInto is SelectPerMatrix writing into mask (same length as
// scores), which it overwrites entirely. Large matrices are selected on
// all cores (pruneSmallestParallel) with the same result.
func SelectPerMatrixInto[F Float](mask Mask, scores []F, k int) {
	pruneSmallestParallel(scores, k, mask)
}

// SelectPerRow prunes the k smallest scores of every row of a rows×cols
// matrix (Wanda's comparison group).
func SelectPerRow[F Float](scores []F, rows, cols, k int) Mask {
	mask := make(Mask, len(scores))
	SelectPerRowInto(mask, scores, rows, cols, k)
	return mask
}

// SelectPerRowInto is SelectPerRow writing into mask, which it overwrites.
func SelectPerRowInto[F Float](mask Mask, scores []F, rows, cols, k int) {
	linalg.ParallelFor(rows, func(lo, hi int) {
		buf := make([]F, cols)
		clear(mask[lo*cols : hi*cols])
		for r := lo; r < hi; r++ {
			pruneSmallest(scores[r*cols:(r+1)*cols], k, mask[r*cols:(r+1)*cols], buf)
		}
	})
}

// SelectNM prunes the m−n smallest scores of every group of m consecutive
// columns in every row; cols must be a multiple of m.
func SelectNM[F Float](scores []F, rows, cols, n, m int) Mask {
	mask := make(Mask, len(scores))
	SelectNMInto(mask, scores, rows, cols, n, m)
	return mask
}

// SelectNMInto is SelectNM writing into mask, which it overwrites.
func SelectNMInto[F Float](mask Mask, scores []F, rows, cols, n, m int) {
	linalg.ParallelFor(rows, func(lo, hi int) {
		buf := make([]F, m)
		clear(mask[lo*cols : hi*cols])
		for i := lo * cols; i < hi*cols; i += m {
			pruneSmallest(scores[i:i+m], m-n, mask[i:i+m], buf)
		}
	})
}

// Select applies pattern p to scores of a rows×cols matrix. Unstructured
// ratios prune int(numel·s) per matrix, or int(cols·s) per row when perRow.
func Select[F Float](scores []F, rows, cols int, p Pattern, perRow bool) (Mask, error) {
	mask := make(Mask, len(scores))
	return mask, SelectInto(mask, scores, rows, cols, p, perRow)
}

// SelectInto is Select writing into mask (one entry per score), which it
// overwrites: repeated selections (ADMM-Grad's gradual steps) reuse one
// mask.
func SelectInto[F Float](mask Mask, scores []F, rows, cols int, p Pattern, perRow bool) error {
	if len(scores) != rows*cols || len(mask) != len(scores) {
		return fmt.Errorf("select: %d scores and a mask of %d for a %d×%d matrix", len(scores), len(mask), rows, cols)
	}
	if err := p.Fits(cols); err != nil {
		return err
	}
	switch {
	case p.Structured():
		SelectNMInto(mask, scores, rows, cols, p.N, p.M)
	case perRow:
		SelectPerRowInto(mask, scores, rows, cols, PruneCount(cols, p.Ratio))
	default:
		SelectPerMatrixInto(mask, scores, PruneCount(rows*cols, p.Ratio))
	}
	return nil
}

// Apply zeroes the weights of w (same shape as m) that m prunes.
func (m Mask) Apply(w []float32) {
	for i, p := range m {
		if p {
			w[i] = 0
		}
	}
}

// Zeros counts the zero entries of w: a layer's achieved sparsity is
// Zeros/len(w), which can exceed its mask's when weights were zero already.
func Zeros(w []float32) int {
	c := 0
	for _, v := range w {
		if v == 0 {
			c++
		}
	}
	return c
}
