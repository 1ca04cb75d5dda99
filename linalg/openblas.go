//go:build openblas

package linalg

/*
#cgo LDFLAGS: -lopenblas
#include <stdlib.h>
#include <cblas.h>

// Only DYNAMIC_ARCH builds of OpenBLAS have these: weak, so that a build
// for one processor links too (they are then null).
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

// force_core reselects the kernels as OpenBLAS does at load time, under
// OPENBLAS_CORETYPE = name, and restores the environment. It returns 0
// when the library cannot switch.
static int force_core(const char *name) {
	if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit) return 0;
	setenv("OPENBLAS_CORETYPE", name, 1);
	gotoblas_dynamic_quit();
	gotoblas_dynamic_init();
	unsetenv("OPENBLAS_CORETYPE");
	return 1;
}
*/
import "C"

import (
	"math"
	"os"
	"runtime"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
)

// openblas overrides the level-3 routines the hot paths use; everything
// else falls through to gonum's implementation.
//
// OpenBLAS runs single-threaded and large products are split across cores
// here, with goroutines. OpenBLAS's own pthread pool busy-waits between
// calls, stealing the cores Go's parallel loops need, and products issued
// concurrently by several goroutines (attention heads, documents scored in
// parallel) contend for that one pool: in the forward pass, attention ran
// 6× slower with concurrent threaded calls than with this scheme, and the
// whole forward 1.5–2× slower.
type openblas struct{ gonum.Implementation }

func init() {
	C.openblas_set_num_threads(1)
	backendCore = chooseCore()
	blas32.Use(openblas{})
	blas64.Use(openblas{})
	backendName = "openblas"
}

// chooseCore moves OpenBLAS to kernels the processor supports when it
// detected weaker ones (see betterCore), unless the user chose a core
// with OPENBLAS_CORETYPE, and describes the kernels in use. It runs
// before any BLAS call: kernels are only switched between calls.
func chooseCore() string {
	detected := coreName()
	if _, set := os.LookupEnv("OPENBLAS_CORETYPE"); set {
		return detected
	}
	want := betterCore(detected, cpuTier())
	if want == "" {
		return detected
	}
	name := C.CString(want)
	defer C.free(unsafe.Pointer(name))
	if C.force_core(name) == 0 {
		return detected + "; this OpenBLAS cannot switch to " + want
	}
	return coreName() + "; OpenBLAS detected " + detected
}

// coreName is the kernels OpenBLAS runs, as it names them.
func coreName() string { return C.GoString(C.openblas_get_corename()) }

func cTrans(t blas.Transpose) C.enum_CBLAS_TRANSPOSE {
	if t == blas.NoTrans {
		return C.CblasNoTrans
	}
	return C.CblasTrans
}

func cUplo(u blas.Uplo) C.enum_CBLAS_UPLO {
	if u == blas.Upper {
		return C.CblasUpper
	}
	return C.CblasLower
}

// gemmFits mirrors the bounds gonum checks, so a bad call panics in Go
// with gonum's message instead of corrupting memory in C.
func gemmFits(tA, tB blas.Transpose, m, n, k, la, lda, lb, ldb, lc, ldc int) bool {
	rowsA, colsA := m, k
	if tA != blas.NoTrans {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if tB != blas.NoTrans {
		rowsB, colsB = n, k
	}
	return m > 0 && n > 0 && k > 0 &&
		lda >= max(1, colsA) && ldb >= max(1, colsB) && ldc >= max(1, n) &&
		la >= (rowsA-1)*lda+colsA && lb >= (rowsB-1)*ldb+colsB && lc >= (m-1)*ldc+n
}

func (o openblas) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !gemmFits(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc) {
		o.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	splitGemm(m, n, k, func(i0, i1, j0, j1 int) {
		sgemm(tA, tB, i1-i0, j1-j0, k, alpha, a[opOffset(tA != blas.NoTrans, i0, lda):], lda,
			b[opOffset(tB == blas.NoTrans, j0, ldb):], ldb, beta, c[i0*ldc+j0:], ldc)
	})
}

func sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	C.cblas_sgemm(C.CblasRowMajor, cTrans(tA), cTrans(tB), C.blasint(m), C.blasint(n), C.blasint(k),
		C.float(alpha), (*C.float)(&a[0]), C.blasint(lda), (*C.float)(&b[0]), C.blasint(ldb),
		C.float(beta), (*C.float)(&c[0]), C.blasint(ldc))
}

