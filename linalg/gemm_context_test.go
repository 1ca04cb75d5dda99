package linalg

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// TestSgemmContext compares SgemmContext in small slabs with one Sgemm
// call (transposes, alpha, beta, slabs of rows and of columns, sizes not
// multiple of a slab) and checks that a cancelled context stops it.
func TestSgemmContext(t *testing.T) {
	defer func(a, b int) { slabFlopsBLAS, slabFlopsGo = a, b }(slabFlopsBLAS, slabFlopsGo)
	slabFlopsBLAS, slabFlopsGo = 1<<12, 1<<12
	r := rand.New(rand.NewPCG(4, 4))
	for _, c := range []struct {
		m, n, k int
		tA, tB  bool
	}{{200, 30, 17, false, false}, {130, 7, 64, true, false}, {65, 33, 5, false, true}, {1, 1, 1, true, true},
		{30, 200, 17, false, true}, {7, 130, 64, true, true}, {33, 150, 9, false, false}} {
		a := make([]float32, c.m*c.k)
		b := make([]float32, c.k*c.n)
		c0 := make([]float32, c.m*c.n)
		for _, v := range [][]float32{a, b, c0} {
			for i := range v {
				v[i] = float32(r.NormFloat64())
			}
		}
		lda, ldb := c.k, c.n
		if c.tA {
			lda = c.m
		}
		if c.tB {
			ldb = c.k
		}
		want := append([]float32(nil), c0...)
		Sgemm(c.tA, c.tB, c.m, c.n, c.k, 0.5, a, lda, b, ldb, 2, want, c.n)
		got := append([]float32(nil), c0...)
		if err := SgemmContext(context.Background(), c.tA, c.tB, c.m, c.n, c.k, 0.5, a, lda, b, ldb, 2, got, c.n); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1e-5*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("%+v: C[%d] = %g, one Sgemm gives %g", c, i, got[i], want[i])
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := make([]float32, 100*100)
	if err := SgemmContext(ctx, false, false, 100, 100, 100, 1, a, 100, a, 100, 0, make([]float32, 100*100), 100); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v", err)
	}
}
