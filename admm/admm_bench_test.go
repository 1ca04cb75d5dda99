package admm

import (
	"math/rand/v2"
	"testing"

	"github.com/prunebench/prunebench/linalg"
)

// BenchmarkProduct times one iteration's n×n by n×m product at q_proj size
// in both precisions: the comparison behind the float64 iteration.
func BenchmarkProduct(b *testing.B) {
	const n, m = 4096, 4096
	r := rand.New(rand.NewPCG(1, 2))
	b.Run("float32", func(b *testing.B) {
		a, c, o := make([]float32, n*n), make([]float32, m*n), make([]float32, m*n)
		for i := range a {
			a[i] = float32(r.NormFloat64())
		}
		for i := range c {
			c[i] = float32(r.NormFloat64())
		}
		for b.Loop() {
			linalg.Sgemm(false, false, m, n, n, 1, c, n, a, n, 0, o, n)
		}
	})
	b.Run("float64", func(b *testing.B) {
		a, c, o := make([]float64, n*n), make([]float64, m*n), make([]float64, m*n)
		for i := range a {
			a[i] = r.NormFloat64()
		}
		for i := range c {
			c[i] = r.NormFloat64()
		}
		for b.Loop() {
			linalg.Dgemm(false, false, m, n, n, 1, c, n, a, n, 0, o, n)
		}
	})
}
