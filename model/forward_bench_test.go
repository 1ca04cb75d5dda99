package model

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prunebench/prunebench/linalg"
)

// benchShape reads the synthetic model and batch of the forward benchmarks
// from PRUNEBENCH_BENCH_* (defaults: a 1024-wide, 8-layer LLaMA with a
// 32000-token vocabulary on 4 sequences of 512 tokens).
func benchShape(b *testing.B) (cfg Config, nseq, T int) {
	b.Helper()
	get := func(name string, def int) int {
		s := os.Getenv("PRUNEBENCH_BENCH_" + name)
		if s == "" {
			return def
		}
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("PRUNEBENCH_BENCH_%s=%q: want a positive integer", name, s)
		}
		return v
	}
	cfg = Config{
		Dim: get("DIM", 1024), Layers: get("LAYERS", 8), Heads: get("HEADS", 16), HiddenDim: get("HIDDEN", 2816),
		Vocab: get("VOCAB", 32000), NormEps: 1e-5, RopeBase: 10000,
	}
	cfg.KVHeads = get("KV_HEADS", cfg.Heads)
	nseq, T = get("SEQS", 4), get("SEQLEN", 512)
	cfg.SeqLen = T
	if cfg.Dim%cfg.Heads != 0 {
		b.Fatalf("dim %d is not a multiple of heads %d", cfg.Dim, cfg.Heads)
	}
	cfg.HeadDim = cfg.Dim / cfg.Heads
	if err := cfg.Validate(); err != nil {
		b.Fatalf("benchmark shape: %v", err)
	}
	return cfg, nseq, T
}

// benchModels keeps the synthetic model between benchmarks of one run:
// building the default one takes seconds.
var benchModels = map[Config]*Model{}

func benchModel(b *testing.B) (*Model, []int, int, int) {
	cfg, nseq, T := benchShape(b)
	m := benchModels[cfg]
	if m == nil {
		m = randomModel(cfg, 1)
		benchModels[cfg] = m
	}
	return m, randomTokens(nseq*T, cfg.Vocab, 2), nseq, T
}

// gemm is one matrix product of a forward pass, with the operand layout
// forward.go uses.
type gemm struct {
	tA, tB        bool
	m, n, k       int
	lda, ldb, ldc int
}

func (g gemm) flops() float64 { return 2 * float64(g.m) * float64(g.n) * float64(g.k) }

// forwardGemms lists the products one Forward makes, in order: per block the
// seven linears and, per sequence, head and block of attnBlock query rows,
// the scores against the keys up to the block's end and their product with V
// (the masked corner inside a block is computed, then zeroed), then the
// classifier.
func forwardGemms(cfg *Config, nseq, T int) []gemm {
	n, d, qd, kvd, hd, h := nseq*T, cfg.Dim, cfg.QDim(), cfg.KVDim(), cfg.HeadDim, cfg.HiddenDim
	linear := func(out, in int) gemm { return gemm{false, true, n, out, in, in, in, out} }
	var gs []gemm
	for range cfg.Layers {
		gs = append(gs, linear(qd, d), linear(kvd, d), linear(kvd, d))
		for range nseq * cfg.Heads {
			for r0 := 0; r0 < T; r0 += attnBlock {
				rows, keys := min(attnBlock, T-r0), r0+min(attnBlock, T-r0)
				gs = append(gs, gemm{false, true, rows, keys, hd, qd, kvd, keys}, gemm{false, false, rows, hd, keys, keys, kvd, qd})
			}
		}
		gs = append(gs, linear(d, qd), linear(h, d), linear(h, d), linear(d, h))
	}
	return append(gs, linear(cfg.Vocab, d))
}

func totalFlops(gs []gemm) float64 {
	var f float64
	for _, g := range gs {
		f += g.flops()
	}
	return f
}

// sgemmRunner replays a gemm list through linalg.Sgemm on buffers big
// enough for every entry.
type sgemmRunner struct {
	gs      []gemm
	a, b, c []float32
}

func newSgemmRunner(gs []gemm) *sgemmRunner {
	var na, nb, nc int
	for _, g := range gs {
		rowsA, rowsB := g.m, g.k
		if g.tA {
			rowsA = g.k
		}
		if g.tB {
			rowsB = g.n
		}
		na, nb, nc = max(na, rowsA*g.lda), max(nb, rowsB*g.ldb), max(nc, g.m*g.ldc)
	}
	r := &sgemmRunner{gs: gs, a: make([]float32, na), b: make([]float32, nb), c: make([]float32, nc)}
	for i := range r.a {
		r.a[i] = float32(i%13) / 13
	}
	for i := range r.b {
		r.b[i] = float32(i%7) / 7
	}
	return r
}

