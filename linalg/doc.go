// Package linalg holds the dense kernels prunebench's hot paths share and
// chooses the BLAS backend behind gonum's blas32/blas64 interfaces: gonum's
// pure Go implementation by default, or OpenBLAS through cgo when built with
// the "openblas" tag (the Makefile selects it when libopenblas-dev is
// installed). Because gonum's LAPACK calls blas64, the backend also speeds up
// Cholesky factorisations and inverses.
package linalg
