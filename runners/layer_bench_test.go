package runners

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
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
// benchMethod), PRUNEBENCH_BENCH_SHAPES the shapes (comma-separated
// OUTxIN, e.g. 4096x4096).
//
// The machine may be shared, and hypervisor steal moves a single timing
// by ±15%, so each shape is measured in PRUNEBENCH_BENCH_ROUNDS rounds
// (default 3) that each run every method once in turn: a slow spell then
// slows the methods of one round alike instead of every run of one
// method. A method's s/layer and phase seconds are medians over rounds,
// and x-sparsegpt is the median over rounds of its seconds over
// SparseGPT's in the same round, since two runs close in time share most
// of the machine's drift, which a ratio of medians would not cancel;
// x-sparsegpt-min and -max show how far the rounds disagree.
//
// Per shape, a same-shape sgemm (out×in by in×in, the product of an ADMM
// iteration) is timed 3 times first, then before every method run and
// after the last, so that its timings span the same spells as the
// methods': gemm-vs-sgemm is a method's median per-round gemm throughput
// over the sgemm's at the median of those timings. All timing is done
// before the sub-benchmarks, which only report (hence their ns/op is
// suppressed); a line per run on stderr shows that a full run (17
// minutes here with six methods, 7 with two) is progressing.
func BenchmarkLayer7B(b *testing.B) {
	names := []string{"sparsegpt", "admm-grad", "admm1", "wanda"}
	if env := os.Getenv("PRUNEBENCH_BENCH_METHODS"); env != "" {
		names = splitList(env)
	}
	// Built before any shape, so that a misspelt method fails at once
	// rather than after the first shape's runs.
	methods := make([]prune.Method, len(names))
	for i, name := range names {
		m, err := benchMethod(name)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		methods[i] = m
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
	rounds := 3
	if env := os.Getenv("PRUNEBENCH_BENCH_ROUNDS"); env != "" {
		n, err := strconv.Atoi(env)
		if err != nil || n <= 0 {
			b.Fatalf("PRUNEBENCH_BENCH_ROUNDS: %q is not a positive integer", env)
		}
		rounds = n
	}
	sparsegpt := slices.Index(names, "sparsegpt")
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
		g := newSgemmCase(out, in)
		sgemmTimes := []float64{g.time(), g.time(), g.time()}
		runs := make([][]layerRun, len(methods)) // [method][round]
		for r := range rounds {
			for i, m := range methods {
				sgemmTimes = append(sgemmTimes, g.time())
				copy(w.W, dense)
				st.ReleaseCache()
				t0 := time.Now()
				_, rep, err := m.Prune(context.Background(), w, st, prune.Pattern{Ratio: 0.6})
				secs := time.Since(t0).Seconds()
				if err != nil {
					b.Fatalf("%dx%d %s: %v", out, in, names[i], err)
				}
				run := layerRun{secs: secs, phases: map[string]float64{}}
				var gemmSecs, gemmFlops float64
				for _, p := range rep.Phases {
					run.phases[p.Name] += p.Seconds
					if p.Name == "gemm" {
						gemmSecs += p.Seconds
						gemmFlops += p.Flops
					}
				}
				if gemmSecs > 0 {
					run.gemmRate = gemmFlops / gemmSecs
				}
				runs[i] = append(runs[i], run)
				fmt.Fprintf(os.Stderr, "layer7b %dx%d round %d/%d %s: %.3g s\n", out, in, r+1, rounds, names[i], secs)
			}
		}
		sgemmTimes = append(sgemmTimes, g.time())
		st.ReleaseCache()

		sgemmSecs := median(sgemmTimes)
		b.Run(fmt.Sprintf("%dx%d/sgemm", out, in), func(b *testing.B) {
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(sgemmSecs, "s/gemm")
			b.ReportMetric(g.flops/sgemmSecs/1e9, "GFLOP/s")
		})
		for i, name := range names {
			b.Run(fmt.Sprintf("%dx%d/%s", out, in, name), func(b *testing.B) {
				b.ReportMetric(0, "ns/op")
				var secs, rates []float64
				phases := map[string][]float64{}
				for r, run := range runs[i] {
					secs = append(secs, run.secs)
					if run.gemmRate > 0 {
						rates = append(rates, run.gemmRate)
					}
					for p, s := range run.phases {
						if phases[p] == nil {
							// A phase a round did not report took no time then.
							phases[p] = make([]float64, len(runs[i]))
						}
						phases[p][r] = s
					}
				}
				b.ReportMetric(median(secs), "s/layer")
				for p, s := range phases {
					b.ReportMetric(median(s), p+"-s/layer")
				}
				if len(rates) > 0 {
					rate := median(rates)
					b.ReportMetric(rate/1e9, "gemm-GFLOP/s")
					b.ReportMetric(rate/(g.flops/sgemmSecs), "gemm-vs-sgemm")
				}
				if sparsegpt >= 0 && i != sparsegpt {
					ratios := make([]float64, len(runs[i]))
					for r, run := range runs[i] {
						ratios[r] = run.secs / runs[sparsegpt][r].secs
					}
					b.ReportMetric(median(ratios), "x-sparsegpt")
					b.ReportMetric(slices.Min(ratios), "x-sparsegpt-min")
					b.ReportMetric(slices.Max(ratios), "x-sparsegpt-max")
				}
			})
		}
	}
}

// layerRun is one method run of BenchmarkLayer7B: its seconds, its
// phases' seconds by name, and its gemm phase's flop/s (0 without one).
type layerRun struct {
	secs     float64
	phases   map[string]float64
	gemmRate float64
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
