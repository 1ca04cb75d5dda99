// Package vecmath holds float32 elementwise kernels: those of the forward
// pass (exp with a running sum, maximum), the two scans of a parallel
// k-smallest selection (ScanBracket, MaskBelow) and the fused pass of an
// ADMM iteration with its scores (ProjectSplit, AbsTo), in Go and, on
// amd64 with AVX2 and FMA, in assembly. It is a package of its own because Go
// assembly cannot sit in a package that uses cgo, as linalg does with
// OpenBLAS; linalg re-exports it.
package vecmath
