package prune

import (
	"context"
	"time"

	"github.com/prunebench/prunebench/model"
)

// Stats are the statistics of one distinct linear input, accumulated over
// the calibration tokens: the unnormalised float64 Gram matrix Σ xᵀx.
// Wanda's statistic is its diagonal; SparseGPT's Hessian is 2·Gram/Seqs.
type Stats struct {
	In     int
	Gram   []float64 // In×In, row-major, symmetric
	Tokens int       // rows accumulated
	Seqs   int       // sequences accumulated (the references' running-mean N)

	// version counts the changes made through Add; cache holds what
	// methods derived from Gram (Memo), valid for one version.
	version uint64
	cache   *statsCache
}

// Method is one pruning algorithm.
type Method interface {
	Name() string
	// Prune sparsifies w in place to pattern p given its input statistics
	// (st may be nil for data-free methods) and returns the mask it applied.
	// A method whose work on one layer can take more than about a second
	// looks at ctx at least that often and, once ctx is done, returns an
	// error wrapping ctx.Err(); w is then unspecified.
	Prune(ctx context.Context, w *model.Linear, st *Stats, p Pattern) (Mask, Report, error)
}

// Report is what a method says about one linear.
type Report struct {
	Sparsity float64       // zeros / numel after pruning
	RelError float64       // ‖XWᵀ−XŴᵀ‖²/‖XWᵀ‖² on the calibration inputs
	Elapsed  time.Duration // time in Prune
	Notes    []string      // recoveries, e.g. extra damping after a failed Cholesky
	// Phases, when the method reports them, split Elapsed by kernel
	// (ADMM: "factor", "gemm", "select") for benchmarks.
	Phases []Phase
}

// Phase is the time a method spent in one kind of work, with the floating
// point operations it did there when they are known (0 otherwise).
type Phase struct {
	Name    string
	Seconds float64
	Flops   float64
}
