package admm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"gonum.org/v1/gonum/floats"

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
// transposes. The iterations run in float32, as the reference's do, and so
// does the inverse of A = G+λI+ρI unless its error is found too large,
// when it is computed in float64 and rounded (see newFactor).
//
// The right-hand side is never formed: with RHS = B₀(A−ρI) (A symmetric,
// W layout), the B-update Bᵀ = (RHS + ρ(Z−U))·A⁻¹ is
// B₀ + ρ(Z−U−B₀)·A⁻¹, so an iteration is one product added onto B₀
// (solve keeps B₀+U there) with no RHS (it would cost one more product
// of the iteration's size and an out×in buffer).
type system struct {
	out, in int
	d       []float64 // input norms sqrt(XX_jj) + 1e-8
	b0      []float32 // B₀ᵀ = W·D
	f       *factor   // shared by the linears of these statistics; nil without iterations
	notes   []string
	phases  phaseTimes
}

// factor is A⁻¹ = (G+λI+ρI)⁻¹ in float32, with the notes of the retries
// (and of a fall-back to float64) that found it. It is computed once per
// (statistics, percdamp, ρ) and shared read-only through prune.Stats.Memo
// by every linear reading the same input (q/k/v, gate/up).
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

// factorTol is the largest relative error a float32 A⁻¹ may have, as
// probeError bounds it, before it is recomputed in float64: the golden
// tolerance on weights (1e-4 of the largest). The golden cases land 2–6e-6
// from the reference's weights with either factor (TestPrecisionOfFactor),
// and synthetic 2048-wide Grams with one input direction carrying up to
// 99% of every input's energy (condition number up to 1,640 at the
// default damping, near the bound n/(λ+ρ)) give 1.2e-5.
const factorTol = 1e-4

// probeSeed fixes probeError's random vectors, so that the choice of
// precision repeats from run to run.
const probeSeed = 0x5eed

// newFactor computes A⁻¹ = (D⁻¹GD⁻¹ + (λ+ρ)I)⁻¹, first in float32 (the
// reference's precision, at half the float64 time) and then, when that
// factorisation fails or probeError puts its error above factorTol, in
// float64, rounded to float32 once. A float32 failure moves to float64 at
// the same λ; only a float64 failure raises it. λ enters both A and the
// right-hand side B₀(A−ρI), so a retry with more damping changes the
// ridge, not just the step: the result stays the solution of a (more
// strongly) damped least-squares problem.
//
// A float32 Cholesky loses digits in proportion to A's condition number,
// which is at most 1 + n/(λ+ρ) (D⁻¹GD⁻¹ has a unit diagonal), so small ρ
// and wide layers are where the float64 route is needed; the iterations
// themselves only ever multiply by A⁻¹, in float32.
func newFactor(ctx context.Context, gram, d []float64, percdamp, rho float64) (*factor, error) {
	start := time.Now()
	n := len(d)
	meanDiag := 0.0
	for j, dj := range d {
		meanDiag += gram[j*n+j] / (dj * dj)
	}
	lambda := percdamp * meanDiag / float64(max(n, 1))
	f := &factor{ainv: make([]float32, n*n)}
	normalised(f.ainv, gram, d, lambda+rho)
	err := linalg.InvertSPD(ctx, f.ainv, n)
	float32Failed := false
	switch {
	case err == nil:
		e := probeError(f.ainv, gram, d, lambda+rho)
		if e <= factorTol {
			f.secs = time.Since(start).Seconds()
			return f, nil
		}
		f.notes = append(f.notes, fmt.Sprintf("float32 inverse of G+λI+ρI off by up to %.2g (more than %g): computed in float64", e, factorTol))
	case errors.Is(err, linalg.ErrNotPositiveDefinite):
		float32Failed = true // noted below if float64 succeeds at this λ
	default:
		return nil, err
	}
	a := make([]float64, n*n)
	for try := 0; ; try++ {
		normalised(a, gram, d, lambda+rho)
		err := linalg.InvertSPD(ctx, a, n)
		if err == nil {
			if float32Failed && try == 0 {
				f.notes = append(f.notes, fmt.Sprintf("float32 cholesky of G+λI+ρI failed with λ = %g: computed in float64", lambda))
			}
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
func normalised[F linalg.Float](a []F, gram, d []float64, shift float64) {
	n := len(d)
	linalg.ParallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row, src := a[i*n:(i+1)*n], gram[i*n:(i+1)*n]
			for j, v := range src {
				row[j] = F(v / (d[i] * d[j]))
			}
			row[i] = F(src[i]/(d[i]*d[i]) + shift) // one rounding in float32
		}
	})
}

// probeError bounds the relative error of x (n×n), a computed inverse of
// A = D⁻¹GD⁻¹ + shift·I, on two fixed random vectors v: with y = x·v and
// r = A·y − v (in float64), y's error A⁻¹r is at most ‖r‖/shift, as
// A ⪰ shift·I (G is positive semidefinite); the larger of the two
// ‖r‖/(shift·‖y‖) is returned. On the synthetic Grams of factorTol it came
// out at 1.0–1.9× the whole inverse's relative (Frobenius) error.
func probeError(x []float32, gram, d []float64, shift float64) float64 {
	n := len(d)
	const probes = 2
	rng := rand.New(rand.NewPCG(probeSeed, uint64(n)))
	v := make([][]float64, probes)
	y := make([][]float64, probes)
	r := make([][]float64, probes)
	for p := range v {
		v[p], y[p], r[p] = make([]float64, n), make([]float64, n), make([]float64, n)
		for i := range v[p] {
			v[p][i] = rng.NormFloat64()
		}
	}
	// y = x·v, then r = A·y − v with A·y = D⁻¹·G·(D⁻¹y).
	mulRows(x, n, v, y)
	yd := make([][]float64, probes)
	for p := range yd {
		yd[p] = make([]float64, n)
		for j, yj := range y[p] {
			yd[p][j] = yj / d[j]
		}
	}
	mulRows(gram, n, yd, r)
	for p := range r {
		for i, gy := range r[p] {
			r[p][i] = gy/d[i] + shift*y[p][i] - v[p][i]
		}
	}
	worst := 0.0
	for p := range probes {
		worst = max(worst, floats.Norm(r[p], 2)/(shift*floats.Norm(y[p], 2)))
	}
	return worst
}

