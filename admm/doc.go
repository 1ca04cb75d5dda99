// Package admm is the ADMM weight update of Boža (2024, "Fast and Optimal
// Weight Update for Pruned Large Language Models") and the two pruning
// methods built on it: ADMM1 (one mask, then the update) and ADMM-Grad
// (the mask is re-chosen during the first K iterations). It follows
// PRUNING.md §6 operation by operation: input-norm preconditioning,
// percdamp ridge, one factorisation of G+λI+ρI reused by every iteration,
// and the exactly sparse Z as output.
//
// The iteration runs in float64 throughout. The per-iteration product is
// only 1.2–1.3× slower in float64 than in float32 with OpenBLAS on this
// project's machines (BenchmarkProduct), and float64 lets a fixed-mask run
// converge to the exact masked least-squares solution instead of stalling
// at float32 rounding.
//
// All masks are chosen in W layout (out×in, row-major) through package
// prune's selection functions, so ties break by W's flat index although
// the algebra is written for B = Wᵀ.
//
// Options are used exactly as given (no zero value stands for a default):
// ADMM1Defaults and ADMMGradDefaults are the one place the defaults are
// spelled, and the constructors refuse values outside PRUNING.md §6.7's
// ranges with messages naming the option as the CLI does. iters 0 stays
// valid for ADMM1 (a mask-only prune, §6.4) and percdamp 0 for both (ρ
// keeps A definite); ADMM-Grad needs 1 ≤ steps ≤ iters.
//
// The context is checked at every iteration and inside the factorisation
// and the per-iteration product (linalg.DgemmContext), so a cancelled
// prune of a 4096-wide layer returns within a fraction of a second even
// with pure-Go BLAS, where one iteration takes about 20 s.
package admm
