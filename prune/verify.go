package prune

import (
	"fmt"

	"github.com/prunebench/prunebench/model"
)

// CheckFinite reports the first non-finite weight of w, by row and column,
// and a weight slice that does not match the shape.
func CheckFinite(w *model.Linear) error {
	if len(w.W) != w.Out*w.In {
		return fmt.Errorf("weight has %d values for %d×%d", len(w.W), w.Out, w.In)
	}
	return checkFinite(w.W, w.In, "weight")
}

// Verify checks that mask prunes exactly what pattern p asks of w's
// comparison groups — int(numel·s) per matrix, int(in·s) per row when
// perRow, exactly M−N of every M consecutive inputs for N:M — and that
// every masked weight of w is zero. Unmasked zeros are allowed (dead
// inputs, weights that were zero already).
func Verify(mask Mask, w *model.Linear, p Pattern, perRow bool) error {
	out, in := w.Out, w.In
	if len(w.W) != out*in {
		return fmt.Errorf("verify: weight has %d values for %d×%d", len(w.W), out, in)
	}
	if len(mask) != out*in {
		return fmt.Errorf("verify: mask has %d entries for a %d×%d weight", len(mask), out, in)
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if err := p.Fits(in); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	for i, m := range mask {
		if m && w.W[i] != 0 {
			return fmt.Errorf("verify: weight [%d,%d] is masked but %g, not 0", i/in, i%in, w.W[i])
		}
	}
	switch {
	case p.Structured():
		want := p.M - p.N
		for r := 0; r < out; r++ {
			for g := 0; g < in; g += p.M {
				if got := mask[r*in+g : r*in+g+p.M].Count(); got != want {
					return fmt.Errorf("verify: row %d, columns %d..%d: %d pruned, pattern %s wants exactly %d", r, g, g+p.M-1, got, p, want)
				}
			}
		}
	case perRow:
		want := PruneCount(in, p.Ratio)
		for r := 0; r < out; r++ {
			if got := mask[r*in : (r+1)*in].Count(); got != want {
				return fmt.Errorf("verify: row %d: %d of %d pruned, sparsity %s wants exactly %d", r, got, in, p, want)
			}
		}
	default:
		if got, want := mask.Count(), PruneCount(out*in, p.Ratio); got != want {
			return fmt.Errorf("verify: %d of %d pruned, sparsity %s wants exactly %d", got, out*in, p, want)
		}
	}
	return nil
}
