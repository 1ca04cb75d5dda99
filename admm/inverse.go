package admm

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/gonum"
	"gonum.org/v1/gonum/lapack/lapack64"

	"github.com/prunebench/prunebench/linalg"
)

// leafSize is the block size below which gonum's LAPACK finishes the
// recursions; above it all work is in gemm/syrk.
const leafSize = 64

// invertSPD replaces the symmetric positive definite n×n matrix a (full
// storage) by its inverse, reporting false when Cholesky fails. gonum's
// Dpotri spends most of its time in its pure-Go Dtrmm (about 10× Dpotrf at
// n = 4096), so the inverse is formed here by recursions whose work is all
// in the BLAS gemm and syrk that linalg routes to OpenBLAS.
func invertSPD(a []float64, n int) bool {
	if _, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Lower, N: n, Stride: n, Data: a}); !ok {
		return false
	}
	// The recursions multiply triangular blocks as general matrices, so the
	// strict upper triangle (still holding A) must be zero.
	linalg.ParallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			clear(a[i*n+i+1 : (i+1)*n])
		}
	})
	tmp := make([]float64, (n/2)*(n-n/2))
	if !triInv(a, n, n, tmp) {
		return false
	}
	lauum(a, n, n, tmp)
	linalg.ParallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			for j := 0; j < i; j++ {
				a[j*n+i] = a[i*n+j]
			}
		}
	})
	return true
}

// triInv inverts the lower triangular n×n block at a (row stride ld, zero
// strict upper triangle) in place:
// [L11 0; L21 L22]⁻¹ = [L11⁻¹ 0; −L22⁻¹·L21·L11⁻¹ L22⁻¹].
func triInv(a []float64, n, ld int, tmp []float64) bool {
	if n <= leafSize {
		return gonum.Implementation{}.Dtrtri(blas.Lower, blas.NonUnit, n, a, ld)
	}
	n1, n2 := n/2, n-n/2
	l21, l22 := a[n1*ld:], a[n1*ld+n1:]
	if !triInv(a, n1, ld, tmp) || !triInv(l22, n2, ld, tmp) {
		return false
	}
	linalg.Dgemm(false, false, n2, n1, n1, 1, l21, ld, a, ld, 0, tmp, n1)
	linalg.Dgemm(false, false, n2, n1, n2, -1, l22, ld, tmp, n1, 0, l21, ld)
	return true
}

// lauum replaces the lower triangular n×n block T at a (zero strict upper
// triangle) by the lower triangle of TᵀT:
// [T11 0; T21 T22]ᵀ[T11 0; T21 T22] = [T11ᵀT11+T21ᵀT21 ·; T22ᵀT21 T22ᵀT22].
func lauum(a []float64, n, ld int, tmp []float64) {
	if n <= leafSize {
		gonum.Implementation{}.Dlauum(blas.Lower, n, a, ld)
		return
	}
	n1, n2 := n/2, n-n/2
	t21, t22 := a[n1*ld:], a[n1*ld+n1:]
	lauum(a, n1, ld, tmp)
	blas64.Implementation().Dsyrk(blas.Lower, blas.Trans, n1, n2, 1, t21, ld, 1, a, ld)
	linalg.Dgemm(true, false, n2, n1, n2, 1, t22, ld, t21, ld, 0, tmp, n1)
	for i := 0; i < n2; i++ {
		copy(t21[i*ld:i*ld+n1], tmp[i*n1:(i+1)*n1])
	}
	lauum(t22, n2, ld, tmp)
}
