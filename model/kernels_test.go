package model

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Naive twins of the kernels in kernels.go: one row at a time, on one core,
// written the obvious way (the forward pass's earlier code, or float64 where
// the earlier code shared the fast one's BLAS calls). The tests below run
// both on random inputs and state how far apart they may be, and why.

func rmsNormNaive(dst, x, g []float32, rows, d int, eps float64) {
	for r := range rows {
		xr, dr := x[r*d:(r+1)*d], dst[r*d:(r+1)*d]
		var ss float64
		for _, e := range xr {
			ss += float64(e) * float64(e)
		}
		inv := float32(1 / math.Sqrt(ss/float64(d)+eps))
		for i, e := range xr {
			dr[i] = e * inv * g[i]
		}
	}
}

func swiGLUNaive(gate, up []float32) {
	for i, a := range gate {
		gate[i] = float32(float64(a) / (1 + math.Exp(-float64(a))) * float64(up[i]))
	}
}

func applyRoPENaive(x []float32, rows, T, pos0, heads, hd int, tab []float32) {
	for r := range rows {
		p := pos0 + r%T
		for h := range heads {
			for i := 0; i < hd; i += 2 {
				c, s := tab[p*hd+i], tab[p*hd+i+1]
				x0, x1 := x[r*heads*hd+h*hd+i], x[r*heads*hd+h*hd+i+1]
				x[r*heads*hd+h*hd+i] = x0*c - x1*s
				x[r*heads*hd+h*hd+i+1] = x0*s + x1*c
			}
		}
	}
}

// attentionNaive is causal attention in float64, query by query:
// att[t] = Σ_j softmax_j(q_t·k_j/sqrt(hd)) v_j over keys j ≤ pos0+t, and
// with a sliding window W only those with pos0+t − j < W.
func attentionNaive(cfg *Config, q, att, k, v []float32, nseq, T, pos0 int) {
	qd, kvd, hd := cfg.QDim(), cfg.KVDim(), cfg.HeadDim
	group := cfg.Heads / cfg.KVHeads
	for seq := range nseq {
		for t := range T {
			for h := range cfg.Heads {
				qt := q[(seq*T+t)*qd+h*hd:][:hd]
				kvOff := func(j int) int { return (seq*T+j)*kvd + (h/group)*hd }
				var keys []int
				for j := 0; j <= pos0+t; j++ {
					if cfg.SlidingWindow == 0 || pos0+t-j < cfg.SlidingWindow {
						keys = append(keys, j)
					}
				}
				p := make([]float64, len(keys))
				mx := math.Inf(-1)
				for a, j := range keys {
					for e := range hd {
						p[a] += float64(qt[e]) * float64(k[kvOff(j)+e])
					}
					p[a] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, p[a])
				}
				var sum float64
				for a := range p {
					p[a] = math.Exp(p[a] - mx)
					sum += p[a]
				}
				for e := range hd {
					var o float64
					for a, j := range keys {
						o += p[a] * float64(v[kvOff(j)+e])
					}
					att[(seq*T+t)*qd+h*hd+e] = float32(o / sum)
				}
			}
		}
	}
}

func softmaxNaive(x []float32) {
	m := math.Inf(-1)
	for _, e := range x {
		m = math.Max(m, float64(e))
	}
	var sum float64
	for _, e := range x {
		sum += math.Exp(float64(e) - m)
	}
	for i, e := range x {
		x[i] = float32(math.Exp(float64(e)-m) / sum)
	}
}

func randVec(rng *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * scale)
	}
	return x
}

// relULP is |got − want| in units of want's float32 spacing, with a floor
// of the smallest normal spacing so that zeros compare.
func relULP(got, want float32) float64 {
	sp := math.Max(float64(math.Nextafter32(float32(math.Abs(float64(want))), float32(math.Inf(1)))-float32(math.Abs(float64(want)))), 0x1p-149)
	return math.Abs(float64(got)-float64(want)) / sp
}

// TestRMSNormMatchesNaive: the fast kernel sums the squares in four float64
// partial sums instead of one. The two sums differ by a few float64
// roundings, which can move the float32 1/rms by one ulp at most; with the
// products' own rounding that is at most 2 ulp per output.
func TestRMSNormMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, sh := range []struct{ rows, d int }{{1, 1}, {3, 7}, {17, 64}, {40, 1027}, {5, 4096}} {
		x := randVec(rng, sh.rows*sh.d, 3)
		g := randVec(rng, sh.d, 1)
		got, want := make([]float32, len(x)), make([]float32, len(x))
		rmsNorm(got, x, g, sh.rows, sh.d, 1e-5)
		rmsNormNaive(want, x, g, sh.rows, sh.d, 1e-5)
		for i := range got {
			if u := relULP(got[i], want[i]); u > 2 {
				t.Fatalf("%d×%d: element %d = %g, naive %g (%.1f ulp)", sh.rows, sh.d, i, got[i], want[i], u)
			}
		}
	}
}

