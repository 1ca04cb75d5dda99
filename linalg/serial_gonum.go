//go:build !openblas

package linalg

// sgemmSerialBLAS: without OpenBLAS, SgemmSerial tiles gonum's Sgemm.
func sgemmSerialBLAS(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int) bool {
	return false
}
