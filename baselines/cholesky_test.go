package baselines

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// TestInvUpperCholesky compares with the reference's route,
// chol(chol_inverse(chol(H)), upper), across the recursion's sizes.
func TestInvUpperCholesky(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{1, 2, 63, 64, 65, 130, 257} {
		// H = AᵀA + n·I/10: well conditioned, dense.
		a := make([]float64, 2*n*n)
		for i := range a {
			a[i] = rng.NormFloat64()
		}
		h := make([]float64, n*n)
		blas64.Implementation().Dgemm(blas.Trans, blas.NoTrans, n, n, 2*n, 1, a, n, a, n, 0, h, n)
		for j := 0; j < n; j++ {
			h[j*n+j] += float64(n) / 10
		}
		ref := append([]float64(nil), h...)
		sym := blas64.Symmetric{Uplo: blas.Upper, N: n, Stride: n, Data: ref}
		tri, ok := lapack64.Potrf(sym)
		if ok {
			sym, ok = lapack64.Potri(tri)
		}
		if ok {
			_, ok = lapack64.Potrf(sym)
		}
		if !ok {
			t.Fatalf("n=%d: reference factorisation failed", n)
		}
		if !invUpperCholesky(h, n) {
			t.Fatalf("n=%d: factorisation failed", n)
		}
		scale := 0.0
		for j := 0; j < n; j++ {
			scale = max(scale, math.Abs(ref[j*n+j]))
		}
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				want := 0.0
				if j >= i {
					want = ref[i*n+j]
				}
				if math.Abs(h[i*n+j]-want) > 1e-10*scale {
					t.Fatalf("n=%d: U[%d,%d] = %g, reference %g", n, i, j, h[i*n+j], want)
				}
			}
		}
	}
	indefinite := []float64{1, 2, 2, 1}
	if invUpperCholesky(indefinite, 2) {
		t.Error("indefinite matrix factorised")
	}
}
