package admm

import (
	"context"
	"errors"
	"fmt"
	"math"

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
// transposes: Bᵀ_{t+1} = (RHSᵀ + ρ(Zᵀ−Uᵀ))·A⁻¹, A being symmetric.
type system struct {
	out, in int
	d       []float64 // input norms sqrt(XX_jj) + 1e-8
	b       []float64 // B₀ᵀ = W·D, then the iterate Bᵀ
	rhs     []float64 // ((G+λI)·B₀)ᵀ
	ainv    []float64 // (G+λI+ρI)⁻¹, full symmetric in×in
	notes   []string
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
	for i, v := range st.Gram {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("gram [%d,%d] is %v", i/n, i%n, v)
		}
	}
	for j := 0; j < n; j++ {
		if v := st.Gram[j*n+j]; v < 0 {
			return fmt.Errorf("gram diagonal [%d,%d] is %g: a Gram matrix has Σx² ≥ 0 there", j, j, v)
		}
	}
	return nil
}

// newSystem preconditions w by the input norms and, when the options ask
// for iterations, forms the right-hand side and inverts A once.
func newSystem(ctx context.Context, w *model.Linear, st *prune.Stats, o Options) (*system, error) {
	m, n := w.Out, w.In
	s := &system{out: m, in: n, d: make([]float64, n), b: make([]float64, m*n)}
	for j := range s.d {
		s.d[j] = math.Sqrt(st.Gram[j*n+j]) + normEps
	}
	linalg.ParallelFor(m, func(lo, hi int) {
		for i := lo * n; i < hi*n; i++ {
			s.b[i] = float64(w.W[i]) * s.d[i%n]
		}
	})
	if o.Iters == 0 {
		return s, nil
	}
	return s, s.factor(ctx, st.Gram, o.PercDamp, o.Rho)
}

// factor sets rhs and ainv. λ enters both A and the right-hand side, so a
// retry with more damping changes the ridge, not just the step: the result
// stays the solution of a (more strongly) damped least-squares problem.
func (s *system) factor(ctx context.Context, gram []float64, percdamp, rho float64) error {
	n := s.in
	a := make([]float64, n*n)
	s.rhs = make([]float64, len(s.b))
	meanDiag := 0.0
	for j, dj := range s.d {
		meanDiag += gram[j*n+j] / (dj * dj)
	}
	lambda := percdamp * meanDiag / float64(max(n, 1))
	for try := 0; ; try++ {
		s.normalised(a, gram, lambda)
		if err := linalg.DgemmContext(ctx, false, false, s.out, n, n, 1, s.b, n, a, n, 0, s.rhs, n); err != nil {
			return err
		}
		for j := 0; j < n; j++ {
			a[j*n+j] += rho
		}
		err := linalg.InvertSPD(ctx, a, n)
		if err == nil {
			s.ainv = a
			return nil
		}
		if !errors.Is(err, linalg.ErrNotPositiveDefinite) {
			return err
		}
		if try == choleskyRetries {
			return fmt.Errorf("cholesky of G+λI+ρI failed %d times, last with λ = %g (is the Gram matrix positive semidefinite?)", try+1, lambda)
		}
		next := (lambda+rho)*10 - rho
		s.notes = append(s.notes, fmt.Sprintf("cholesky of G+λI+ρI failed with λ = %g; retried with λ = %g", lambda, next))
		lambda = next
	}
}

// normalised writes D⁻¹·XX·D⁻¹ + λI into a.
func (s *system) normalised(a, gram []float64, lambda float64) {
	n, d := s.in, s.d
	linalg.ParallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row, src := a[i*n:(i+1)*n], gram[i*n:(i+1)*n]
			for j, v := range src {
				row[j] = v / (d[i] * d[j])
			}
			row[i] += lambda
		}
	})
}

// absB returns |B| in W layout: at the start, the normmag (Wanda) score.
func (s *system) absB() []float64 {
	sc := make([]float64, len(s.b))
	for i, v := range s.b {
		sc[i] = math.Abs(v)
	}
	return sc
}

// solve performs o.Iters scaled-ADMM iterations (PRUNING.md §6.4) and
// returns the float64 result (D⁻¹Z)ᵀ in W layout with the final mask. For
// t < o.Steps, step re-selects the mask from |B+U| (it may overwrite the
// scores). With no iterations the result is W⊙M. ctx is checked at every
// iteration and inside its product, which alone takes seconds on a
// 4096-wide layer without OpenBLAS.
func (s *system) solve(ctx context.Context, mask prune.Mask, o Options, step func(t int, scores []float64) (prune.Mask, error)) ([]float64, prune.Mask, error) {
	m, n, rho := s.out, s.in, o.Rho
	b, rhs := s.b, s.rhs
	u := make([]float64, len(b))
	var c []float64
	if o.Iters > 0 {
		c = make([]float64, len(b))
	}
	for t := 0; t < o.Iters; t++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("iteration %d of %d: %w", t, o.Iters, err)
		}
		if t < o.Steps {
			linalg.ParallelFor(m, func(lo, hi int) {
				for i := lo * n; i < hi*n; i++ {
					c[i] = math.Abs(b[i] + u[i])
				}
			})
			var err error
			if mask, err = step(t, c); err != nil {
				return nil, nil, fmt.Errorf("mask step %d: %w", t, err)
			}
		}
		// Z = (B+U)⊙M, U += B−Z = (B+U)−Z, C = RHS + ρ(Z−U), fused.
		linalg.ParallelFor(m, func(lo, hi int) {
			for i := lo * n; i < hi*n; i++ {
				v := b[i] + u[i]
				z := v
				if mask[i] {
					z = 0
				}
				u[i] = v - z
				c[i] = rhs[i] + rho*(z-u[i])
			}
		})
		if err := linalg.DgemmContext(ctx, false, false, m, n, n, 1, c, n, s.ainv, n, 0, b, n); err != nil {
			return nil, nil, fmt.Errorf("iteration %d of %d: %w", t, o.Iters, err)
		}
	}
	// The output is the final projection Z = (B+U)⊙M, exactly sparse.
	res := make([]float64, len(b))
	linalg.ParallelFor(m, func(lo, hi int) {
		for i := lo * n; i < hi*n; i++ {
			if !mask[i] {
				res[i] = (b[i] + u[i]) / s.d[i%n]
			}
		}
	})
	return res, mask, nil
}

// store writes v into w as float32, refusing values float32 cannot hold.
func store(w *model.Linear, v []float64) error {
	for i, x := range v {
		if !(math.Abs(x) <= math.MaxFloat32) {
			return fmt.Errorf("updated weight [%d,%d] is %g, not a finite float32", i/w.In, i%w.In, x)
		}
	}
	for i, x := range v {
		w.W[i] = float32(x)
	}
	return nil
}
