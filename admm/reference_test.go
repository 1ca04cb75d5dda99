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

// refSystem is the float64 reference implementation of the ADMM iteration
// (PRUNING.md §6.4 operation by operation, with the right-hand side formed
// explicitly): the naive twin that the float32 solve is compared with, and
// the one the convergence tests run to 1e-8 of the exact solution, which
// float32 iterates cannot reach.
type refSystem struct {
	out, in int
	d       []float64 // input norms sqrt(XX_jj) + 1e-8
	b       []float64 // B₀ᵀ = W·D, then the iterate Bᵀ
	rhs     []float64 // ((G+λI)·B₀)ᵀ
	ainv    []float64 // (G+λI+ρI)⁻¹, full symmetric in×in
}

func newRefSystem(w *model.Linear, st *prune.Stats, o Options) (*refSystem, error) {
	m, n := w.Out, w.In
	s := &refSystem{out: m, in: n, d: inputNorms(st.Gram, n), b: make([]float64, m*n)}
	for i := range s.b {
		s.b[i] = float64(w.W[i]) * s.d[i%n]
	}
	if o.Iters == 0 {
		return s, nil
	}
	a := make([]float64, n*n)
	s.rhs = make([]float64, len(s.b))
	meanDiag := 0.0
	for j, dj := range s.d {
		meanDiag += st.Gram[j*n+j] / (dj * dj)
	}
	lambda := o.PercDamp * meanDiag / float64(max(n, 1))
	for try := 0; ; try++ {
		normalised(a, st.Gram, s.d, lambda)
		linalg.Dgemm(false, false, s.out, n, n, 1, s.b, n, a, n, 0, s.rhs, n)
		for j := 0; j < n; j++ {
			a[j*n+j] += o.Rho
		}
		err := linalg.InvertSPD(context.Background(), a, n)
		if err == nil {
			s.ainv = a
			return s, nil
		}
		if !errors.Is(err, linalg.ErrNotPositiveDefinite) || try == choleskyRetries {
			return nil, fmt.Errorf("reference: %w", err)
		}
		lambda = (lambda+o.Rho)*10 - o.Rho
	}
}

// absB returns |B| in W layout: at the start, the normmag (Wanda) score.
func (s *refSystem) absB() []float64 {
	sc := make([]float64, len(s.b))
	for i, v := range s.b {
		sc[i] = math.Abs(v)
	}
	return sc
}

// solve performs o.Iters iterations in float64 (over-relaxed when
// o.OverRelax > 0, as system.solve) and returns (D⁻¹Z)ᵀ in W layout with
// the final mask; sel, when not nil, re-selects the mask for t < o.Steps.
func (s *refSystem) solve(mask prune.Mask, o Options, sel *selector) ([]float64, prune.Mask) {
	m, n, rho := s.out, s.in, o.Rho
	alpha := 1 + o.OverRelax
	b, rhs := s.b, s.rhs
	u := make([]float64, len(b))
	zp := make([]float64, len(b))
	c := make([]float64, len(b))
	hat := func(t, i int) float64 {
		if o.OverRelax != 0 && t > 0 {
			return alpha*b[i] + (1-alpha)*zp[i]
		}
		return b[i]
	}
	for t := 0; t < o.Iters; t++ {
		if t < o.Steps {
			for i := range c {
				c[i] = math.Abs(hat(t, i) + u[i])
			}
			mask = make(prune.Mask, len(b))
			if err := selectStep(sel, t, c, mask); err != nil {
				panic(err)
			}
		}
		for i := range c {
			v := hat(t, i) + u[i]
			z := v
			if mask[i] {
				z = 0
			}
			u[i] = v - z
			c[i] = rhs[i] + rho*(z-u[i])
			zp[i] = z
		}
		linalg.Dgemm(false, false, m, n, n, 1, c, n, s.ainv, n, 0, b, n)
	}
	res := make([]float64, len(b))
	for i := range res {
		if !mask[i] {
			res[i] = (hat(o.Iters, i) + u[i]) / s.d[i%n]
		}
	}
	if o.Iters == 0 {
		for i := range res {
			if !mask[i] {
				res[i] = b[i] / s.d[i%n]
			}
		}
	}
	return res, mask
}