// TestSwiGLUMatchesNaive: the fast kernel's e^−g is within 2 ulp and the
// rest is three float32 roundings (add, divide, multiply) against a float64
// twin rounded once: within 8 ulp, except near g·u = 0 where outputs are
// tiny; there the difference is bounded absolutely by 1e-6·|u| (silu's
// slope is at most 1.1).
func TestSwiGLUMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, n := range []int{1, 5, 255, 256, 257, 1000, 10007} {
		gate, up := randVec(rng, n, 4), randVec(rng, n, 1)
		gate[0] = -100 // e^100 overflows float32: silu → −0
		if n > 1 {
			gate[1] = 95
		}
		got, want := slices.Clone(gate), slices.Clone(gate)
		swiGLU(got, up)
		swiGLUNaive(want, up)
		for i := range got {
			if u := relULP(got[i], want[i]); u > 8 && math.Abs(float64(got[i]-want[i])) > 1e-6*math.Abs(float64(up[i])) {
				t.Fatalf("n %d: element %d (gate %g, up %g) = %g, naive %g (%.1f ulp)", n, i, gate[i], up[i], got[i], want[i], u)
			}
		}
	}
}

// TestRoPEMatchesNaive: the same arithmetic in the same order, so equal bit
// for bit.
func TestRoPEMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, sh := range []struct{ rows, T, pos0, heads, hd int }{{1, 1, 0, 1, 2}, {12, 4, 0, 3, 8}, {7, 7, 30, 2, 16}, {600, 300, 0, 4, 64}} {
		tab := ropeTable(sh.hd, 10000, nil, sh.pos0+sh.T)
		x := randVec(rng, sh.rows*sh.heads*sh.hd, 1)
		got, want := slices.Clone(x), slices.Clone(x)
		applyRoPE(got, sh.rows, sh.T, sh.pos0, sh.heads, sh.hd, tab)
		applyRoPENaive(want, sh.rows, sh.T, sh.pos0, sh.heads, sh.hd, tab)
		if !slices.Equal(got, want) {
			t.Fatalf("%+v: differs from the naive rotation", sh)
		}
	}
}

// TestSoftmaxMatchesNaive: the float32 kernel against float64, on logits
// spread like a language model's (σ = 5) and on constant, huge and tiny
// rows. Each output is exp (2 ulp) times 1/sum (the sum's rounding over n
// terms, ≤ n·2⁻²⁴ relative, and the reciprocal's) rounded again; 1e-6
// relative plus 1e-9 absolute (for the terms far below the maximum) covers
// n ≤ 50000 with margin.
func TestSoftmaxMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, n := range []int{1, 2, 3, 4, 5, 31, 512, 32000} {
		for _, scale := range []float64{0, 5, 1e3} {
			x := randVec(rng, n, scale)
			got, want := slices.Clone(x), slices.Clone(x)
			softmax(got)
			softmaxNaive(want)
			for i := range got {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-6*float64(want[i])+1e-9 {
					t.Fatalf("n %d scale %g: p[%d] = %g, naive %g", n, scale, i, got[i], want[i])
				}
			}
		}
	}
}

// TestAddBiasMatchesNaive: every row gets the bias, exactly (one float32
// add per value), whatever rows the parallel split gives each core.
func TestAddBiasMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, sh := range [][2]int{{1, 1}, {3, 12}, {257, 48}} {
		rows, w := sh[0], sh[1]
		x, bias := randVec(rng, rows*w, 1), randVec(rng, w, 1)
		want := slices.Clone(x)
		for r := range rows {
			for i := range w {
				want[r*w+i] += bias[i]
			}
		}
		addBias(x, bias, rows)
		if !slices.Equal(x, want) {
			t.Errorf("%d×%d: addBias differs from the naive sum", rows, w)
		}
	}
}

func TestMaxOf(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for n := 1; n < 40; n++ {
		x := randVec(rng, n, 10)
		if got, want := maxOf(x), slices.Max(x); got != want {
			t.Fatalf("n %d: maxOf %g, slices.Max %g", n, got, want)
		}
	}
}

