package linalg

// SgemmSerial is Sgemm computed on the calling goroutine alone. Products
// issued from inside a parallel loop (attention's, one per (sequence,
// head) pair on each core) use it: Sgemm would split each of them across
// the cores again, running more BLAS threads than there are cores, which
// then take turns and evict each other's cache.
func SgemmSerial(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if sgemmSerialBLAS(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
		return
	}
	// gonum runs a product on one goroutine when it has fewer than four
	// 64×64 blocks of C: tiles of 128×64 stay below that.
	const tm, tn = 128, 64
	for i0 := 0; i0 < m; i0 += tm {
		for j0 := 0; j0 < n; j0 += tn {
			Sgemm(tA, tB, min(tm, m-i0), min(tn, n-j0), k, alpha, a[opOffset(tA, i0, lda):], lda,
				b[opOffset(!tB, j0, ldb):], ldb, beta, c[i0*ldc+j0:], ldc)
		}
	}
}
