// Package vecmath holds the float32 elementwise kernels of the forward
// pass (exp with a running sum, maximum), in Go and, on amd64 with AVX2 and
// FMA, in assembly. It is a package of its own because Go assembly cannot
// sit in a package that uses cgo, as linalg does with OpenBLAS; linalg
// re-exports it.
package vecmath