// TestAttentionMatchesNaive compares the blocked float32 attention with the
// float64 query-by-query twin, with and without a cache offset, with
// grouped heads, and across row blocks. Each output is a convex combination
// of values: float32 scores (hd products, relative error ≲ hd·2⁻²⁴ of
// Σ|q||k|), exp (2 ulp), and the P·V sums (≲ keys·2⁻²⁴ of Σ p|v|) keep the
// error below 1e-5 of the largest |v| for these sizes (measured: ~1e-6).
func TestAttentionMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for _, tc := range []struct {
		name                     string
		heads, kvHeads, hd, nseq int
		T, pos0, window          int
	}{
		{"one token", 2, 2, 4, 1, 1, 0, 0},
		{"gqa", 4, 2, 8, 3, 19, 0, 0},
		{"mqa", 4, 1, 16, 2, 9, 0, 0},
		{"row blocks", 2, 1, 32, 2, 2*attnBlock + 44, 0, 0},
		{"cache offset", 4, 2, 8, 1, 5, 37, 0},
		{"cache offset, blocks", 2, 2, 16, 1, attnBlock + 3, 60, 0},
		// A window shorter than a row block, one longer, one of a single
		// key, and windows that start inside the cached positions.
		{"window", 4, 2, 8, 3, 19, 0, 5},
		{"window, row blocks", 2, 1, 16, 2, 2*attnBlock + 44, 0, attnBlock + 7},
		{"window of one", 2, 2, 8, 2, 9, 0, 1},
		{"window, cache offset", 4, 2, 8, 1, 5, 37, 20},
		{"window, cache offset, blocks", 2, 2, 16, 1, attnBlock + 3, 60, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Heads: tc.heads, KVHeads: tc.kvHeads, HeadDim: tc.hd, SlidingWindow: tc.window}
			n := tc.nseq * tc.T
			keys := n
			if tc.pos0 > 0 {
				keys = tc.pos0 + tc.T // one sequence, its earlier positions cached
			}
			q := randVec(rng, n*cfg.QDim(), 1.5)
			k := randVec(rng, keys*cfg.KVDim(), 1.5)
			v := randVec(rng, keys*cfg.KVDim(), 1)
			got, want := make([]float32, n*cfg.QDim()), make([]float32, n*cfg.QDim())
			attention(context.Background(), &cfg, q, got, k, v, tc.nseq, tc.T, tc.pos0)
			attentionNaive(&cfg, q, want, k, v, tc.nseq, tc.T, tc.pos0)
			vmax := 0.0
			for _, e := range v {
				vmax = math.Max(vmax, math.Abs(float64(e)))
			}
			worst := 0.0
			for i := range got {
				worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
			}
			t.Logf("max |Δ| = %.3g (max |v| %.3g)", worst, vmax)
			if !(worst <= 1e-5*vmax) {
				t.Errorf("max |Δ| = %.3g, want ≤ 1e-5·max|v| = %.3g", worst, 1e-5*vmax)
			}
		})
	}
}

// BenchmarkKernels times each kernel against its naive twin on one block's
// worth of the default benchmark shape's activations (2048 rows, d 1024,
// hidden 2816, 16 heads of 64), attention on 4 sequences of 512.
func BenchmarkKernels(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 7))
	const rows, d, h, heads, hd, nseq, T = 2048, 1024, 2816, 16, 64, 4, 512
	x, g := randVec(rng, rows*d, 1), randVec(rng, d, 1)
	dst := make([]float32, rows*d)
	gate, up := randVec(rng, rows*h, 2), randVec(rng, rows*h, 1)
	work := make([]float32, rows*h)
	cfg := Config{Heads: heads, KVHeads: heads, HeadDim: hd}
	q, k, v := randVec(rng, rows*d, 1), randVec(rng, rows*d, 1), randVec(rng, rows*d, 1)
	tab := ropeTable(hd, 10000, nil, T)
	for _, bc := range []struct {
		name string
		fn   func()
	}{
		{"rmsnorm", func() { rmsNorm(dst, x, g, rows, d, 1e-5) }},
		{"rmsnorm-naive", func() { rmsNormNaive(dst, x, g, rows, d, 1e-5) }},
		{"swiglu", func() { copy(work, gate); swiGLU(work, up) }},
		{"swiglu-naive", func() { copy(work, gate); swiGLUNaive(work, up) }},
		{"rope", func() { copy(dst, q); applyRoPE(dst, rows, T, 0, heads, hd, tab) }},
		{"rope-naive", func() { copy(dst, q); applyRoPENaive(dst, rows, T, 0, heads, hd, tab) }},
		{"attention", func() { attention(context.Background(), &cfg, q, dst, k, v, nseq, T, 0) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				bc.fn()
			}
		})
	}
}
