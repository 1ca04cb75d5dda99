package admm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/prunebench/prunebench/linalg"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// BenchmarkADMMGrad prunes LLaMA-7B-shaped layers (q_proj and down_proj
// are 4096×4096 and 4096×11008, out×in) to 60% with ADMM-Grad's defaults,
// from a Gram of 2048 random calibration tokens: seconds per layer. It
// needs about 4 GB for the larger layer; run it with -benchtime=1x.
func BenchmarkADMMGrad(b *testing.B) {
	for _, shape := range [][2]int{{4096, 4096}, {4096, 11008}} {
		out, in := shape[0], shape[1]
		b.Run(fmt.Sprintf("%dx%d", out, in), func(b *testing.B) {
			const tokens = 2048
			r := rand.New(rand.NewPCG(uint64(in), 1))
			x := make([]float32, tokens*in)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			st := prune.NewStats(in)
			if err := st.Add(x, tokens, 1); err != nil {
				b.Fatal(err)
			}
			x = nil
			dense := model.NewLinear(out, in)
			for i := range dense.W {
				dense.W[i] = float32(r.NormFloat64())
			}
			m, err := NewADMMGrad(ADMMGradDefaults())
			if err != nil {
				b.Fatal(err)
			}
			w := model.NewLinear(out, in)
			for b.Loop() {
				copy(w.W, dense.W)
				if _, _, err := m.Prune(&w, st, prune.Pattern{Ratio: 0.6}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

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
