package linalg

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// naiveGemm is C = alpha·op(A)·op(B) + beta·C in float64, row-major.
func naiveGemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	at := func(i, p int) float64 {
		if tA {
			return a[p*lda+i]
		}
		return a[i*lda+p]
	}
	bt := func(p, j int) float64 {
		if tB {
			return b[j*ldb+p]
		}
		return b[p*ldb+j]
	}
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				s += at(i, p) * bt(p, j)
			}
			c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
		}
	}
}

// TestGemm covers every transpose combination, padded leading dimensions and
// sizes on both sides of the backends' blocking (gonum goes parallel from
// 256×256 outputs).
//
// DgemmContext runs in slabs of 64 rows or columns here and must equal
// Dgemm up to rounding.
func TestGemm(t *testing.T) {
	defer func(a, b int) { slabFlopsBLAS, slabFlopsGo = a, b }(slabFlopsBLAS, slabFlopsGo)
	slabFlopsBLAS, slabFlopsGo = 1, 1
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][3]int{{1, 1, 1}, {3, 5, 7}, {17, 1, 33}, {70, 300, 65}, {260, 270, 40}} {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			m, n, k := sz[0], sz[1], sz[2]
			tA, tB := tr[0], tr[1]
			t.Run(fmt.Sprintf("%dx%dx%d_tA=%v_tB=%v", m, n, k, tA, tB), func(t *testing.T) {
				rowsA, colsA := m, k
				if tA {
					rowsA, colsA = k, m
				}
				rowsB, colsB := k, n
				if tB {
					rowsB, colsB = n, k
				}
				lda, ldb, ldc := colsA+2, colsB+1, n+3
				a64, b64, c64 := make([]float64, rowsA*lda), make([]float64, rowsB*ldb), make([]float64, m*ldc)
				for _, s := range [][]float64{a64, b64, c64} {
					for i := range s {
						s[i] = rng.NormFloat64()
					}
				}
				a32, b32, c32 := to32(a64), to32(b64), to32(c64)
				d64 := append([]float64(nil), c64...)
				naiveGemm(tA, tB, m, n, k, 0.5, a64, lda, b64, ldb, -2, c64, ldc)
				Sgemm(tA, tB, m, n, k, 0.5, a32, lda, b32, ldb, -2, c32, ldc)
				e64 := slices.Clone(d64)
				Dgemm(tA, tB, m, n, k, 0.5, a64, lda, b64, ldb, -2, d64, ldc)
				if err := DgemmContext(context.Background(), tA, tB, m, n, k, 0.5, a64, lda, b64, ldb, -2, e64, ldc); err != nil {
					t.Fatal(err)
				}
				// A slab may be summed in another order than the whole
				// product (gonum runs small products serially, OpenBLAS
				// picks kernels by shape): equal up to rounding.
				for i := range d64 {
					if d := math.Abs(d64[i] - e64[i]); !(d <= 1e-12*float64(k)) {
						t.Fatalf("DgemmContext [%d] = %g, Dgemm %g", i, e64[i], d64[i])
					}
				}
				tol := 1e-5 * math.Sqrt(float64(k))
				for i := range m {
					for j := range n {
						want := c64[i*ldc+j]
						if d := math.Abs(float64(c32[i*ldc+j]) - want); !(d <= tol) {
							t.Fatalf("Sgemm [%d,%d] = %g, want %g", i, j, c32[i*ldc+j], want)
						}
						if d := math.Abs(d64[i*ldc+j] - want); !(d <= 1e-12*float64(k)) {
							t.Fatalf("Dgemm [%d,%d] = %g, want %g", i, j, d64[i*ldc+j], want)
						}
					}
				}
			})
		}
	}
}

func to32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, e := range x {
		y[i] = float32(e)
	}
	return y
}

func TestMatMulT(t *testing.T) {
	// y = x·Wᵀ with x = [[1,2],[3,4],[5,6]] and W = [[1,0],[0,1],[1,1],[2,-1]].
	x := []float32{1, 2, 3, 4, 5, 6}
	w := []float32{1, 0, 0, 1, 1, 1, 2, -1}
	y := make([]float32, 12)
	MatMulT(y, x, 3, 2, w, 4)
	want := []float32{1, 2, 3, 0, 3, 4, 7, 2, 5, 6, 11, 4}
	if fmt.Sprint(y) != fmt.Sprint(want) {
		t.Errorf("y = %v, want %v", y, want)
	}
}

func TestParallelFor(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 7, 1000} {
		hits := make([]atomic.Int32, n)
		ParallelFor(n, func(lo, hi int) {
			if lo >= hi {
				t.Errorf("n=%d: empty chunk [%d,%d)", n, lo, hi)
			}
			for i := lo; i < hi; i++ {
				hits[i].Add(1)
			}
		})
		for i := range hits {
			if h := hits[i].Load(); h != 1 {
				t.Errorf("n=%d: index %d visited %d times", n, i, h)
			}
		}
	}
}

// TestSyrk checks the backend's Dsyrk and Ssyrk (which the OpenBLAS
// backend splits into per-core triangles and rectangles above 2¹⁸
// multiply-adds) against the naive float64 product, and that the other
// triangle is left alone.
func TestSyrk(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sz := range [][2]int{{5, 3}, {101, 61}, {300, 17}} {
		for _, ul := range []blas.Uplo{blas.Lower, blas.Upper} {
			for _, tr := range []bool{false, true} {
				n, k := sz[0], sz[1]
				t.Run(fmt.Sprintf("n=%d_k=%d_%c_trans=%v", n, k, ul, tr), func(t *testing.T) {
					rows, cols := n, k
					if tr {
						rows, cols = k, n
					}
					lda, ldc := cols+1, n+2
					a, c := make([]float64, rows*lda), make([]float64, n*ldc)
					for _, s := range [][]float64{a, c} {
						for i := range s {
							s[i] = rng.NormFloat64()
						}
					}
					want := append([]float64(nil), c...)
					naiveGemm(tr, !tr, n, n, k, 0.7, a, lda, a, lda, 0.3, want, ldc)
					c64 := slices.Clone(c)
					blas64.Implementation().Dsyrk(ul, trans(tr), n, k, 0.7, a, lda, 0.3, c64, ldc)
					checkSyrk(t, "Dsyrk", ul, n, ldc, c64, c, want, 1e-12*float64(k))
					a32, c32 := narrow(a), narrow(c)
					blas32.Implementation().Ssyrk(ul, trans(tr), n, k, 0.7, a32, lda, 0.3, c32, ldc)
					checkSyrk(t, "Ssyrk", ul, n, ldc, c32, narrow(c), want, 1e-5*float64(k))
				})
			}
		}
	}
}

// checkSyrk compares got's triangle ul with want and the other with orig.
func checkSyrk[F Float](t *testing.T, name string, ul blas.Uplo, n, ldc int, got, orig []F, want []float64, tol float64) {
	t.Helper()
	for i := range n {
		for j := range n {
			in := (ul == blas.Lower && j <= i) || (ul == blas.Upper && j >= i)
			w := float64(orig[i*ldc+j])
			if in {
				w = want[i*ldc+j]
			}
			if d := math.Abs(float64(got[i*ldc+j]) - w); !(d <= tol) {
				t.Fatalf("%s: [%d,%d] (in triangle: %v) = %g, want %g", name, i, j, in, got[i*ldc+j], w)
			}
		}
	}
}

func narrow(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}
