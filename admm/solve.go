package admm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/prunebench/prunebench/linalg"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// normEps is the reference's guard on the input norms: a dead input gets
// d_j = 1e-8, so B₀'s row is tiny and G's row and column are zero.
const normEps = 1e-8

// choleskyRetries is how many times a failed factorisation of A is retried,
// each time with 10× the diagonal shift λ+ρ.
const choleskyRetries = 4

// system is one layer's preconditioned problem, stored transposed from
// PRUNING.md §6 (W layout, out×in) so that masks and output need no
// transposes. The iterations run in float32, as the reference's do; the
// factorisation and inverse of A = G+λI+ρI run in float64 and only the
// finished A⁻¹ is rounded to float32 (see factor).
//
// The right-hand side is never formed: with RHS = B₀(A−ρI) (A symmetric,
// W layout), the B-update Bᵀ = (RHS + ρ(Z−U))·A⁻¹ is
// B₀ + ρ(Z−U−B₀)·A⁻¹, so the state is the change ΔB = B − B₀ and an
// iteration is one product with no float64 RHS (it would cost one more
// float64 product of the iteration's size and an out×in buffer).
type system struct {
	out, in int
	d       []float64 // input norms sqrt(XX_jj) + 1e-8
	b0      []float32 // B₀ᵀ = W·D
	f       *factor   // shared by the linears of these statistics; nil without iterations
	notes   []string
	phases  phaseTimes
}

// factor is A⁻¹ = (G+λI+ρI)⁻¹ in float32, with the notes of the retries
// that found it. It is computed once per (statistics, percdamp, ρ) and
// shared read-only through prune.Stats.Memo by every linear reading the
// same input (q/k/v, gate/up).
type factor struct {
	ainv  []float32
	notes []string
	secs  float64 // time to compute it (0 for the linears that reuse it)
}

// factorKey names A⁻¹ in a Stats' cache.
type factorKey struct {
	percdamp, rho float64
}

// phaseTimes is where a prune's time went, for Report.Phases.
type phaseTimes struct {
	factor, gemm, sel float64
	gemmFlops         float64
}

// checkInputs rejects weights and statistics that would give a silently
// wrong result: non-finite values, a shape mismatch, a negative diagonal.
func checkInputs(w *model.Linear, st *prune.Stats) error {
	if err := prune.CheckFinite(w); err != nil {
		return err
	}
	if err := st.Check(w.In); err != nil {
		return err
	}
	n := st.In
	bad := len(st.Gram)
	var mu sync.Mutex
	linalg.ParallelFor(n, func(lo, hi int) {
		for i, v := range st.Gram[lo*n : hi*n] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				mu.Lock()
				bad = min(bad, lo*n+i)
				mu.Unlock()
				return
			}
		}
	})
	if bad < len(st.Gram) {
		return fmt.Errorf("gram [%d,%d] is %v", bad/n, bad%n, st.Gram[bad])
	}
	for j := 0; j < n; j++ {
		if v := st.Gram[j*n+j]; v < 0 {
			return fmt.Errorf("gram diagonal [%d,%d] is %g: a Gram matrix has Σx² ≥ 0 there", j, j, v)
		}
	}
	return nil
}

// inputNorms returns d_j = sqrt(XX_jj) + 1e-8.
func inputNorms(gram []float64, n int) []float64 {
	d := make([]float64, n)
	for j := range d {
		d[j] = math.Sqrt(gram[j*n+j]) + normEps
	}
	return d
}

// newSystem preconditions w by the input norms and, when the options ask
// for iterations, gets A⁻¹ from the statistics' cache, computing it there
// on first use.
func newSystem(ctx context.Context, w *model.Linear, st *prune.Stats, o Options) (*system, error) {
	m, n := w.Out, w.In
	s := &system{out: m, in: n, d: inputNorms(st.Gram, n), b0: make([]float32, m*n)}
	linalg.ParallelFor(m, func(lo, hi int) {
		for i := lo * n; i < hi*n; i++ {
			s.b0[i] = float32(float64(w.W[i]) * s.d[i%n])
		}
	})
	if o.Iters == 0 {
		return s, nil
	}
	computed := false
	v, err := st.Memo(factorKey{o.PercDamp, o.Rho}, func() (any, error) {
		computed = true
		return newFactor(ctx, st.Gram, s.d, o.PercDamp, o.Rho)
	})
	if err != nil {
		return nil, err
	}
	s.f = v.(*factor)
	if computed {
		s.phases.factor = s.f.secs
	}
	s.notes = append(s.notes, s.f.notes...)
	return s, nil
}

