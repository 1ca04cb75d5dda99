package runners

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// BenchmarkLayer7B prunes LLaMA-7B-shaped linears (q/k/v/o and gate/up are
// 4096×4096 and 11008×4096 out×in; down is 4096×11008) from the Gram of
// 2048 random calibration tokens, with every method on the same statistics
// and weights, so that the seconds per layer compare within one run. The
// Gram is built outside the timer. The down_proj case needs about 4 GB.
// PRUNEBENCH_BENCH_METHODS narrows the methods (comma-separated).
func BenchmarkLayer7B(b *testing.B) {
	methods := []string{"sparsegpt", "admm-grad", "admm1", "wanda"}
	if env := os.Getenv("PRUNEBENCH_BENCH_METHODS"); env != "" {
		methods = splitList(env)
	}
	for _, sh := range [][2]int{{4096, 4096}, {4096, 11008}} {
		out, in := sh[0], sh[1]
		const tokens = 2048
		rng := rand.New(rand.NewPCG(uint64(in), 1))
		x := make([]float32, tokens*in)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		st := prune.NewStats(in)
		if err := st.Add(x, tokens, 1); err != nil {
			b.Fatal(err)
		}
		dense := make([]float32, out*in)
		for i := range dense {
			dense[i] = float32(rng.NormFloat64())
		}
		w := &model.Linear{Out: out, In: in, W: make([]float32, out*in)}
		for _, name := range methods {
			m, _, err := NewMethod(MethodSpec{Name: name})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%dx%d/%s", out, in, name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					copy(w.W, dense)
					b.StartTimer()
					if _, _, err := m.Prune(context.Background(), w, st, prune.Pattern{Ratio: 0.6}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/layer")
			})
		}
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
