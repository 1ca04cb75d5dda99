// Package linalg holds the dense kernels prunebench's hot paths share and
// chooses the BLAS backend behind gonum's blas32/blas64 interfaces: gonum's
// pure Go implementation by default, or OpenBLAS through cgo when built with
// the "openblas" tag (the Makefile selects it when libopenblas-dev is
// installed). Because gonum's LAPACK calls blas64, the backend also speeds up
// Cholesky factorisations and inverses. A DYNAMIC_ARCH OpenBLAS that
// detects narrower kernels than the processor supports is switched to the
// processor's (cpucore.go), as OPENBLAS_CORETYPE would.
//
// DgemmContext, SgemmContext and the SPD inverses take a context and check
// it between slabs (of rows or columns of C) or recursion steps, because one
// product of an ADMM iteration or a triangular inverse on an 11008-wide
// layer takes seconds with OpenBLAS and minutes without.
package linalg