// newFactor computes A⁻¹ in float64 and rounds it to float32 once. λ enters
// both A and the right-hand side B₀(A−ρI), so a retry with more damping
// changes the ridge, not just the step: the result stays the solution of a
// (more strongly) damped least-squares problem.
//
// Why float64 here: the golden cases' errors and weights are the same with
// an A⁻¹ inverted in float32 or float64 at their tolerances, but a float32
// Cholesky of a 4096-wide Gram with near-collinear inputs loses digits in
// proportion to its condition number (up to ~n/(λ+ρ)), while the O(n³)
// factorisation is a small part of the time (one product's worth against
// 20); the iterations themselves only ever multiply by A⁻¹.
func newFactor(ctx context.Context, gram, d []float64, percdamp, rho float64) (*factor, error) {
	start := time.Now()
	n := len(d)
	a := make([]float64, n*n)
	meanDiag := 0.0
	for j, dj := range d {
		meanDiag += gram[j*n+j] / (dj * dj)
	}
	lambda := percdamp * meanDiag / float64(max(n, 1))
	f := &factor{}
	for try := 0; ; try++ {
		normalised(a, gram, d, lambda+rho)
		err := linalg.InvertSPD(ctx, a, n)
		if err == nil {
			f.ainv = make([]float32, n*n)
			linalg.ParallelFor(n, func(lo, hi int) {
				for i := lo * n; i < hi*n; i++ {
					f.ainv[i] = float32(a[i])
				}
			})
			f.secs = time.Since(start).Seconds()
			return f, nil
		}
		if !errors.Is(err, linalg.ErrNotPositiveDefinite) {
			return nil, err
		}
		if try == choleskyRetries {
			return nil, fmt.Errorf("cholesky of G+λI+ρI failed %d times, last with λ = %g (is the Gram matrix positive semidefinite?)", try+1, lambda)
		}
		next := (lambda+rho)*10 - rho
		f.notes = append(f.notes, fmt.Sprintf("cholesky of G+λI+ρI failed with λ = %g; retried with λ = %g", lambda, next))
		lambda = next
	}
}

// normalised writes D⁻¹·XX·D⁻¹ + shift·I into a.
func normalised(a, gram, d []float64, shift float64) {
	n := len(d)
	linalg.ParallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row, src := a[i*n:(i+1)*n], gram[i*n:(i+1)*n]
			for j, v := range src {
				row[j] = v / (d[i] * d[j])
			}
			row[i] += shift
		}
	})
}

// absB0 returns |B₀| in W layout in float64: the normmag (Wanda) score of
// the one-shot mask, |W|·d_j computed as Wanda computes its score.
func absB0(w *model.Linear, d []float64) []float64 {
	n := w.In
	sc := make([]float64, len(w.W))
	linalg.ParallelFor(w.Out, func(lo, hi int) {
		for i := lo * n; i < hi*n; i++ {
			sc[i] = math.Abs(float64(w.W[i]) * d[i%n])
		}
	})
	return sc
}

// workspace is the iteration's state, allocated once per solve: nothing
// in the loop allocates beyond the goroutines of the parallel loops.
type workspace struct {
	db, u, c []float32 // ΔB = B−B₀, U, and the product's left side (also the scores)
	zprev    []float32 // the previous Z, for over-relaxation only
	mask     prune.Mask
}

// stepFunc re-selects the mask at gradual step t from scores = |B+U|,
// writing into mask (both may be overwritten).
type stepFunc func(t int, scores []float32, mask prune.Mask) error

