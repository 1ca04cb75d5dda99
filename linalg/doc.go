// Package linalg holds the dense kernels prunebench's hot paths share and
// chooses the BLAS backend behind gonum's blas32/blas64 interfaces: gonum's
// pure Go implementation by default, or OpenBLAS through cgo when built with
// the "openblas" tag (the Makefile selects it when libopenblas-dev is
// installed). Because gonum's LAPACK calls blas64, the backend also speeds up
// Cholesky factorisations and inverses.
//
// DgemmContext and the SPD inverses take a context and check it between
// slabs of about 2^30 flops, because one product of an ADMM iteration or a
// triangular inverse takes seconds to minutes without OpenBLAS. Slabs are
// row ranges of C, which the kernels compute as the whole product would.
package linalg
