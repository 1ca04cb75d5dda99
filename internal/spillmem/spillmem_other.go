//go:build !unix

package spillmem

// Floats is ordinary memory where shared file mappings are not available.
func Floats(n int) ([]float32, func() error, error) {
	return make([]float32, n), func() error { return nil }, nil
}

// Drop does nothing for ordinary memory.
func Drop(v []float32) {}