// solve performs o.Iters scaled-ADMM iterations (PRUNING.md §6.4) and
// writes the result (D⁻¹Z)ᵀ into w, returning the final mask. For
// t < o.Steps, step re-selects the mask from |B+U| into its own buffer;
// otherwise mask (W layout) is used throughout. With no iterations the
// result is W⊙M. ctx is checked at every iteration and inside its product.
//
// With o.OverRelax = α−1 > 0 the iteration is over-relaxed (Boyd et al.
// 2011, §3.4.3): the Z- and U-updates see B̂ = αB + (1−α)Z_prev instead
// of B (plain B at t = 0, where there is no previous Z); the mask steps
// score |B̂+U| and the output is the projection of B̂+U.
func (s *system) solve(ctx context.Context, w *model.Linear, mask prune.Mask, o Options, step stepFunc) (prune.Mask, error) {
	m, n := s.out, s.in
	if o.Iters == 0 {
		mask.Apply(w.W)
		return mask, nil
	}
	ws := &workspace{db: make([]float32, m*n), u: make([]float32, m*n), c: make([]float32, m*n)}
	if step != nil {
		ws.mask = make(prune.Mask, m*n)
	}
	alpha := float32(1 + o.OverRelax)
	relax := o.OverRelax != 0
	if relax {
		ws.zprev = make([]float32, m*n)
	}
	rho := float32(o.Rho)
	b0, db, u, c, zp := s.b0, ws.db, ws.u, ws.c, ws.zprev
	ainv := s.f.ainv
	// hat is B̂ at index i: B, or the over-relaxed αB + (1−α)Z_prev.
	for t := 0; t < o.Iters; t++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("iteration %d of %d: %w", t, o.Iters, err)
		}
		relaxNow := relax && t > 0
		if t < o.Steps {
			t0 := time.Now()
			linalg.ParallelFor(m, func(lo, hi int) {
				b0, db, u, c := b0[lo*n:hi*n], db[lo*n:hi*n], u[lo*n:hi*n], c[lo*n:hi*n]
				if !relaxNow {
					for i, b := range b0 {
						c[i] = abs32(b + db[i] + u[i])
					}
					return
				}
				zp := zp[lo*n : hi*n]
				for i, b := range b0 {
					c[i] = abs32(alpha*(b+db[i]) + (1-alpha)*zp[i] + u[i])
				}
			})
			if err := step(t, c, ws.mask); err != nil {
				return nil, fmt.Errorf("mask step %d: %w", t, err)
			}
			mask = ws.mask
			s.phases.sel += time.Since(t0).Seconds()
		}
		// Z = (B̂+U)⊙M, U += B̂−Z = (B̂+U)−Z, C = Z−U−B₀, fused; the
		// plain iteration has its own loop, free of the relaxation's
		// branches and its Z_prev stream. Row ranges are resliced so
		// that the loops run without bounds checks.
		linalg.ParallelFor(m, func(lo, hi int) {
			b0, db, u, c, mask := b0[lo*n:hi*n], db[lo*n:hi*n], u[lo*n:hi*n], c[lo*n:hi*n], mask[lo*n:hi*n]
			if !relax {
				for i, pruned := range mask {
					v := b0[i] + db[i] + u[i]
					z := projected(v, pruned)
					ui := v - z
					u[i] = ui
					c[i] = z - ui - b0[i]
				}
				return
			}
			zp := zp[lo*n : hi*n]
			for i, pruned := range mask {
				h := b0[i] + db[i]
				if relaxNow {
					h = alpha*h + (1-alpha)*zp[i]
				}
				v := h + u[i]
				z := projected(v, pruned)
				u[i] = v - z
				c[i] = z - u[i] - b0[i]
				zp[i] = z
			}
		})
		// ΔB = ρ·C·A⁻¹.
		t0 := time.Now()
		if err := linalg.SgemmContext(ctx, false, false, m, n, n, rho, c, n, ainv, n, 0, db, n); err != nil {
			return nil, fmt.Errorf("iteration %d of %d: %w", t, o.Iters, err)
		}
		s.phases.gemm += time.Since(t0).Seconds()
		s.phases.gemmFlops += 2 * float64(m) * float64(n) * float64(n)
	}
	// The output is the final projection Z = (B̂+U)⊙M, exactly sparse,
	// mapped back by D⁻¹; values float32 cannot hold are refused first.
	// Z is written into c (free after the loop), checked, then mapped.
	relaxNow := relax && o.Iters > 0
	bad := len(w.W)
	var mu sync.Mutex
	linalg.ParallelFor(m, func(lo, hi int) {
		first := hi * n
		for r := lo; r < hi; r++ {
			for j := 0; j < n; j++ {
				i := r*n + j
				h := b0[i] + db[i]
				if relaxNow {
					h = alpha*h + (1-alpha)*zp[i]
				}
				var z float32
				if !mask[i] {
					z = float32(float64(h+u[i]) / s.d[j])
				}
				if math.IsInf(float64(z), 0) || z != z {
					first = min(first, i)
				}
				c[i] = z
			}
		}
		if first < hi*n {
			mu.Lock()
			bad = min(bad, first)
			mu.Unlock()
		}
	})
	if bad < len(w.W) {
		h := b0[bad] + db[bad]
		if relaxNow {
			h = alpha*h + (1-alpha)*zp[bad]
		}
		return nil, fmt.Errorf("updated weight [%d,%d] is %g, not a finite float32", bad/n, bad%n, float64(h+u[bad])/s.d[bad%n])
	}
	copy(w.W, c)
	return mask, nil
}

// projected is v, or +0 where the mask prunes: v⊙M without a branch. The
// mask is random at the bit level (60% pruned), and a branch on it
// mispredicted so often that the iteration's fused pass took 3× as long
// (BenchmarkUpdatePass).
func projected(v float32, pruned bool) float32 {
	var drop uint32
	if pruned {
		drop = 1
	}
	return math.Float32frombits(math.Float32bits(v) & (drop - 1))
}

func abs32(x float32) float32 {
	return math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
}
