package linalg

import "context"

// slabFlops is about how much work DgemmContext and SgemmContext do between
// two looks at their context: with pure Go some 0.2 s of gemm on two cores;
// with OpenBLAS (3×10¹¹ float32 and half that in float64 flop/s on two
// cores with AVX-512 kernels) about two seconds, and slabs of thousands of
// rows or columns, since each slab's call packs the operand on the other
// side once more. ADMM's down_proj product (4096×11008 by 11008×11008, one
// Sgemm 3.6–6.0 s here) took a median 4.4 s in slabs of 2³⁷ flop (8
// slabs) and 3.8–4.1 s in slabs of 2³⁹ (2 slabs), as one Sgemm did.
// Variables so that tests can cross slab boundaries on small products.
var (
	slabFlopsBLAS = 1 << 39
	slabFlopsGo   = 1 << 30
)

// DgemmContext is Dgemm in slabs of C with ctx checked before each slab, so
// that a product of minutes (a triangular inverse on an 11008-wide layer
// without OpenBLAS) can be abandoned within about one slab. It returns
// ctx.Err(), leaving C partly updated, when ctx ends first. Each slab is an
// ordinary Dgemm on a block of C, which both backends may sum in another
// order than one call on the whole (gonum runs a product of fewer than four
// 64×64 blocks serially, OpenBLAS picks kernels by shape): the result is
// that of one call up to rounding, and the same from run to run.
func DgemmContext(ctx context.Context, tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) error {
	return inSlabs(ctx, m, n, k, func(i0, i1, j0, j1 int) {
		Dgemm(tA, tB, i1-i0, j1-j0, k, alpha, a[opOffset(tA, i0, lda):], lda,
			b[opOffset(!tB, j0, ldb):], ldb, beta, c[i0*ldc+j0:], ldc)
	})
}

// SgemmContext is DgemmContext in float32: the product of an ADMM iteration
// on an 11008-wide layer takes seconds even with OpenBLAS.
func SgemmContext(ctx context.Context, tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	return inSlabs(ctx, m, n, k, func(i0, i1, j0, j1 int) {
		Sgemm(tA, tB, i1-i0, j1-j0, k, alpha, a[opOffset(tA, i0, lda):], lda,
			b[opOffset(!tB, j0, ldb):], ldb, beta, c[i0*ldc+j0:], ldc)
	})
}

// inSlabs runs part on the blocks [i0,i1)×[j0,j1) of an m×n product of
// depth k, of about slabFlops each, checking ctx before each one. A slab of
// rows multiplies all of op(B) (k×n) and a slab of columns all of op(A)
// (m×k), and the slab's call packs that operand again. So C is cut along
// its longer side, and the smaller operand is the one packed per slab:
// ADMM's down_proj product (4096×11008 by 11008×11008) takes 1.11–1.15×
// one Sgemm's time in slabs of rows, 1.04–1.05× in slabs of columns.
// Slabs are multiples of 64 wide, gonum's block of C.
func inSlabs(ctx context.Context, m, n, k int, part func(i0, i1, j0, j1 int)) error {
	flops := slabFlopsGo
	if backendName == "openblas" {
		flops = slabFlopsBLAS
	}
	if m >= n {
		rows := max(64, flops/max(2*n*k, 1)/64*64)
		for i0 := 0; i0 < m; i0 += rows {
			if err := ctx.Err(); err != nil {
				return err
			}
			part(i0, min(i0+rows, m), 0, n)
		}
		return nil
	}
	cols := max(64, flops/max(2*m*k, 1)/64*64)
	for j0 := 0; j0 < n; j0 += cols {
		if err := ctx.Err(); err != nil {
			return err
		}
		part(0, m, j0, min(j0+cols, n))
	}
	return nil
}

// opOffset is where row i of op(X) starts in X (a row of X, or a column
// when op transposes it); column j of op(X) starts at opOffset(!t, j, ld).
func opOffset(t bool, i, ld int) int {
	if t {
		return i
	}
	return i * ld
}
