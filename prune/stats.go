package prune

import (
	"context"
	"fmt"
	"math"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/prunebench/prunebench/linalg"
)

// NewStats returns empty statistics for a linear input of width in.
func NewStats(in int) *Stats {
	return &Stats{In: in, Gram: make([]float64, in*in)}
}

// chunkBytes bounds the float64 copy Add makes of the activations: large
// enough that dsyrk runs at full speed, small enough not to double the
// activation memory of a 7B-class block. A variable so that tests can
// shrink it and cross chunk boundaries on small inputs.
var chunkBytes = 32 << 20

// Add accumulates rows activations x (rows×In, row-major) that came from
// seqs sequences into the Gram matrix. Non-finite activations are an error
// (naming the row and column) and leave the statistics unchanged.
func (s *Stats) Add(x []float32, rows, seqs int) error {
	return s.add(context.Background(), x, rows, seqs)
}

// add is Add looking at ctx between its dsyrk steps: the pipeline hands it
// a whole block's activations, minutes of work on a 7B model. A cancelled
// add returns ctx.Err() and leaves the statistics partly accumulated, for
// the caller to discard.
func (s *Stats) add(ctx context.Context, x []float32, rows, seqs int) error {
	if rows < 0 || seqs < 0 || len(x) != rows*s.In {
		return fmt.Errorf("stats: %d activations for %d rows of width %d (%d sequences)", len(x), rows, s.In, seqs)
	}
	if err := checkFinite(x, s.In, "activation"); err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	// From here on Gram changes (also when ctx ends part way).
	s.changed()
	n := s.In
	if n == 0 || rows == 0 {
		s.Seqs += seqs
		return nil
	}
	step := max(64, chunkBytes/(8*n))
	buf := make([]float64, min(step, rows)*n)
	impl := blas64.Implementation()
	for lo := 0; lo < rows; lo += step {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+step, rows)
		c := buf[:(hi-lo)*n]
		src := x[lo*n : hi*n]
		linalg.ParallelFor(len(c), func(a, b int) {
			for i := a; i < b; i++ {
				c[i] = float64(src[i])
			}
		})
		// Only the upper triangle is updated: half the flops of a gemm.
		impl.Dsyrk(blas.Upper, blas.Trans, n, hi-lo, 1, c, n, 1, s.Gram, n)
	}
	mirrorUpper(s.Gram, n)
	s.Tokens += rows
	s.Seqs += seqs
	return nil
}

// changed marks the statistics as modified: what Memo cached is stale,
// and is dropped now rather than at the next Memo, so that its memory goes
// with the old statistics.
func (s *Stats) changed() {
	s.version++
	s.ReleaseCache()
}

// mirrorUpper copies the upper triangle of the n×n matrix g onto the lower
// one. Add mirrors after every call so that Gram is always full for the
// methods reading it; at O(n²) against the syrk's O(n²·rows) that is cheap
// as long as the transposed reads go tile by tile rather than down whole
// columns.
func mirrorUpper(g []float64, n int) {
	const tile = 64
	linalg.ParallelFor((n+tile-1)/tile, func(lo, hi int) {
		for bi := lo; bi < hi; bi++ {
			i0, i1 := bi*tile, min(bi*tile+tile, n)
			for j0 := 0; j0 < i1; j0 += tile {
				for i := i0; i < i1; i++ {
					for j := j0; j < min(j0+tile, i); j++ {
						g[i*n+j] = g[j*n+i]
					}
				}
			}
		}
	})
}

// Diag returns a copy of the Gram matrix's diagonal, Σ x_j² per input.
func (s *Stats) Diag() []float64 {
	d := make([]float64, s.In)
	for j := range d {
		d[j] = s.Gram[j*s.In+j]
	}
	return d
}

// Check verifies that s can serve a layer with in inputs: present, of the
// right width and not empty.
func (s *Stats) Check(in int) error {
	switch {
	case s == nil:
		return fmt.Errorf("no input statistics (this method needs calibration data)")
	case s.In != in || len(s.Gram) != in*in:
		return fmt.Errorf("statistics of width %d (Gram of %d values) for a layer with %d inputs", s.In, len(s.Gram), in)
	case s.Tokens == 0 || s.Seqs == 0:
		return fmt.Errorf("statistics are empty (%d tokens, %d sequences)", s.Tokens, s.Seqs)
	}
	return nil
}

// checkFinite reports the first NaN or Inf in v, read as rows of width
// cols. It scans on all cores: a block's activations run to billions of
// values.
func checkFinite(v []float32, cols int, what string) error {
	first := len(v)
	var mu sync.Mutex
	linalg.ParallelFor(len(v), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if f := float64(v[i]); math.IsNaN(f) || math.IsInf(f, 0) {
				mu.Lock()
				first = min(first, i)
				mu.Unlock()
				return
			}
		}
	})
	if first == len(v) {
		return nil
	}
	if cols > 0 {
		return fmt.Errorf("%s [%d,%d] is %v", what, first/cols, first%cols, v[first])
	}
	return fmt.Errorf("%s %d is %v", what, first, v[first])
}

