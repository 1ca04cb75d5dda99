// Package admm is the ADMM weight update of Boža (2024, "Fast and Optimal
// Weight Update for Pruned Large Language Models") and the two pruning
// methods built on it: ADMM1 (one mask, then the update) and ADMM-Grad
// (the mask is re-chosen during the first K iterations). It follows
// PRUNING.md §6 operation by operation: input-norm preconditioning,
// percdamp ridge, one factorisation of G+λI+ρI reused by every iteration,
// and the exactly sparse Z as output.
//
// The iterations run in float32, as the reference's do, through
// linalg.SgemmContext: one out×in by in×in product each, written in the
// delta form ΔB = ρ(Z−U−B₀)·A⁻¹ so that no right-hand side is formed. A⁻¹
// is factorised and inverted in float32, or in float64 and rounded once
// when a probe finds the float32 inverse off by more than 1e-4; it is computed
// once per input statistics and (percdamp, ρ) and shared through
// prune.Stats.Memo by the linears with the same inputs (q/k/v, gate/up).
// The float64 iteration stays in the tests (refSystem) as the reference
// the float32 one is compared with, and the one that converges to 1e-8
// of the exact masked least-squares solution, which float32 cannot.
//
// Over-relaxation (Options.OverRelax, --relax α) is an ablation option:
// the paper's method is α = 1.
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
// and the per-iteration product (linalg.SgemmContext), so a cancelled
// prune of a 4096-wide layer returns within about a second, also with
// pure-Go BLAS, where one iteration takes many seconds.
package admm
