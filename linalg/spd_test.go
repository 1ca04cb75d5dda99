package linalg

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
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

// TestCholLower compares the recursive Cholesky with gonum's Potrf on
// sizes around the leaf and odd splits, and checks that a matrix whose
// failure shows only in the trailing Schur complement (past the first
// split) is refused.
func TestCholLower(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 3, leafSize, leafSize + 1, 2*leafSize + 3, 300} {
		x := make([]float64, 2*n*n)
		for i := range x {
			x[i] = r.NormFloat64()
		}
		a := make([]float64, n*n)
		blas64.Implementation().Dgemm(blas.Trans, blas.NoTrans, n, n, 2*n, 1, x, n, x, n, 0, a, n)
		ref := slices.Clone(a)
		if _, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Lower, N: n, Stride: n, Data: ref}); !ok {
			t.Fatalf("n=%d: gonum's Potrf failed", n)
		}
		if err := lowerCholesky(context.Background(), kit[float64](), a, n); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				want := 0.0
				if j <= i {
					want = ref[i*n+j]
				}
				if d := math.Abs(a[i*n+j] - want); d > 1e-10*math.Sqrt(float64(2*n)) {
					t.Fatalf("n=%d: L[%d,%d] = %g, gonum %g", n, i, j, a[i*n+j], want)
				}
			}
		}
	}
	n := 2*leafSize + 3
	a := make([]float64, n*n)
	for i := 0; i < n; i++ {
		a[i*n+i] = 1
	}
	a[(n-1)*n+n-2], a[(n-2)*n+n-1] = 2, 2 // the trailing 2×2 block [1 2; 2 1]
	if err := lowerCholesky(context.Background(), kit[float64](), a, n); !errors.Is(err, ErrNotPositiveDefinite) {
		t.Errorf("indefinite trailing block: error %v, want ErrNotPositiveDefinite", err)
	}
}

// TestInvertSPD checks the recursive inverse against A·A⁻¹ = I on sizes
// around the leaf size and odd splits, in both precisions (the residual in
// float64). The worst residuals seen, at n = 301, are 4e-15 and 2e-6: the
// ratio of the two epsilons, 2²⁹.
func TestInvertSPD(t *testing.T) {
	t.Run("float64", func(t *testing.T) { testInvertSPD[float64](t, 1e-9) })
	t.Run("float32", func(t *testing.T) { testInvertSPD[float32](t, 2e-5) })
}

func testInvertSPD[F Float](t *testing.T, tol float64) {
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
		inv := make([]F, n*n)
		for i, v := range a {
			inv[i] = F(v)
		}
		if err := InvertSPD(context.Background(), inv, n); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		worst := 0.0
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				s := 0.0
				for k := 0; k < n; k++ {
					s += a[i*n+k] * float64(inv[k*n+j])
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
		if worst > tol {
			t.Errorf("n=%d: max |A·A⁻¹ − I| = %.3g, want ≤ %.3g", n, worst, tol)
		}
	}
	if err := InvertSPD(context.Background(), []F{1, 2, 2, 1}, 2); !errors.Is(err, ErrNotPositiveDefinite) {
		t.Errorf("indefinite matrix: error %v, want ErrNotPositiveDefinite", err)
	}
}

// TestCancelled checks that both factorisations give up on a cancelled
// context, with the context's error.
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

// TestTriangular compares triangular (rows or columns of B on each core,
// through the backend's trsm and trmm) with gonum's single-threaded
// routines, on both sides, both transposes and a padded row stride, in
// both precisions.
func TestTriangular(t *testing.T) {
	ref := gonum.Implementation{}
	b32, b64 := blas32.Implementation(), blas64.Implementation()
	t.Run("float64", func(t *testing.T) {
		testTriangular(t, 1e-12, map[string][2]triangularFunc[float64]{
			"trsm": {b64.Dtrsm, ref.Dtrsm}, "trmm": {b64.Dtrmm, ref.Dtrmm}})
	})
	t.Run("float32", func(t *testing.T) {
		testTriangular(t, 1e-4, map[string][2]triangularFunc[float32]{
			"trsm": {b32.Strsm, ref.Strsm}, "trmm": {b32.Strmm, ref.Strmm}})
	})
}

