package admm

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/prunebench/prunebench/linalg"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// BenchmarkProduct times one iteration's n×n by n×m product at q_proj size
// in both precisions: the iterations run the float32 one.
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

// benchLayer is a random out×in layer and the statistics of tokens random
// inputs.
func benchLayer(b *testing.B, out, in, tokens int) (model.Linear, *prune.Stats) {
	r := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, tokens*in)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	st := prune.NewStats(in)
	if err := st.Add(x, tokens, 1); err != nil {
		b.Fatal(err)
	}
	w := model.NewLinear(out, in)
	for i := range w.W {
		w.W[i] = float32(r.NormFloat64())
	}
	return w, st
}

// BenchmarkIteration runs b.N ADMM iterations in one solve on a 1024×1024
// layer, so that ns/op, B/op and allocs/op are per iteration: with a fixed
// mask (ADMM1) and re-selecting the mask at every iteration (ADMM-Grad's
// gradual steps, layer-global and 2:4). The workspaces are allocated once
// per solve; what remains per iteration is the parallel loops' goroutines
// and the selection's sample and candidates.
func BenchmarkIteration(b *testing.B) {
	const out, in, tokens = 1024, 1024, 1024
	w, st := benchLayer(b, out, in, tokens)
	for _, c := range []struct {
		name string
		grad bool
		p    prune.Pattern
	}{{"fixed-mask", false, prune.Pattern{Ratio: 0.6}}, {"select-0.6", true, prune.Pattern{Ratio: 0.6}}, {"select-2:4", true, prune.Pattern{N: 2, M: 4}}} {
		b.Run(c.name, func(b *testing.B) {
			o := ADMM1Defaults()
			sys, err := newSystem(context.Background(), &w, st, o)
			if err != nil {
				b.Fatal(err)
			}
			mask, err := prune.Select(absB0(&w, sys.d), out, in, c.p, false)
			if err != nil {
				b.Fatal(err)
			}
			var step stepFunc
			if c.grad {
				sel := &selector{out: out, in: in, p: c.p, steps: 1 << 30}
				step = sel.step
			}
			v := model.Linear{Out: out, In: in, W: make([]float32, out*in)}
			b.ReportAllocs()
			b.ResetTimer()
			o.Iters, o.Steps = b.N, 0
			if c.grad {
				o.Steps = b.N
			}
			copy(v.W, w.W)
			if _, err := sys.solve(context.Background(), &v, mask, o, step); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkPrune2048 prunes a 2048×2048 layer with ADMM-Grad's defaults
// (profiling aid: go test -bench Prune2048 -cpuprofile).
func BenchmarkPrune2048(b *testing.B) {
	const out, in, tokens = 2048, 2048, 2048
	w, st := benchLayer(b, out, in, tokens)
	m, err := NewADMMGrad(ADMMGradDefaults())
	if err != nil {
		b.Fatal(err)
	}
	v := model.NewLinear(out, in)
	for b.Loop() {
		copy(v.W, w.W)
		st.ReleaseCache()
		if _, _, err := m.Prune(context.Background(), &v, st, prune.Pattern{Ratio: 0.6}); err != nil {
			b.Fatal(err)
		}
	}
}
