package linalg

import (
	"context"
	"errors"
	"math"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	lapackgo "gonum.org/v1/gonum/lapack/gonum"

	"github.com/prunebench/prunebench/linalg/internal/vecmath"
)

// Float is float32 or float64: the precisions InvertSPD runs in.
type Float = vecmath.Float

// Both routines below replace gonum's Potrf/Potri route: gonum runs the
// triangular BLAS level-3 routines single-threaded in pure Go (Dpotri takes
// about 10× Dpotrf at n = 4096), while these recursions put all O(n³) work
// into syrk and triangular solves and multiplies, shared among the cores
// (see triangular), at the flop counts of LAPACK's blocked routines.

// leafSize is the block size below which gonum's LAPACK finishes the
// recursions (in float64: a float32 leaf is widened, finished and rounded
// back, 64×64 at a time, as gonum's LAPACK is float64 only).
const leafSize = 64

// spdKit is the BLAS and leaf routines of the recursions in one precision.
type spdKit[F Float] struct {
	trsm, trmm triangularFunc[F]
	syrk       func(ul blas.Uplo, t blas.Transpose, n, k int, alpha F, a []F, lda int, beta F, c []F, ldc int)
	potrf      func(n int, a []F, ld int) bool // lower Cholesky of a leaf
	trtri      func(n int, a []F, ld int) bool // inverse of a lower triangular leaf
	lauum      func(n int, a []F, ld int)      // LᵀL of a lower triangular leaf
}

// kit returns F's routines, from the BLAS backend in use.
func kit[F Float]() spdKit[F] {
	var k any
	var zero F
	switch any(zero).(type) {
	case float64:
		b := blas64.Implementation()
		k = spdKit[float64]{trsm: b.Dtrsm, trmm: b.Dtrmm, syrk: b.Dsyrk,
			potrf: func(n int, a []float64, ld int) bool { return lapackgo.Implementation{}.Dpotrf(blas.Lower, n, a, ld) },
			trtri: func(n int, a []float64, ld int) bool {
				return lapackgo.Implementation{}.Dtrtri(blas.Lower, blas.NonUnit, n, a, ld)
			},
			lauum: func(n int, a []float64, ld int) { lapackgo.Implementation{}.Dlauum(blas.Lower, n, a, ld) },
		}
	case float32:
		b := blas32.Implementation()
		k64 := kit[float64]()
		k = spdKit[float32]{trsm: b.Strsm, trmm: b.Strmm, syrk: b.Ssyrk,
			potrf: func(n int, a []float32, ld int) bool { return widened(n, a, ld, k64.potrf) },
			trtri: func(n int, a []float32, ld int) bool { return widened(n, a, ld, k64.trtri) },
			lauum: func(n int, a []float32, ld int) {
				widened(n, a, ld, func(n int, a []float64, ld int) bool { k64.lauum(n, a, ld); return true })
			},
		}
	}
	return k.(spdKit[F])
}

// widened runs the float64 leaf routine f on a float32 n×n block at a (row
// stride ld), widened to float64 and rounded back.
func widened(n int, a []float32, ld int, f func(n int, a []float64, ld int) bool) bool {
	w := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j, v := range a[i*ld : i*ld+n] {
			w[i*n+j] = float64(v)
		}
	}
	ok := f(n, w, n)
	for i := 0; i < n; i++ {
		for j, v := range w[i*n : i*n+n] {
			a[i*ld+j] = float32(v)
		}
	}
	return ok
}

// ErrNotPositiveDefinite is the error of a Cholesky factorisation that
// fails: callers retry with more damping on errors.Is.
var ErrNotPositiveDefinite = errors.New("matrix is not numerically positive definite")

// InvertSPD replaces the symmetric positive definite n×n matrix a
// (row-major, full storage) by its inverse, computed in a's precision. It returns
// ErrNotPositiveDefinite when the Cholesky factorisation fails, and
// ctx.Err() when ctx ends first (a is then garbage): at n = 11008 the
// inverse takes minutes with pure-Go BLAS, so it looks at ctx at every
// step of its recursions.
func InvertSPD[F Float](ctx context.Context, a []F, n int) error {
	k := kit[F]()
	if err := lowerCholesky(ctx, k, a, n); err != nil {
		return err
	}
	if err := invLower(ctx, k, a, n, n); err != nil {
		return err
	}
	if err := lauum(ctx, k, a, n, n); err != nil {
		return err
	}
	mirrorLower(a, n)
	return nil
}

// mirrorTile is the side of mirrorLower's tiles: a 64×64 tile and its
// mirror are 32 KiB in float32 (64 KiB in float64), within L2.
const mirrorTile = 64

// mirrorLower copies the strict lower triangle of the n×n matrix a onto its
// upper triangle, tile by tile: row by row, every write of the mirror went
// to another cache line (BenchmarkMirrorLower, n = 4096: 88 ms row by row,
// 27 ms tiled).
// The lower-triangle tiles are numbered k = bi(bi+1)/2 + bj (bj ≤ bi) and
// shared among the cores in equal counts.
func mirrorLower[F Float](a []F, n int) {
	nb := (n + mirrorTile - 1) / mirrorTile
	ParallelFor(nb*(nb+1)/2, func(lo, hi int) {
		bi := int((math.Sqrt(float64(8*lo+1)) - 1) / 2)
		for bi*(bi+1)/2 > lo {
			bi--
		}
		for (bi+1)*(bi+2)/2 <= lo {
			bi++
		}
		bj := lo - bi*(bi+1)/2
		for k := lo; k < hi; k++ {
			i0, j0 := bi*mirrorTile, bj*mirrorTile
			i1, j1 := min(i0+mirrorTile, n), min(j0+mirrorTile, n)
			for i := i0; i < i1; i++ {
				for j := j0; j < min(j1, i); j++ {
					a[j*n+i] = a[i*n+j]
				}
			}
			if bj++; bj > bi {
				bi, bj = bi+1, 0
			}
		}
	})
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
	k := kit[float64]()
	slices.Reverse(h)
	if err := lowerCholesky(ctx, k, h, n); err != nil {
		return err
	}
	if err := invLower(ctx, k, h, n, n); err != nil {
		return err
	}
	slices.Reverse(h)
	return nil
}

