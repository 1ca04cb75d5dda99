package baselines

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prunebench/prunebench/linalg"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// BenchmarkSparseGPT7B prunes LLaMA-7B-shaped layers (q/k/v/o and gate/up
// are 4096→…, down is 11008→4096) at 50% from 2048 random calibration
// tokens, the per-layer cost of a 7B run. Statistics are built outside the
// timer. It reports seconds per layer and, so that the figure means the
// same on any machine, its ratio to one 4096³ sgemm timed in-process.
func BenchmarkSparseGPT7B(b *testing.B) {
	for _, sh := range [][2]int{{4096, 4096}, {4096, 11008}} {
		out, in := sh[0], sh[1]
		b.Run(fmt.Sprintf("%dx%d", out, in), func(b *testing.B) {
			const tokens = 2048
			rng := rand.New(rand.NewPCG(1, 1))
			x := make([]float32, tokens*in)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			st := prune.NewStats(in)
			if err := st.Add(x, tokens, 1); err != nil {
				b.Fatal(err)
			}
			x = nil
			w0 := make([]float32, out*in)
			for i := range w0 {
				w0[i] = float32(rng.NormFloat64())
			}
			sgemm := sgemmSeconds(4096)
			w := &model.Linear{Out: out, In: in, W: make([]float32, out*in)}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				copy(w.W, w0)
				b.StartTimer()
				if _, _, err := (SparseGPT{}).Prune(w, st, prune.Pattern{Ratio: 0.5}); err != nil {
					b.Fatal(err)
				}
			}
			secs := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(secs, "s/layer")
			b.ReportMetric(secs/sgemm, "x-sgemm4096")
		})
	}
}

// sgemmSeconds times one n×n×n sgemm under the current backend.
func sgemmSeconds(n int) float64 {
	a := make([]float32, n*n)
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	c := make([]float32, n*n)
	linalg.Sgemm(false, false, n, n, n, 1, a, n, a, n, 0, c, n) // warm-up
	t0 := time.Now()
	linalg.Sgemm(false, false, n, n, n, 1, a, n, a, n, 0, c, n)
	return time.Since(t0).Seconds()
}
