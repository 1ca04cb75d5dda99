package linalg

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// backendName and backendCore (the kernels OpenBLAS runs) are set by the
// build-tagged backend files.
var backendName, backendCore = "gonum", ""

// Backend names the BLAS implementation in use, "gonum" or "openblas"
// followed by its kernels in parentheses, for records and reports.
func Backend() string {
	if backendCore == "" {
		return backendName
	}
	return backendName + " (" + backendCore + ")"
}

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