func (o openblas) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if !gemmFits(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc) {
		o.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	splitGemm(m, n, k, func(i0, i1, j0, j1 int) {
		dgemm(tA, tB, i1-i0, j1-j0, k, alpha, a[opOffset(tA != blas.NoTrans, i0, lda):], lda,
			b[opOffset(tB == blas.NoTrans, j0, ldb):], ldb, beta, c[i0*ldc+j0:], ldc)
	})
}

func dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	C.cblas_dgemm(C.CblasRowMajor, cTrans(tA), cTrans(tB), C.blasint(m), C.blasint(n), C.blasint(k),
		C.double(alpha), (*C.double)(&a[0]), C.blasint(lda), (*C.double)(&b[0]), C.blasint(ldb),
		C.double(beta), (*C.double)(&c[0]), C.blasint(ldc))
}

// splitMin is the m·n·k below which a product stays on one core: a
// goroutine costs about a microsecond, 2¹⁸ multiply-adds about ten.
const splitMin = 1 << 18

// splitGemm runs part over the whole m×n output, or over GOMAXPROCS slabs of
// its longer side when the product is large enough to share.
func splitGemm(m, n, k int, part func(i0, i1, j0, j1 int)) {
	switch {
	case m*n*k < splitMin || runtime.GOMAXPROCS(0) == 1:
		part(0, m, 0, n)
	case m >= n:
		ParallelFor(m, func(lo, hi int) { part(lo, hi, 0, n) })
	default:
		ParallelFor(n, func(lo, hi int) { part(0, m, lo, hi) })
	}
}

func (o openblas) Dsyrk(ul blas.Uplo, t blas.Transpose, n, k int, alpha float64, a []float64, lda int, beta float64, c []float64, ldc int) {
	splitSyrk(ul, t, n, k, alpha, a, lda, beta, c, ldc, o.Implementation.Dsyrk, dsyrk, dgemm)
}

func (o openblas) Ssyrk(ul blas.Uplo, t blas.Transpose, n, k int, alpha float32, a []float32, lda int, beta float32, c []float32, ldc int) {
	splitSyrk(ul, t, n, k, alpha, a, lda, beta, c, ldc, o.Implementation.Ssyrk, ssyrk, sgemm)
}

// splitSyrk is syrk on all cores (OpenBLAS's syrk, one call per core), or
// gonum's routine (fallback) on arguments OpenBLAS must not see.
func splitSyrk[F Float](ul blas.Uplo, t blas.Transpose, n, k int, alpha F, a []F, lda int, beta F, c []F, ldc int,
	fallback, syrk func(ul blas.Uplo, t blas.Transpose, n, k int, alpha F, a []F, lda int, beta F, c []F, ldc int),
	gemm func(tA, tB blas.Transpose, m, n, k int, alpha F, a []F, lda int, b []F, ldb int, beta F, c []F, ldc int)) {
	rowsA, colsA := n, k
	if t != blas.NoTrans {
		rowsA, colsA = k, n
	}
	if n <= 0 || k <= 0 || lda < max(1, colsA) || ldc < max(1, n) || len(a) < (rowsA-1)*lda+colsA || len(c) < (n-1)*ldc+n {
		fallback(ul, t, n, k, alpha, a, lda, beta, c, ldc)
		return
	}
	workers := runtime.GOMAXPROCS(0)
	if n*n*k/2 < splitMin || workers == 1 || n < 2*workers {
		syrk(ul, t, n, k, alpha, a, lda, beta, c, ldc)
		return
	}
	// Worker w owns rows [r_w, r_w+1) of C: a triangle on the diagonal
	// (syrk) and the rectangle beside it (gemm). The bounds equalise the
	// areas: n·sqrt(w/W) for the lower triangle, mirrored for the upper.
	bounds := make([]int, workers+1)
	for w := range bounds {
		f := math.Sqrt(float64(w) / float64(workers))
		if ul == blas.Upper {
			f = 1 - math.Sqrt(float64(workers-w)/float64(workers))
		}
		bounds[w] = int(math.Round(f * float64(n)))
	}
	tr := t != blas.NoTrans
	opA, opB := blas.NoTrans, blas.Trans
	if tr {
		opA, opB = blas.Trans, blas.NoTrans
	}
	ParallelFor(workers, func(lo, hi int) {
		for w := lo; w < hi; w++ {
			r0, r1 := bounds[w], bounds[w+1]
			if r0 == r1 {
				continue
			}
			syrk(ul, t, r1-r0, k, alpha, a[opOffset(tr, r0, lda):], lda, beta, c[r0*ldc+r0:], ldc)
			c0, c1 := 0, r0
			if ul == blas.Upper {
				c0, c1 = r1, n
			}
			if c1 > c0 {
				gemm(opA, opB, r1-r0, c1-c0, k, alpha, a[opOffset(tr, r0, lda):], lda,
					a[opOffset(tr, c0, lda):], lda, beta, c[r0*ldc+c0:], ldc)
			}
		}
	})
}