// RelError is the relative reconstruction error of replacing orig by pruned
// (both out×in) on the inputs summarised by st:
// tr(ΔGΔᵀ)/tr(WGWᵀ) = ‖XWᵀ−XŴᵀ‖²/‖XWᵀ‖², with Δ = W − Ŵ. It returns 0
// when the dense output is zero on these inputs.
func RelError(orig, pruned []float32, out, in int, st *Stats) float64 {
	e, err := relError(context.Background(), orig, pruned, out, in, st)
	if err != nil {
		return math.NaN()
	}
	return e
}

// relError is RelError looking at ctx between row slabs: the product with
// G costs twice a layer's forward over in tokens, tens of seconds at
// 4096×4096 without OpenBLAS. A shape mismatch is an error here.
func relError(ctx context.Context, orig, pruned []float32, out, in int, st *Stats) (float64, error) {
	if len(orig) != out*in || len(pruned) != out*in || st == nil || st.In != in {
		return 0, fmt.Errorf("weights of %d and %d values, or the statistics, do not match %d×%d", len(orig), len(pruned), out, in)
	}
	// Rows of Δ and W go through G together, a bounded slab at a time, so
	// one gemm serves both traces and memory stays O(slab·in).
	slab := max(1, min(out, chunkBytes/(16*max(in, 1))))
	a := make([]float64, 2*slab*in)
	ag := make([]float64, 2*slab*in)
	var num, den float64
	for lo := 0; lo < out; lo += slab {
		hi := min(lo+slab, out)
		r := hi - lo
		for i := 0; i < r*in; i++ {
			w := float64(orig[lo*in+i])
			a[i] = w - float64(pruned[lo*in+i])
			a[r*in+i] = w
		}
		if err := linalg.DgemmContext(ctx, false, false, 2*r, in, in, 1, a, in, st.Gram, in, 0, ag, in); err != nil {
			return 0, err
		}
		for i := 0; i < r*in; i++ {
			num += a[i] * ag[i]
			den += a[r*in+i] * ag[r*in+i]
		}
	}
	if den == 0 {
		return 0, nil
	}
	return num / den, nil
}

// statsCache holds values derived from one Stats' Gram matrix, such as the
// factorisation of XᵀX+λI+ρI that q, k and v (or gate and up) share.
type statsCache struct {
	mu      sync.Mutex
	owner   *Stats   // a copied Stats struct does not inherit the entries
	gram    *float64 // &Gram[0] when filled: a replaced Gram empties it
	version uint64   // Stats.version when filled
	tokens  int      // Stats.Tokens and Seqs when filled: the pipeline
	seqs    int      // resets them by hand between blocks
	entries map[any]any
}

// cacheInit guards the creation of a Stats' cache.
var cacheInit sync.Mutex

// Memo returns the value that compute derives from s's Gram matrix, from a
// cache on s keyed by key (a comparable value naming the computation and
// its parameters, e.g. a struct of kind, damping and ρ): linears with the
// same inputs share one Stats and so compute it once. An error is returned
// and not cached. The value is shared: callers must not modify it.
//
// The cache is emptied when the statistics change through Add, when their
// Tokens or Seqs change, when Gram is replaced, and by ReleaseCache; a
// Gram changed in place by other means needs ReleaseCache. Calls on one
// Stats are serialised, so a concurrent caller waits for the first one's
// computation instead of repeating it.
func (s *Stats) Memo(key any, compute func() (any, error)) (any, error) {
	cacheInit.Lock()
	c := s.cache
	if c == nil || c.owner != s {
		c = &statsCache{owner: s}
		s.cache = c
	}
	cacheInit.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	var g *float64
	if len(s.Gram) > 0 {
		g = &s.Gram[0]
	}
	if c.entries == nil || c.gram != g || c.version != s.version || c.tokens != s.Tokens || c.seqs != s.Seqs {
		c.entries = map[any]any{}
		c.gram, c.version, c.tokens, c.seqs = g, s.version, s.Tokens, s.Seqs
	}
	if v, ok := c.entries[key]; ok {
		return v, nil
	}
	v, err := compute()
	if err != nil {
		return nil, err
	}
	c.entries[key] = v
	return v, nil
}

// ReleaseCache drops what Memo cached on s, so that the memory goes when
// the linears sharing these statistics are done (the pipeline calls it
// after the last linear reading them) or after Gram was changed in place.
func (s *Stats) ReleaseCache() {
	cacheInit.Lock()
	c := s.cache
	s.cache = nil
	cacheInit.Unlock()
	if c != nil {
		c.mu.Lock()
		c.entries = nil
		c.mu.Unlock()
	}
}

// cached reports how many values Memo holds for s (tests).
func (s *Stats) cached() int {
	cacheInit.Lock()
	c := s.cache
	cacheInit.Unlock()
	if c == nil || c.owner != s {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
