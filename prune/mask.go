package prune

import (
	"fmt"
	"sort"
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

// pruneSmallest marks the k smallest scores[idx[i]] as pruned, ties broken
// by the smaller index (idx must be ascending). It sorts idx in place.
func pruneSmallest(scores []float64, idx []int, k int, mask Mask) {
	if k <= 0 {
		return
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	for _, i := range idx[:k] {
		mask[i] = true
	}
}

// SelectPerMatrix prunes the k smallest scores of the whole matrix.
func SelectPerMatrix(scores []float64, k int) Mask {
	mask := make(Mask, len(scores))
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	pruneSmallest(scores, idx, k, mask)
	return mask
}

// SelectPerRow prunes the k smallest scores of every row of a rows×cols
// matrix (Wanda's comparison group).
func SelectPerRow(scores []float64, rows, cols, k int) Mask {
	mask := make(Mask, len(scores))
	idx := make([]int, cols)
	for r := 0; r < rows; r++ {
		for j := range idx {
			idx[j] = r*cols + j
		}
		pruneSmallest(scores, idx, k, mask)
	}
	return mask
}

// SelectNM prunes the m−n smallest scores of every group of m consecutive
// columns in every row; cols must be a multiple of m.
func SelectNM(scores []float64, rows, cols, n, m int) Mask {
	mask := make(Mask, len(scores))
	idx := make([]int, m)
	for r := 0; r < rows; r++ {
		for g := 0; g < cols; g += m {
			for j := range idx {
				idx[j] = r*cols + g + j
			}
			pruneSmallest(scores, idx, m-n, mask)
		}
	}
	return mask
}

// Select applies pattern p to scores of a rows×cols matrix. Unstructured
// ratios prune int(numel·s) per matrix, or int(cols·s) per row when perRow.
func Select(scores []float64, rows, cols int, p Pattern, perRow bool) (Mask, error) {
	if len(scores) != rows*cols {
		return nil, fmt.Errorf("select: %d scores for a %d×%d matrix", len(scores), rows, cols)
	}
	if err := p.Fits(cols); err != nil {
		return nil, err
	}
	switch {
	case p.Structured():
		return SelectNM(scores, rows, cols, p.N, p.M), nil
	case perRow:
		return SelectPerRow(scores, rows, cols, PruneCount(cols, p.Ratio)), nil
	default:
		return SelectPerMatrix(scores, PruneCount(rows*cols, p.Ratio)), nil
	}
}
