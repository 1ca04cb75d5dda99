package linalg

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// TestInvCholeskyUpper compares with the reference's route,
// chol(chol_inverse(chol(H)), upper), across the recursion's sizes.
func TestInvCholeskyUpper(t *testing.T) {
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
		if err := InvCholeskyUpper(context.Background(), h, n); err != nil {
			t.Fatalf("n=%d: %v", n, err)
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
	if err := InvCholeskyUpper(context.Background(), indefinite, 2); !errors.Is(err, ErrNotPositiveDefinite) {
		t.Errorf("indefinite matrix: error %v, want ErrNotPositiveDefinite", err)
	}
}

// TestInvertSPD checks the recursive inverse against A·A⁻¹ = I on sizes
// around the leaf size and odd splits.
func TestInvertSPD(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 13))
	for _, n := range []int{1, 2, 7, leafSize, leafSize + 1, 2*leafSize + 3, 301} {
		x := make([]float64, 2*n*n)
		for i := range x {
			x[i] = r.NormFloat64()
		}
		a := make([]float64, n*n)
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				for k := 0; k < 2*n; k++ {
					a[i*n+j] += x[k*n+i] * x[k*n+j]
				}
			}
			a[i*n+i] += 1
		}
		inv := append([]float64(nil), a...)
		if err := InvertSPD(context.Background(), inv, n); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		worst := 0.0
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				s := 0.0
				for k := 0; k < n; k++ {
					s += a[i*n+k] * inv[k*n+j]
				}
				if i == j {
					s--
				}
				worst = math.Max(worst, math.Abs(s))
				if inv[i*n+j] != inv[j*n+i] {
					t.Fatalf("n=%d: inverse not symmetric at [%d,%d]", n, i, j)
				}
			}
		}
		if worst > 1e-9 {
			t.Errorf("n=%d: max |A·A⁻¹ − I| = %.3g", n, worst)
		}
	}
	if err := InvertSPD(context.Background(), []float64{1, 2, 2, 1}, 2); !errors.Is(err, ErrNotPositiveDefinite) {
		t.Errorf("indefinite matrix: error %v, want ErrNotPositiveDefinite", err)
	}
}

// TestCancelled checks that both factorisations give up on a cancelled
// context once past the Cholesky step, with the context's error.
func TestCancelled(t *testing.T) {
	n := 3 * leafSize
	a := make([]float64, n*n)
	for i := 0; i < n; i++ {
		a[i*n+i] = 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := InvertSPD(ctx, slices.Clone(a), n); !errors.Is(err, context.Canceled) {
		t.Errorf("InvertSPD: error %v, want context.Canceled", err)
	}
	if err := InvCholeskyUpper(ctx, slices.Clone(a), n); !errors.Is(err, context.Canceled) {
		t.Errorf("InvCholeskyUpper: error %v, want context.Canceled", err)
	}
}
