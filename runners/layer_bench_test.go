package runners

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prunebench/prunebench/linalg"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// BenchmarkLayer7B prunes LLaMA-7B-shaped linears (q/k/v/o and gate/up are
// 4096×4096 and 11008×4096 out×in; down is 4096×11008) from the Gram of
// 2048 random calibration tokens, with every method on the same statistics
// and weights, so that the seconds per layer compare within one run. The
// Gram is built outside the timer, and what a method cached on the
// statistics (a factorisation q/k/v would share) is dropped before each
// run, so every figure includes one factorisation. The down_proj case
// needs about 4 GB. PRUNEBENCH_BENCH_METHODS narrows the methods
// (comma-separated; options as +key=value, e.g. admm-grad+relax=1.9; see
// benchMethod).
//
// Per shape, a same-shape sgemm (out×in by in×in, the product of an ADMM
// iteration) is timed in the same run, 3 times first and once before and
// after every method: ADMM's gemm-vs-sgemm metric is its iterations'
// product throughput over the median of those, and x-sparsegpt is a
// method's seconds over SparseGPT's. PRUNEBENCH_BENCH_SHAPES narrows the
// shapes (comma-separated OUTxIN, e.g. 4096x4096).
func BenchmarkLayer7B(b *testing.B) {
	methods := []string{"sparsegpt", "admm-grad", "admm1", "wanda"}
	if env := os.Getenv("PRUNEBENCH_BENCH_METHODS"); env != "" {
		methods = splitList(env)
	}
	shapes := [][2]int{{4096, 4096}, {4096, 11008}}
	if env := os.Getenv("PRUNEBENCH_BENCH_SHAPES"); env != "" {
		shapes = nil
		for _, f := range splitList(env) {
			var out, in int
			if _, err := fmt.Sscanf(f, "%dx%d", &out, &in); err != nil {
				b.Fatalf("PRUNEBENCH_BENCH_SHAPES: %q is not OUTxIN", f)
			}
			shapes = append(shapes, [2]int{out, in})
		}
	}
	for _, sh := range shapes {
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
		x = nil
		dense := make([]float32, out*in)
		for i := range dense {
			dense[i] = float32(rng.NormFloat64())
		}
		w := &model.Linear{Out: out, In: in, W: make([]float32, out*in)}
		var sparsegptSecs float64
		var sgemmTimes []float64
		g := newSgemmCase(out, in)
		b.Run(fmt.Sprintf("%dx%d/sgemm", out, in), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				sgemmTimes = append(sgemmTimes, g.time(), g.time(), g.time())
			}
			med := median(sgemmTimes)
			b.ReportMetric(med, "s/gemm")
			b.ReportMetric(g.flops/med/1e9, "GFLOP/s")
		})
		for _, name := range methods {
			m, err := benchMethod(name)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%dx%d/%s", out, in, name), func(b *testing.B) {
				var gemmSecs, gemmFlops float64
				phases := map[string]float64{}
				// The machine is shared: the sgemm reference is also
				// timed just before and after each method, and the
				// median of all its timings in this shape is the one a
				// method is compared with.
				b.StopTimer()
				sgemmTimes = append(sgemmTimes, g.time())
				b.StartTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					copy(w.W, dense)
					st.ReleaseCache()
					b.StartTimer()
					_, rep, err := m.Prune(context.Background(), w, st, prune.Pattern{Ratio: 0.6})
					if err != nil {
						b.Fatal(err)
					}
					for _, p := range rep.Phases {
						phases[p.Name] += p.Seconds
						if p.Name == "gemm" {
							gemmSecs += p.Seconds
							gemmFlops += p.Flops
						}
					}
				}
				b.StopTimer()
				sgemmTimes = append(sgemmTimes, g.time())
				secs := b.Elapsed().Seconds() / float64(b.N)
				sgemmFlops := g.flops / median(sgemmTimes)
				b.ReportMetric(secs, "s/layer")
				for name, s := range phases {
					b.ReportMetric(s/float64(b.N), name+"-s/layer")
				}
				if gemmSecs > 0 && sgemmFlops > 0 {
					b.ReportMetric(gemmFlops/gemmSecs/1e9, "gemm-GFLOP/s")
					b.ReportMetric(gemmFlops/gemmSecs/sgemmFlops, "gemm-vs-sgemm")
				}
				if name == "sparsegpt" && sparsegptSecs == 0 {
					sparsegptSecs = secs
				} else if sparsegptSecs > 0 {
					b.ReportMetric(secs/sparsegptSecs, "x-sparsegpt")
				}
			})
		}
		st.ReleaseCache()
	}
}

// sgemmCase is the reference product C (out×in) = A (out×in) · B (in×in)
// through linalg.Sgemm: the shape of an ADMM iteration's product.
type sgemmCase struct {
	out, in int
	a, b, c []float32
	flops   float64
}

func newSgemmCase(out, in int) *sgemmCase {
	rng := rand.New(rand.NewPCG(7, 7))
	g := &sgemmCase{out: out, in: in, a: make([]float32, out*in), b: make([]float32, in*in), c: make([]float32, out*in),
		flops: 2 * float64(out) * float64(in) * float64(in)}
	for i := range g.a {
		g.a[i] = float32(rng.NormFloat64())
	}
	for i := range g.b {
		g.b[i] = float32(rng.NormFloat64())
	}
	return g
}

// time returns the seconds of one product.
func (g *sgemmCase) time() float64 {
	t0 := time.Now()
	linalg.Sgemm(false, false, g.out, g.in, g.in, 1, g.a, g.in, g.b, g.in, 0, g.c, g.in)
	return time.Since(t0).Seconds()
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// benchMethod builds a method of PRUNEBENCH_BENCH_METHODS: a name, then
// options of the method table as +key=value, e.g.
// admm-grad+iters=12+steps=9+relax=1.9.
func benchMethod(s string) (prune.Method, error) {
	parts := strings.Split(s, "+")
	spec := MethodSpec{Name: parts[0], Options: map[string]any{}}
	for _, kv := range parts[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want +key=value", kv)
		}
		o, err := LookupOption(spec.Name, k)
		if err != nil {
			return nil, err
		}
		x, err := o.Parse(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kv, err)
		}
		spec.Options[k] = x
	}
	m, _, err := NewMethod(spec)
	return m, err
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