func (r *sgemmRunner) run() {
	for _, g := range r.gs {
		linalg.Sgemm(g.tA, g.tB, g.m, g.n, g.k, 1, r.a, g.lda, r.b, g.ldb, 0, r.c, g.ldc)
	}
}

func benchName(b *testing.B, m *Model, nseq, T int) {
	b.Logf("backend %s, dim %d, %d layers, %d/%d heads, hidden %d, vocab %d, %d×%d tokens",
		linalg.Backend(), m.Config.Dim, m.Config.Layers, m.Config.Heads, m.Config.KVHeads,
		m.Config.HiddenDim, m.Config.Vocab, nseq, T)
}

func BenchmarkForward(b *testing.B) {
	m, tokens, nseq, T := benchModel(b)
	benchName(b, m, nseq, T)
	flops := totalFlops(forwardGemms(&m.Config, nseq, T))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Forward(tokens, nseq, T); err != nil {
			b.Fatal(err)
		}
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(nseq*T)/sec, "tokens/s")
	b.ReportMetric(flops/sec/1e9, "GFLOP/s")
}

func BenchmarkSgemmSameShapes(b *testing.B) {
	cfg, nseq, T := benchShape(b)
	gs := forwardGemms(&cfg, nseq, T)
	r := newSgemmRunner(gs)
	b.ResetTimer()
	for b.Loop() {
		r.run()
	}
	b.ReportMetric(totalFlops(gs)/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
}

// BenchmarkForwardVsSgemm alternates one Forward and its GEMMs alone, so
// both see the same machine load, and reports the ratio of their speeds
// (the Forward's overhead over pure BLAS).
func BenchmarkForwardVsSgemm(b *testing.B) {
	m, tokens, nseq, T := benchModel(b)
	benchName(b, m, nseq, T)
	gs := forwardGemms(&m.Config, nseq, T)
	r := newSgemmRunner(gs)
	var fwd, blas, fwdCPU, blasCPU time.Duration
	b.ResetTimer()
	for b.Loop() {
		start, startCPU := time.Now(), cpuTime()
		if _, err := m.Forward(tokens, nseq, T); err != nil {
			b.Fatal(err)
		}
		mid, midCPU := time.Now(), cpuTime()
		r.run()
		fwd, blas = fwd+mid.Sub(start), blas+time.Since(mid)
		fwdCPU, blasCPU = fwdCPU+midCPU-startCPU, blasCPU+cpuTime()-midCPU
	}
	flops := totalFlops(gs) * float64(b.N)
	b.ReportMetric(flops/fwd.Seconds()/1e9, "fwd-GFLOP/s")
	b.ReportMetric(flops/blas.Seconds()/1e9, "sgemm-GFLOP/s")
	b.ReportMetric(blas.Seconds()/fwd.Seconds(), "fwd/sgemm")
	// The same ratio in CPU time, which other jobs on a shared machine do
	// not inflate; it does not see a core left idle by the forward either,
	// so read it next to the wall-clock ratio.
	if fwdCPU > 0 && blasCPU > 0 {
		b.ReportMetric(blasCPU.Seconds()/fwdCPU.Seconds(), "cpu-fwd/sgemm")
	}
}

// TestForwardGemmsFlops pins the flop count the benchmarks report to the
// formula 2·N·params(linears) + 4·nseq·heads·hd·Σ rows·keys + 2·N·d·V per
// forward, where T = 300 makes row blocks of 128×128, 128×256 and 44×300.
func TestForwardGemmsFlops(t *testing.T) {
	cfg := synthConfig()
	const nseq, T = 3, 2*attnBlock + 44
	n := float64(nseq * T)
	d, qd, kvd, h := float64(cfg.Dim), float64(cfg.QDim()), float64(cfg.KVDim()), float64(cfg.HiddenDim)
	scores := float64(128*128 + 128*256 + 44*300)
	perLayer := 2*n*(2*d*qd+2*d*kvd+3*d*h) + 4*nseq*float64(cfg.Heads)*float64(cfg.HeadDim)*scores
	want := float64(cfg.Layers)*perLayer + 2*n*d*float64(cfg.Vocab)
	gs := forwardGemms(&cfg, nseq, T)
	if got := totalFlops(gs); got != want {
		t.Errorf("flops %g, want %g", got, want)
	}
	if len(gs) != cfg.Layers*(7+2*3*nseq*cfg.Heads)+1 {
		t.Errorf("%d products, want %d", len(gs), cfg.Layers*(7+2*3*nseq*cfg.Heads)+1)
	}
	newSgemmRunner(gs).run() // panics if a buffer is too small for one of the shapes
}
