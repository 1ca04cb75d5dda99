package linalg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestSgemmSerial compares SgemmSerial with the float64 naiveGemm on every
// transpose combination, with leading dimensions wider than the operands,
// on shapes below, at and across the 128×64 tiles of the gonum path.
// Float32 sums of k products differ from the float64 ones by at most about
// k·2⁻²⁴ of Σ|a||b| (here ≤ 3e-5 relative to it); 1e-5 of that sum plus the
// beta term covers it with the usual √k behaviour of rounding errors.
func TestSgemmSerial(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, sh := range [][3]int{{1, 1, 1}, {3, 5, 2}, {128, 64, 8}, {129, 65, 64}, {300, 200, 33}, {7, 513, 8}} {
		m, n, k := sh[0], sh[1], sh[2]
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				t.Run(fmt.Sprintf("%dx%dx%d_tA=%v_tB=%v", m, n, k, tA, tB), func(t *testing.T) {
					ra, ca := m, k
					if tA {
						ra, ca = k, m
					}
					rb, cb := k, n
					if tB {
						rb, cb = n, k
					}
					lda, ldb, ldc := ca+3, cb+1, n+2
					a, b, c := make([]float64, ra*lda), make([]float64, rb*ldb), make([]float64, m*ldc)
					for _, x := range [][]float64{a, b, c} {
						for i := range x {
							x[i] = rng.NormFloat64()
						}
					}
					want := append([]float64(nil), c...)
					naiveGemm(tA, tB, m, n, k, 0.5, a, lda, b, ldb, -1.5, want, ldc)
					got := to32(c)
					SgemmSerial(tA, tB, m, n, k, 0.5, to32(a), lda, to32(b), ldb, -1.5, got, ldc)
					abs := make([]float64, len(c))
					absA, absB := make([]float64, len(a)), make([]float64, len(b))
					for i := range a {
						absA[i] = math.Abs(a[i])
					}
					for i := range b {
						absB[i] = math.Abs(b[i])
					}
					naiveGemm(tA, tB, m, n, k, 0.5, absA, lda, absB, ldb, 0, abs, ldc)
					for i := range m {
						for j := range n {
							e := i*ldc + j
							if d := math.Abs(float64(got[e]) - want[e]); d > 1e-5*(abs[e]+1.5*math.Abs(c[e]))+1e-6 {
								t.Fatalf("C[%d,%d] = %g, want %g", i, j, got[e], want[e])
							}
						}
						for j := n; j < ldc; j++ {
							if e := i*ldc + j; got[e] != float32(c[e]) {
								t.Fatalf("C[%d,%d] outside the product was written", i, j)
							}
						}
					}
				})
			}
		}
	}
}
