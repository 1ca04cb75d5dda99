//go:build openblas

package linalg

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

// sgemmSerialBLAS is one single-threaded OpenBLAS call over the whole
// product (OpenBLAS runs with one thread here, see openblas.go); false when
// the operands do not fit, for gonum to panic with its message.
func sgemmSerialBLAS(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) bool {
	if !gemmFits(trans(tA), trans(tB), m, n, k, len(a), lda, len(b), ldb, len(c), ldc) {
		return false
	}
	C.cblas_sgemm(C.CblasRowMajor, cTrans(trans(tA)), cTrans(trans(tB)), C.blasint(m), C.blasint(n), C.blasint(k),
		C.float(alpha), (*C.float)(&a[0]), C.blasint(lda), (*C.float)(&b[0]), C.blasint(ldb),
		C.float(beta), (*C.float)(&c[0]), C.blasint(ldc))
	return true
}