// testTriangular checks each op's got (ops[name][0]) against its want.
func testTriangular[F Float](t *testing.T, tol float64, ops map[string][2]triangularFunc[F]) {
	r := rand.New(rand.NewPCG(7, 8))
	const rows, cols, ld = 37, 70, 75
	for _, side := range []blas.Side{blas.Left, blas.Right} {
		k := rows
		if side == blas.Right {
			k = cols
		}
		tri := make([]F, k*ld)
		for i := 0; i < k; i++ {
			for j := 0; j <= i; j++ {
				tri[i*ld+j] = F(r.NormFloat64())
			}
			tri[i*ld+i] = 2 + F(math.Abs(float64(tri[i*ld+i]))) // well away from singular
		}
		for _, tT := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			for _, name := range []string{"trsm", "trmm"} {
				got, want := ops[name][0], ops[name][1]
				b := make([]F, rows*ld)
				for i := range b {
					b[i] = F(r.NormFloat64())
				}
				w := slices.Clone(b)
				want(side, blas.Lower, tT, blas.NonUnit, rows, cols, -0.5, tri, ld, w, ld)
				triangular(got, side, tT, rows, cols, -0.5, tri, b, ld)
				for i := range b {
					if math.Abs(float64(b[i]-w[i])) > tol*(1+math.Abs(float64(w[i]))) {
						t.Fatalf("%s side=%c %c: B[%d] = %g, gonum %g", name, side, tT, i, b[i], w[i])
					}
				}
			}
		}
	}
}

// BenchmarkInvertSPD times a 7B layer's inverse (n = 4096, a well
// conditioned Gram plus I) in float64 and float32 in the same run.
func BenchmarkInvertSPD(b *testing.B) {
	const n = 4096
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, n*n)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	a := make([]float64, n*n)
	Dgemm(true, false, n, n, n, 1.0/n, x, n, x, n, 0, a, n)
	for i := 0; i < n; i++ {
		a[i*n+i]++
	}
	b.Run("float64", func(b *testing.B) { benchInvertSPD(b, a, n) })
	b.Run("float32", func(b *testing.B) { benchInvertSPD(b, narrow(a), n) })
}

func benchInvertSPD[F Float](b *testing.B, a []F, n int) {
	w := make([]F, len(a))
	for b.Loop() {
		b.StopTimer()
		copy(w, a)
		b.StartTimer()
		if err := InvertSPD(context.Background(), w, n); err != nil {
			b.Fatal(err)
		}
	}
}

// mirrorNaive is mirrorLower row by row, as InvertSPD first wrote it.
func mirrorNaive(a []float32, n int) {
	for i := 0; i < n; i++ {
		for j := 0; j < i; j++ {
			a[j*n+i] = a[i*n+j]
		}
	}
}

// TestMirrorLower compares the tiled mirror with the row loop on sizes
// around the tile and on partial tiles.
func TestMirrorLower(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	for _, n := range []int{1, 2, mirrorTile - 1, mirrorTile, mirrorTile + 1, 3*mirrorTile + 5, 700} {
		a := make([]float32, n*n)
		for i := range a {
			a[i] = float32(r.NormFloat64())
		}
		want := slices.Clone(a)
		mirrorNaive(want, n)
		mirrorLower(a, n)
		if !slices.Equal(a, want) {
			t.Errorf("n=%d: tiled mirror differs from the row loop", n)
		}
	}
}

// BenchmarkMirrorLower times the 4096² mirror, tiled and row by row (on
// both cores) in the same run.
func BenchmarkMirrorLower(b *testing.B) {
	const n = 4096
	a := make([]float32, n*n)
	b.Run("tiled", func(b *testing.B) {
		for b.Loop() {
			mirrorLower(a, n)
		}
	})
	b.Run("rows", func(b *testing.B) {
		for b.Loop() {
			ParallelFor(n, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					for j := 0; j < i; j++ {
						a[j*n+i] = a[i*n+j]
					}
				}
			})
		}
	})
}
