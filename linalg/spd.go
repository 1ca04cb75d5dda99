package linalg

import (
	"context"
	"errors"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	lapackgo "gonum.org/v1/gonum/lapack/gonum"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// Both routines below replace gonum's Dpotri/Dtrtri route: gonum runs the
// triangular BLAS level-3 routines single-threaded in pure Go (Dpotri takes
// about 10× Dpotrf at n = 4096), while these recursions put all O(n³) work
// into gemm and syrk, which the backend runs on both cores.

// leafSize is the block size below which gonum's LAPACK finishes the
// recursions.
const leafSize = 64

// ErrNotPositiveDefinite is the error of a Cholesky factorisation that
// fails: callers retry with more damping on errors.Is.
var ErrNotPositiveDefinite = errors.New("matrix is not numerically positive definite")

// InvertSPD replaces the symmetric positive definite n×n matrix a
// (row-major, full storage) by its inverse. It returns
// ErrNotPositiveDefinite when the Cholesky factorisation fails, and
// ctx.Err() when ctx ends first (a is then garbage): at n = 11008 the
// inverse takes minutes with pure-Go BLAS, so it looks at ctx between the
// recursion's products (DgemmContext). gonum's Cholesky itself, n³/3
// flops, is the one step it cannot leave early.
func InvertSPD(ctx context.Context, a []float64, n int) error {
	if !lowerCholesky(a, n) {
		return ErrNotPositiveDefinite
	}
	tmp := make([]float64, (n/2)*(n-n/2))
	if err := invLower(ctx, a, n, n, tmp); err != nil {
		return err
	}
	if err := lauum(ctx, a, n, n, tmp); err != nil {
		return err
	}
	ParallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			for j := 0; j < i; j++ {
				a[j*n+i] = a[i*n+j]
			}
		}
	})
	return nil
}

// InvCholeskyUpper replaces the symmetric positive definite n×n matrix h by
// U, the upper Cholesky factor of h⁻¹ (h⁻¹ = UᵀU, zeros below the diagonal),
// which SparseGPT's column sweep uses. It returns ErrNotPositiveDefinite
// when h is not numerically positive definite, and looks at ctx as
// InvertSPD does.
//
// The reference computes chol(chol_inverse(chol(H)), upper): three O(n³)
// passes. With J the exchange matrix, chol(JHJ) = L gives H = R·Rᵀ for the
// upper-triangular R = JLJ, so H⁻¹ = R⁻ᵀR⁻¹ and U = R⁻¹ = J·L⁻¹·J (unique,
// its diagonal being positive). Reversing a row-major matrix's flat storage
// is exactly X ↦ JXJ, so this is one Cholesky and one triangular inverse.
func InvCholeskyUpper(ctx context.Context, h []float64, n int) error {
	slices.Reverse(h)
	if !lowerCholesky(h, n) {
		return ErrNotPositiveDefinite
	}
	if err := invLower(ctx, h, n, n, make([]float64, (n/2)*(n-n/2))); err != nil {
		return err
	}
	slices.Reverse(h)
	return nil
}

// lowerCholesky factors a = LLᵀ in place and zeroes the strict upper
// triangle, which the recursions multiply as part of general matrices.
func lowerCholesky(a []float64, n int) bool {
	if _, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Lower, N: n, Stride: n, Data: a}); !ok {
		return false
	}
	ParallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			clear(a[i*n+i+1 : (i+1)*n])
		}
	})
	return true
}

// invLower inverts the lower triangular n×n block at a (row stride ld, zero
// strict upper triangle) in place:
// [L11 0; L21 L22]⁻¹ = [L11⁻¹ 0; −L22⁻¹·L21·L11⁻¹ L22⁻¹].
func invLower(ctx context.Context, a []float64, n, ld int, tmp []float64) error {
	if n <= leafSize {
		if !(lapackgo.Implementation{}).Dtrtri(blas.Lower, blas.NonUnit, n, a, ld) {
			return ErrNotPositiveDefinite
		}
		return nil
	}
	n1, n2 := n/2, n-n/2
	l21, l22 := a[n1*ld:], a[n1*ld+n1:]
	if err := invLower(ctx, a, n1, ld, tmp); err != nil {
		return err
	}
	if err := invLower(ctx, l22, n2, ld, tmp); err != nil {
		return err
	}
	if err := DgemmContext(ctx, false, false, n2, n1, n1, 1, l21, ld, a, ld, 0, tmp, n1); err != nil {
		return err
	}
	return DgemmContext(ctx, false, false, n2, n1, n2, -1, l22, ld, tmp, n1, 0, l21, ld)
}

// lauum replaces the lower triangular n×n block T at a (zero strict upper
// triangle) by the lower triangle of TᵀT:
// [T11 0; T21 T22]ᵀ[T11 0; T21 T22] = [T11ᵀT11+T21ᵀT21 ·; T22ᵀT21 T22ᵀT22].
func lauum(ctx context.Context, a []float64, n, ld int, tmp []float64) error {
	if n <= leafSize {
		lapackgo.Implementation{}.Dlauum(blas.Lower, n, a, ld)
		return nil
	}
	n1, n2 := n/2, n-n/2
	t21, t22 := a[n1*ld:], a[n1*ld+n1:]
	if err := lauum(ctx, a, n1, ld, tmp); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	blas64.Implementation().Dsyrk(blas.Lower, blas.Trans, n1, n2, 1, t21, ld, 1, a, ld)
	if err := DgemmContext(ctx, true, false, n2, n1, n2, 1, t22, ld, t21, ld, 0, tmp, n1); err != nil {
		return err
	}
	for i := 0; i < n2; i++ {
		copy(t21[i*ld:i*ld+n1], tmp[i*n1:(i+1)*n1])
	}
	return lauum(ctx, t22, n2, ld, tmp)
}