// mulRows writes out[p] = m·vs[p] for the n×n matrix m and every vector
// in vs, all vectors per row of m so that m is read once:
// m (n,n) @ vs[p] (n,) -> out[p] (n,).
func mulRows[F linalg.Float](m []F, n int, vs, out [][]float64) {
	linalg.ParallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := m[i*n : (i+1)*n]
			for p, v := range vs {
				s := 0.0
				for j, mij := range row {
					s += float64(mij) * v[j]
				}
				out[p][i] = s
			}
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
	v, c  []float32 // the state V (see solve) and the product's left side (also the scores)
	zprev []float32 // the previous Z, for over-relaxation only
	mask  prune.Mask
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
//
// The state is one buffer, V = αB + U after each product (α = 1 when not
// over-relaxed, so V = B+U, what the Z-update projects and the steps
// score): the elementwise pass leaves αB₀ + U in it and the product
// accumulates αρ·C·A⁻¹ onto it (β = 1), which is αB + U for the next
// iteration. U is never stored on its own, and a plain iteration's pass
// streams V, B₀ and the mask in and V and C out (linalg.ProjectSplit),
// two buffers fewer than B, U and C kept apart.
func (s *system) solve(ctx context.Context, w *model.Linear, mask prune.Mask, o Options, step stepFunc) (prune.Mask, error) {
	m, n := s.out, s.in
	if o.Iters == 0 {
		mask.Apply(w.W)
		return mask, nil
	}
	ws := &workspace{v: slices.Clone(s.b0), c: make([]float32, m*n)} // V = B₀+U₀ = B₀ at t = 0
	if step != nil {
		ws.mask = make(prune.Mask, m*n)
	}
	alpha := float32(1 + o.OverRelax)
	relax := o.OverRelax != 0
	if relax {
		ws.zprev = make([]float32, m*n)
	}
	rho := float32(o.Rho)
	b0, v, c, zp := s.b0, ws.v, ws.c, ws.zprev
	ainv := s.f.ainv
	for t := 0; t < o.Iters; t++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("iteration %d of %d: %w", t, o.Iters, err)
		}
		relaxNow := relax && t > 0
		if t < o.Steps {
			t0 := time.Now()
			linalg.ParallelFor(m, func(lo, hi int) {
				v, c := v[lo*n:hi*n], c[lo*n:hi*n]
				if !relaxNow {
					linalg.AbsTo(c, v)
					return
				}
				zp := zp[lo*n : hi*n]
				for i := range v {
					c[i] = linalg.Abs32(hatPlusU(v, zp, alpha, true, i))
				}
			})
			if err := step(t, c, ws.mask); err != nil {
				return nil, fmt.Errorf("mask step %d: %w", t, err)
			}
			mask = ws.mask
			s.phases.sel += time.Since(t0).Seconds()
		}
		// Z = (B̂+U)⊙M, U = (B̂+U)−Z, C = Z−U−B₀ and V = αB₀+U, fused.
		// Row ranges are resliced so that the loops run without bounds
		// checks.
		linalg.ParallelFor(m, func(lo, hi int) {
			b0, v, c, mask := b0[lo*n:hi*n], v[lo*n:hi*n], c[lo*n:hi*n], mask[lo*n:hi*n]
			if !relax {
				linalg.ProjectSplit(v, b0, c, mask)
				return
			}
			zp := zp[lo*n : hi*n]
			for i, pruned := range mask {
				h := hatPlusU(v, zp, alpha, relaxNow, i)
				z := linalg.Projected(h, pruned)
				u := h - z
				c[i] = z - u - b0[i]
				v[i] = alpha*b0[i] + u
				zp[i] = z
			}
		})
		// V += αρ·C·A⁻¹.
		t0 := time.Now()
		if err := linalg.SgemmContext(ctx, false, false, m, n, n, alpha*rho, c, n, ainv, n, 1, v, n); err != nil {
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
				var z float32
				if !mask[i] {
					z = float32(float64(hatPlusU(v, zp, alpha, relaxNow, i)) / s.d[j])
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
		return nil, fmt.Errorf("updated weight [%d,%d] is %g, not a finite float32", bad/n, bad%n,
			float64(hatPlusU(v, zp, alpha, relaxNow, bad))/s.d[bad%n])
	}
	copy(w.W, c)
	return mask, nil
}

// hatPlusU is B̂+U at index i from the state V: V itself, or
// V + (1−α)Z_prev once over-relaxed.
func hatPlusU(v, zp []float32, alpha float32, relaxNow bool, i int) float32 {
	if relaxNow {
		return v[i] + (1-alpha)*zp[i]
	}
	return v[i]
}