func dsyrk(ul blas.Uplo, t blas.Transpose, n, k int, alpha float64, a []float64, lda int, beta float64, c []float64, ldc int) {
	C.cblas_dsyrk(C.CblasRowMajor, cUplo(ul), cTrans(t), C.blasint(n), C.blasint(k),
		C.double(alpha), (*C.double)(&a[0]), C.blasint(lda), C.double(beta), (*C.double)(&c[0]), C.blasint(ldc))
}

func ssyrk(ul blas.Uplo, t blas.Transpose, n, k int, alpha float32, a []float32, lda int, beta float32, c []float32, ldc int) {
	C.cblas_ssyrk(C.CblasRowMajor, cUplo(ul), cTrans(t), C.blasint(n), C.blasint(k),
		C.float(alpha), (*C.float)(&a[0]), C.blasint(lda), C.float(beta), (*C.float)(&c[0]), C.blasint(ldc))
}

// The triangular routines run on the calling goroutine, as one OpenBLAS thread:
// callers share the independent rows (or columns) of B among the cores.
func (o openblas) Dtrsm(s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n int, alpha float64, a []float64, lda int, b []float64, ldb int) {
	if !triangularFits(s, m, n, len(a), lda, len(b), ldb) {
		o.Implementation.Dtrsm(s, ul, tA, d, m, n, alpha, a, lda, b, ldb)
		return
	}
	C.cblas_dtrsm(C.CblasRowMajor, cSide(s), cUplo(ul), cTrans(tA), cDiag(d), C.blasint(m), C.blasint(n),
		C.double(alpha), (*C.double)(&a[0]), C.blasint(lda), (*C.double)(&b[0]), C.blasint(ldb))
}

func (o openblas) Dtrmm(s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n int, alpha float64, a []float64, lda int, b []float64, ldb int) {
	if !triangularFits(s, m, n, len(a), lda, len(b), ldb) {
		o.Implementation.Dtrmm(s, ul, tA, d, m, n, alpha, a, lda, b, ldb)
		return
	}
	C.cblas_dtrmm(C.CblasRowMajor, cSide(s), cUplo(ul), cTrans(tA), cDiag(d), C.blasint(m), C.blasint(n),
		C.double(alpha), (*C.double)(&a[0]), C.blasint(lda), (*C.double)(&b[0]), C.blasint(ldb))
}

func (o openblas) Strsm(s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n int, alpha float32, a []float32, lda int, b []float32, ldb int) {
	if !triangularFits(s, m, n, len(a), lda, len(b), ldb) {
		o.Implementation.Strsm(s, ul, tA, d, m, n, alpha, a, lda, b, ldb)
		return
	}
	C.cblas_strsm(C.CblasRowMajor, cSide(s), cUplo(ul), cTrans(tA), cDiag(d), C.blasint(m), C.blasint(n),
		C.float(alpha), (*C.float)(&a[0]), C.blasint(lda), (*C.float)(&b[0]), C.blasint(ldb))
}

func (o openblas) Strmm(s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n int, alpha float32, a []float32, lda int, b []float32, ldb int) {
	if !triangularFits(s, m, n, len(a), lda, len(b), ldb) {
		o.Implementation.Strmm(s, ul, tA, d, m, n, alpha, a, lda, b, ldb)
		return
	}
	C.cblas_strmm(C.CblasRowMajor, cSide(s), cUplo(ul), cTrans(tA), cDiag(d), C.blasint(m), C.blasint(n),
		C.float(alpha), (*C.float)(&a[0]), C.blasint(lda), (*C.float)(&b[0]), C.blasint(ldb))
}

// triangularFits mirrors gonum's bounds checks of Dtrsm and Dtrmm (A is
// k×k, k = m on the left and n on the right; B is m×n), as gemmFits does.
func triangularFits(s blas.Side, m, n, la, lda, lb, ldb int) bool {
	k := m
	if s == blas.Right {
		k = n
	}
	return m > 0 && n > 0 && lda >= max(1, k) && ldb >= max(1, n) && la >= (k-1)*lda+k && lb >= (m-1)*ldb+n
}

func cSide(s blas.Side) C.enum_CBLAS_SIDE {
	if s == blas.Right {
		return C.CblasRight
	}
	return C.CblasLeft
}

func cDiag(d blas.Diag) C.enum_CBLAS_DIAG {
	if d == blas.Unit {
		return C.CblasUnit
	}
	return C.CblasNonUnit
}