// lowerCholesky factors a = LLᵀ in place and zeroes the strict upper
// triangle, which the triangular steps never write: InvCholeskyUpper's
// factor, reversed, has its zeros below the diagonal from there.
func lowerCholesky[F Float](ctx context.Context, k spdKit[F], a []F, n int) error {
	if err := cholLower(ctx, k, a, n, n); err != nil {
		return err
	}
	ParallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			clear(a[i*n+i+1 : (i+1)*n])
		}
	})
	return nil
}

// cholLower replaces the lower triangle of the symmetric n×n block at a
// (row stride ld) by its Cholesky factor L:
// [A11 ·; A21 A22] = [L11 0; L21 L22]·[L11 0; L21 L22]ᵀ with L11 = chol(A11),
// L21 = A21·L11⁻ᵀ and L22 = chol(A22 − L21·L21ᵀ). gonum's blocked Potrf
// spends its time in panel products 64 columns wide and a single-threaded
// triangular solve (0.8 s at n = 4096, 13 s at 11008, measured on two
// cores beside another job, against 0.5 s and 6.8 s for this); here
// all O(n³) work is in syrk and in triangular solves shared among the cores.
func cholLower[F Float](ctx context.Context, k spdKit[F], a []F, n, ld int) error {
	if n <= leafSize {
		if !k.potrf(n, a, ld) {
			return ErrNotPositiveDefinite
		}
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	n1, n2 := n/2, n-n/2
	a21, a22 := a[n1*ld:], a[n1*ld+n1:]
	if err := cholLower(ctx, k, a, n1, ld); err != nil {
		return err
	}
	triangular(k.trsm, blas.Right, blas.Trans, n2, n1, 1, a, a21, ld) // L21 = A21·L11⁻ᵀ
	// A22 (n2×n2, lower) −= L21·L21ᵀ.
	k.syrk(blas.Lower, blas.NoTrans, n2, n1, -1, a21, ld, 1, a22, ld)
	return cholLower(ctx, k, a22, n2, ld)
}

// invLower inverts the lower triangular n×n block at a (row stride ld) in
// place: [L11 0; L21 L22]⁻¹ = [L11⁻¹ 0; −L22⁻¹·L21·L11⁻¹ L22⁻¹], the
// off-diagonal block by two triangular multiplies (n³/3 flops in all).
func invLower[F Float](ctx context.Context, k spdKit[F], a []F, n, ld int) error {
	if n <= leafSize {
		if !k.trtri(n, a, ld) {
			return ErrNotPositiveDefinite
		}
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	n1, n2 := n/2, n-n/2
	l21, l22 := a[n1*ld:], a[n1*ld+n1:]
	if err := invLower(ctx, k, a, n1, ld); err != nil {
		return err
	}
	if err := invLower(ctx, k, l22, n2, ld); err != nil {
		return err
	}
	triangular(k.trmm, blas.Right, blas.NoTrans, n2, n1, 1, a, l21, ld)
	triangular(k.trmm, blas.Left, blas.NoTrans, n2, n1, -1, l22, l21, ld)
	return nil
}

// lauum replaces the lower triangular n×n block T at a (row stride ld) by
// the lower triangle of TᵀT:
// [T11 0; T21 T22]ᵀ[T11 0; T21 T22] = [T11ᵀT11+T21ᵀT21 ·; T22ᵀT21 T22ᵀT22].
func lauum[F Float](ctx context.Context, k spdKit[F], a []F, n, ld int) error {
	if n <= leafSize {
		k.lauum(n, a, ld)
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	n1, n2 := n/2, n-n/2
	t21, t22 := a[n1*ld:], a[n1*ld+n1:]
	if err := lauum(ctx, k, a, n1, ld); err != nil {
		return err
	}
	k.syrk(blas.Lower, blas.Trans, n1, n2, 1, t21, ld, 1, a, ld)
	triangular(k.trmm, blas.Left, blas.Trans, n2, n1, 1, t22, t21, ld)
	return lauum(ctx, k, t22, n2, ld)
}

// triangularFunc is the signature Dtrsm and Dtrmm (or Strsm and Strmm)
// share.
type triangularFunc[F Float] func(s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n int, alpha F, a []F, lda int, b []F, ldb int)

// triangular applies f (Dtrsm or Dtrmm) with the lower triangular block T
// at t to the r×c block B at b (both of row stride ld): B·op(T) on the
// right, op(T)·B on the left. B's rows (right) or columns (left) are
// independent, so they are shared among the cores, each slice one
// single-threaded call.
func triangular[F Float](f triangularFunc[F], side blas.Side, tT blas.Transpose, r, c int, alpha F, t, b []F, ld int) {
	if side == blas.Right {
		ParallelFor(r, func(lo, hi int) {
			f(blas.Right, blas.Lower, tT, blas.NonUnit, hi-lo, c, alpha, t, ld, b[lo*ld:], ld)
		})
		return
	}
	ParallelFor(c, func(lo, hi int) {
		f(blas.Left, blas.Lower, tT, blas.NonUnit, r, hi-lo, alpha, t, ld, b[lo:], ld)
	})
}
