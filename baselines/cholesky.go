package baselines

import (
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"

	"github.com/prunebench/prunebench/linalg"
)

// invUpperCholesky replaces the symmetric positive definite n×n matrix h
// (row-major, full) by U, the upper Cholesky factor of h⁻¹ (h⁻¹ = UᵀU),
// with zeros below the diagonal. It reports false when h is not
// numerically positive definite.
//
// The reference computes U as chol(chol_inverse(chol(H)), upper): three
// O(n³) passes, two of them in triangular BLAS routines that gonum runs
// single-threaded in pure Go. Instead: with J the exchange matrix,
// chol(JHJ) = L gives H = R·Rᵀ for the upper-triangular R = JLJ, so
// H⁻¹ = R⁻ᵀR⁻¹ and U = R⁻¹ (unique, since its diagonal is positive).
// Reversing a row-major matrix's flat storage is exactly X ↦ JXJ, so this
// is one Cholesky plus one triangular inverse, both made of gemms.
func invUpperCholesky(h []float64, n int) bool {
	slices.Reverse(h)
	if _, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Lower, N: n, Stride: n, Data: h}); !ok {
		return false
	}
	slices.Reverse(h)
	linalg.ParallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			clear(h[i*n : i*n+i])
		}
	})
	invUpper(h, n, n)
	return true
}

// triBase is the size below which invUpper substitutes directly.
const triBase = 64

// invUpper inverts in place the n×n upper-triangular matrix a (stride ld,
// zeros below the diagonal, positive diagonal), recursively:
// [A B; 0 C]⁻¹ = [A⁻¹ −A⁻¹BC⁻¹; 0 C⁻¹]. The off-diagonal products are
// general gemms, twice the flops of a triangular multiply but run by the
// fast backend on both cores.
func invUpper(a []float64, n, ld int) {
	if n <= triBase {
		invUpperSmall(a, n, ld)
		return
	}
	n1 := n / 2
	n2 := n - n1
	invUpper(a, n1, ld)
	c := a[n1*ld+n1:]
	invUpper(c, n2, ld)
	b := a[n1:]
	// B ← B·C⁻¹, then B ← −A⁻¹·B, a bounded slab at a time so that the
	// scratch stays small next to the matrix.
	const slab = 256
	tmp := make([]float64, slab*max(n1, n2))
	for r := 0; r < n1; r += slab {
		rows := min(slab, n1-r)
		linalg.Dgemm(false, false, rows, n2, n2, 1, b[r*ld:], ld, c, ld, 0, tmp, n2)
		for i := 0; i < rows; i++ {
			copy(b[(r+i)*ld:(r+i)*ld+n2], tmp[i*n2:(i+1)*n2])
		}
	}
	for col := 0; col < n2; col += slab {
		cols := min(slab, n2-col)
		linalg.Dgemm(false, false, n1, cols, n1, -1, a, ld, b[col:], ld, 0, tmp, cols)
		for i := 0; i < n1; i++ {
			copy(b[i*ld+col:i*ld+col+cols], tmp[i*cols:(i+1)*cols])
		}
	}
}

// invUpperSmall inverts a small upper-triangular matrix column by column
// (back substitution on the identity).
func invUpperSmall(a []float64, n, ld int) {
	for j := n - 1; j >= 0; j-- {
		a[j*ld+j] = 1 / a[j*ld+j]
		// Row j of the inverse right of the diagonal: −a_jj⁻¹·Σ a_jk·X_k·.
		for k := n - 1; k > j; k-- {
			var s float64
			for m := j + 1; m <= k; m++ {
				s += a[j*ld+m] * a[m*ld+k]
			}
			a[j*ld+k] = -a[j*ld+j] * s
		}
	}
}
