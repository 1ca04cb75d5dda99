package linalg

import (
	"context"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// backendName is set by the build-tagged backend files.
var backendName = "gonum"

// Backend names the BLAS implementation in use ("gonum" or "openblas").
func Backend() string { return backendName }

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major float32
// matrices, with op(X) = Xᵀ when the matching flag is set. op(A) is m×k,
// op(B) is k×n and C is m×n.
func Sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	blas32.Implementation().Sgemm(trans(tA), trans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm is Sgemm in float64.
func Dgemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	blas64.Implementation().Dgemm(trans(tA), trans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// slabFlops is about how much work DgemmContext does between two looks at
// its context: some 0.2 s of pure-Go gemm on two cores. A variable so that
// tests can cross slab boundaries on small products.
var slabFlops = 1 << 30

// DgemmContext is Dgemm in slabs of rows of C, with ctx checked before each
// slab, so that a product of minutes (an ADMM iteration or a triangular
// inverse on an 11008-wide layer without OpenBLAS) can be abandoned within
// about one slab. Each slab is an ordinary Dgemm on a row range of C. With
// gonum, which sums every element in k order, the result is bit for bit
// that of one Dgemm call; OpenBLAS may pick other kernels for a slab's
// shape, which changes the result at rounding level only. It returns
// ctx.Err(), leaving C partly updated, when ctx ends first.
func DgemmContext(ctx context.Context, tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) error {
	// Multiples of 64 rows keep gonum's 64×64 blocking unchanged.
	rows := max(64, slabFlops/max(2*n*k, 1)/64*64)
	for i0 := 0; i0 < m; i0 += rows {
		if err := ctx.Err(); err != nil {
			return err
		}
		off := i0 * lda // row i0 of op(A) = A
		if tA {
			off = i0 // row i0 of op(A) = column i0 of A
		}
		Dgemm(tA, tB, min(rows, m-i0), n, k, alpha, a[off:], lda, b, ldb, beta, c[i0*ldc:], ldc)
	}
	return nil
}

// MatMulT computes y = x·Wᵀ for rows inputs x (rows×in) and W (out×in),
// writing y (rows×out). It is the forward product of a linear layer.
func MatMulT(y, x []float32, rows, in int, w []float32, out int) {
	Sgemm(false, true, rows, out, in, 1, x, in, w, in, 0, y, out)
}

// Argmax returns the index of the largest value, the first one on ties (as
// run.c's greedy decoding and lm-eval's is_greedy do).
func Argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
