package linalg

import "context"

// sgemmSlabFlops is about how much work SgemmContext does between two looks
// at its context: with OpenBLAS (about 2×10¹¹ float32 flop/s on two cores
// here) some 0.7 s, and slabs of at least a few hundred rows, so that each
// call still packs its operands once per several hundred rows; with pure
// Go, slabFlops as DgemmContext. Variables so that tests can cross slab
// boundaries on small products.
var (
	sgemmSlabFlopsBLAS = 1 << 37
	sgemmSlabFlopsGo   = 1 << 30
)

// SgemmContext is Sgemm in slabs of rows of C with ctx checked before each
// slab, as DgemmContext: the float32 product of an ADMM iteration on an
// 11008-wide layer takes seconds even with OpenBLAS. Each slab is an
// ordinary Sgemm on a row range of C (bit for bit one Sgemm call with
// gonum; OpenBLAS may pick other kernels for a slab's shape). It returns
// ctx.Err(), leaving C partly updated, when ctx ends first.
func SgemmContext(ctx context.Context, tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	slab := sgemmSlabFlopsGo
	if backendName == "openblas" {
		slab = sgemmSlabFlopsBLAS
	}
	rows := max(64, slab/max(2*n*k, 1)/64*64)
	for i0 := 0; i0 < m; i0 += rows {
		if err := ctx.Err(); err != nil {
			return err
		}
		off := i0 * lda
		if tA {
			off = i0
		}
		Sgemm(tA, tB, min(rows, m-i0), n, k, alpha, a[off:], lda, b, ldb, beta, c[i0*ldc:], ldc)
	}
	return nil
}
