package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// randomModel builds a model with weights scaled like a trained one
// (rows of norm ≈ 1), so activations stay O(1) through the blocks.
func randomModel(cfg Config, seed uint64) *Model {
	rng := rand.New(rand.NewPCG(seed, 1))
	fill := func(n int, scale float64) []float32 {
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(rng.NormFloat64() * scale)
		}
		return w
	}
	norm := func() []float32 {
		g := make([]float32, cfg.Dim)
		for i := range g {
			g[i] = float32(1 + 0.2*rng.NormFloat64())
		}
		return g
	}
	lin := func(out, in int) Linear {
		return Linear{Out: out, In: in, W: fill(out*in, 1/math.Sqrt(float64(in)))}
	}
	m := &Model{Config: cfg, Format: "synthetic"}
	m.Weights.Embed = fill(cfg.Vocab*cfg.Dim, 1)
	for range cfg.Layers {
		m.Weights.Blocks = append(m.Weights.Blocks, Block{
			AttnNorm: norm(),
			Q:        lin(cfg.QDim(), cfg.Dim), K: lin(cfg.KVDim(), cfg.Dim), V: lin(cfg.KVDim(), cfg.Dim),
			O:       lin(cfg.Dim, cfg.QDim()),
			FFNNorm: norm(),
			Gate:    lin(cfg.HiddenDim, cfg.Dim), Up: lin(cfg.HiddenDim, cfg.Dim), Down: lin(cfg.Dim, cfg.HiddenDim),
		})
	}
	m.Weights.FinalNorm = norm()
	m.Weights.Classifier = m.Weights.Embed
	if !cfg.TiedClassifier {
		m.Weights.Classifier = fill(cfg.Vocab*cfg.Dim, 1/math.Sqrt(float64(cfg.Dim)))
	}
	return m
}

func randomTokens(n, vocab int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 2))
	t := make([]int, n)
	for i := range t {
		t[i] = rng.IntN(vocab)
	}
	return t
}

// refCapture receives a block's linear input for one sequence.
type refCapture func(layer int, in Input, seq int, x [][]float64)

// refForward is the obviously-correct forward: float64, one sequence and one
// token at a time, every formula written out, nothing shared with forward.go.
func refForward(m *Model, tokens []int, nseq, T int, capture refCapture) [][]float64 {
	c := &m.Config
	matVec := func(w []float32, out, in int, x []float64) []float64 {
		y := make([]float64, out)
		for o := range out {
			for i := range in {
				y[o] += float64(w[o*in+i]) * x[i]
			}
		}
		return y
	}
	rms := func(x []float64, g []float32) []float64 {
		var ss float64
		for _, e := range x {
			ss += e * e
		}
		inv := 1 / math.Sqrt(ss/float64(len(x))+c.NormEps)
		y := make([]float64, len(x))
		for i := range x {
			y[i] = x[i] * inv * float64(g[i])
		}
		return y
	}
	rope := func(x []float64, heads, pos int) {
		for h := range heads {
			for i := range c.HeadDim / 2 {
				theta := float64(pos) * math.Pow(c.RopeBase, -2*float64(i)/float64(c.HeadDim))
				a, b := x[h*c.HeadDim+2*i], x[h*c.HeadDim+2*i+1]
				x[h*c.HeadDim+2*i] = a*math.Cos(theta) - b*math.Sin(theta)
				x[h*c.HeadDim+2*i+1] = a*math.Sin(theta) + b*math.Cos(theta)
			}
		}
	}
	var logits [][]float64
	for s := range nseq {
		x := make([][]float64, T)
		for t := range T {
			x[t] = make([]float64, c.Dim)
			for i := range c.Dim {
				x[t][i] = float64(m.Weights.Embed[tokens[s*T+t]*c.Dim+i])
			}
		}
		for l := range m.Weights.Blocks {
			b := &m.Weights.Blocks[l]
			xn := make([][]float64, T)
			q, k, v := make([][]float64, T), make([][]float64, T), make([][]float64, T)
			for t := range T {
				xn[t] = rms(x[t], b.AttnNorm)
				q[t] = matVec(b.Q.W, c.QDim(), c.Dim, xn[t])
				k[t] = matVec(b.K.W, c.KVDim(), c.Dim, xn[t])
				v[t] = matVec(b.V.W, c.KVDim(), c.Dim, xn[t])
				rope(q[t], c.Heads, t)
				rope(k[t], c.KVHeads, t)
			}
			att := make([][]float64, T)
			for t := range T {
				att[t] = make([]float64, c.QDim())
				for h := range c.Heads {
					kv := h / (c.Heads / c.KVHeads)
					p := make([]float64, t+1)
					var mx, sum float64 = math.Inf(-1), 0
					for j := range p {
						for e := range c.HeadDim {
							p[j] += q[t][h*c.HeadDim+e] * k[j][kv*c.HeadDim+e]
						}
						p[j] /= math.Sqrt(float64(c.HeadDim))
						mx = math.Max(mx, p[j])
					}
					for j := range p {
						p[j] = math.Exp(p[j] - mx)
						sum += p[j]
					}
					for j := range p {
						for e := range c.HeadDim {
							att[t][h*c.HeadDim+e] += p[j] / sum * v[j][kv*c.HeadDim+e]
						}
					}
				}
			}
			xn2, act := make([][]float64, T), make([][]float64, T)
			for t := range T {
				o := matVec(b.O.W, c.Dim, c.QDim(), att[t])
				for i := range x[t] {
					x[t][i] += o[i]
				}
				xn2[t] = rms(x[t], b.FFNNorm)
				g := matVec(b.Gate.W, c.HiddenDim, c.Dim, xn2[t])
				u := matVec(b.Up.W, c.HiddenDim, c.Dim, xn2[t])
				act[t] = make([]float64, c.HiddenDim)
				for i := range g {
					act[t][i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
				}
				d := matVec(b.Down.W, c.Dim, c.HiddenDim, act[t])
				for i := range x[t] {
					x[t][i] += d[i]
				}
			}
			if capture != nil {
				capture(l, AttnIn, s, xn)
				capture(l, AttnOut, s, att)
				capture(l, MLPIn, s, xn2)
				capture(l, DownIn, s, act)
			}
		}
		for t := range T {
			logits = append(logits, matVec(m.Weights.Classifier, c.Vocab, c.Dim, rms(x[t], m.Weights.FinalNorm)))
		}
	}
	return logits
}

// maxDiff is max |got − want| over rows×cols, with the position of the worst.
func maxDiff(got []float32, want [][]float64) (float64, int, int) {
	var worst float64
	wr, wc := 0, 0
	for r, row := range want {
		for c, w := range row {
			if d := math.Abs(float64(got[r*len(row)+c]) - w); d > worst || math.IsNaN(d) {
				worst, wr, wc = d, r, c
			}
		}
	}
	return worst, wr, wc
}

// checkAgainstReference compares Forward with refForward on nseq×T tokens.
func checkAgainstReference(t *testing.T, m *Model, tokens []int, nseq, T int) {
	t.Helper()
	got, err := m.Forward(tokens, nseq, T)
	if err != nil {
		t.Fatal(err)
	}
	want := refForward(m, tokens, nseq, T, nil)
	if len(got) != len(want)*m.Config.Vocab {
		t.Fatalf("%d logits, want %d", len(got), len(want)*m.Config.Vocab)
	}
	d, r, c := maxDiff(got, want)
	t.Logf("max |Δlogit| = %.3g", d)
	if !(d <= 1e-4) {
		t.Errorf("max |Δlogit| = %.3g at row %d, vocab %d (got %g, want %g); want ≤ 1e-4",
			d, r, c, got[r*m.Config.Vocab+c], want[r][c])
	}
}

func synthConfig() Config {
	return Config{Dim: 48, HiddenDim: 80, Layers: 3, Heads: 4, KVHeads: 2, HeadDim: 12, Vocab: 97,
		SeqLen: 64, NormEps: 1e-5, RopeBase: 10000}
}

func TestForwardMatchesReference(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Config)
		nseq   int
		T      int
		tokens uint64
	}{
		{"gqa untied", func(*Config) {}, 2, 23, 1},
		{"mha tied", func(c *Config) { c.KVHeads, c.TiedClassifier = 4, true }, 1, 17, 2},
		{"one kv head", func(c *Config) { c.KVHeads = 1 }, 3, 9, 3},
		// q/o widths differ from Dim when the checkpoint fixes the head width.
		{"head dim 16", func(c *Config) { c.HeadDim = 16; c.RopeBase = 500000 }, 2, 13, 4},
		{"single token", func(*Config) {}, 2, 1, 5},
		{"full context", func(c *Config) { c.SeqLen = 40 }, 1, 40, 6},
		// Longer than attnBlock: the scores are computed in row blocks.
		{"blocked attention", func(c *Config) { c.SeqLen = 300 }, 2, 2*attnBlock + 44, 7},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := synthConfig()
			tc.edit(&cfg)
			m := randomModel(cfg, uint64(i+10))
			checkAgainstReference(t, m, randomTokens(tc.nseq*tc.T, cfg.Vocab, tc.tokens), tc.nseq, tc.T)
		})
	}
}

func TestForwardBatchedEqualsPerSequence(t *testing.T) {
	cfg := synthConfig()
	m := randomModel(cfg, 7)
	const nseq, T = 4, 19
	tokens := randomTokens(nseq*T, cfg.Vocab, 8)
	all, err := m.Forward(tokens, nseq, T)
	if err != nil {
		t.Fatal(err)
	}
	for s := range nseq {
		one, err := m.Forward(tokens[s*T:(s+1)*T], 1, T)
		if err != nil {
			t.Fatal(err)
		}
		batched := all[s*T*cfg.Vocab : (s+1)*T*cfg.Vocab]
		for i := range one {
			// Only the GEMM blocking may differ between the two calls.
			if d := math.Abs(float64(one[i] - batched[i])); !(d <= 1e-5) {
				t.Fatalf("sequence %d logit %d: batched %g, alone %g", s, i, batched[i], one[i])
			}
		}
	}
}

// TestForwardFrom checks that ForwardFrom returns the rows from..T−1 of
// each sequence's logits, as ForwardContext computes them, and refuses a
// start outside the sequence.
func TestForwardFrom(t *testing.T) {
	cfg := synthConfig()
	m := randomModel(cfg, 7)
	const nseq, T = 3, 19
	tokens := randomTokens(nseq*T, cfg.Vocab, 9)
	all, err := m.Forward(tokens, nseq, T)
	if err != nil {
		t.Fatal(err)
	}
	V := cfg.Vocab
	for _, from := range []int{1, 9, T - 1} {
		got, err := m.ForwardFrom(context.Background(), tokens, nseq, T, from)
		if err != nil {
			t.Fatal(err)
		}
		kept := T - from
		if len(got) != nseq*kept*V {
			t.Fatalf("from %d: %d logits, want %d", from, len(got), nseq*kept*V)
		}
		for s := range nseq {
			for p := from; p < T; p++ {
				want := all[(s*T+p)*V : (s*T+p+1)*V]
				row := got[(s*kept+p-from)*V : (s*kept+p-from+1)*V]
				for i := range row {
					// Only the classifier's GEMM blocking may differ.
					if d := math.Abs(float64(row[i] - want[i])); !(d <= 1e-5) {
						t.Fatalf("from %d sequence %d position %d logit %d: %g, ForwardContext %g", from, s, p, i, row[i], want[i])
					}
				}
			}
		}
	}
	for _, from := range []int{-1, T} {
		if _, err := m.ForwardFrom(context.Background(), tokens, nseq, T, from); err == nil {
			t.Errorf("from %d: no error", from)
		}
	}
}

func TestForwardConcurrent(t *testing.T) {
	cfg := synthConfig()
	m := randomModel(cfg, 9)
	lengths := []int{5, 31, 12, 1, 27, 8}
	want := make([][]float32, len(lengths))
	for i, T := range lengths {
		var err error
		if want[i], err = m.Forward(randomTokens(T, cfg.Vocab, uint64(i)), 1, T); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(lengths))
	for rep := range 4 {
		for i, T := range lengths {
			wg.Go(func() {
				got, err := m.Forward(randomTokens(T, cfg.Vocab, uint64(i)), 1, T)
				if err == nil && fmt.Sprint(got) != fmt.Sprint(want[i]) {
					err = fmt.Errorf("repeat %d: logits differ from the sequential run", rep)
				}
				if err != nil {
					errs[i] = fmt.Errorf("length %d: %w", T, err)
				}
			})
		}
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestBlockForwardHook(t *testing.T) {
	cfg := synthConfig()
	cfg.HeadDim = 16 // QDim 64 ≠ Dim 48, so AttnOut's width is distinguishable
	m := randomModel(cfg, 11)
	const nseq, T = 2, 7
	tokens := randomTokens(nseq*T, cfg.Vocab, 12)
	want := map[Input][][]float64{}
	refForward(m, tokens, nseq, T, func(layer int, in Input, _ int, x [][]float64) {
		if layer == 0 {
			want[in] = append(want[in], x...)
		}
	})
	x, err := m.Embed(tokens)
	if err != nil {
		t.Fatal(err)
	}
	var order []Input
	widths := map[Input]int{AttnIn: cfg.Dim, AttnOut: cfg.QDim(), MLPIn: cfg.Dim, DownIn: cfg.HiddenDim}
	BlockForward(&m.Config, &m.Weights.Blocks[0], x, nseq, T, func(in Input, x []float32, rows, cols int) {
		order = append(order, in)
		if rows != nseq*T || cols != widths[in] || len(x) != rows*cols {
			t.Errorf("%v: %d×%d with %d floats, want %d×%d", in, rows, cols, len(x), nseq*T, widths[in])
			return
		}
		if d, r, c := maxDiff(x, want[in]); !(d <= 1e-5) {
			t.Errorf("%v: |Δ| = %.3g at row %d col %d against the reference", in, d, r, c)
		}
	})
	if fmt.Sprint(order) != fmt.Sprint([]Input{AttnIn, AttnOut, MLPIn, DownIn}) {
		t.Errorf("hook order %v, want [attn_in attn_out mlp_in down_in]", order)
	}
}

func TestForwardErrors(t *testing.T) {
	cfg := synthConfig()
	m := randomModel(cfg, 13)
	broken := randomModel(cfg, 13)
	broken.Weights.Blocks[1].Up.W = broken.Weights.Blocks[1].Up.W[1:]
	tests := []struct {
		name    string
		m       *Model
		tokens  []int
		nseq, T int
		want    string
	}{
		{"count", m, make([]int, 10), 2, 4, "10 tokens, want 2 sequences × 4 = 8"},
		{"too long", m, make([]int, 65), 1, 65, "sequence length 65 exceeds the context length 64"},
		{"negative id", m, []int{3, -1}, 1, 2, "token -1 at position 1"},
		{"id past vocab", m, []int{97}, 1, 1, "token 97 at position 0: id out of range [0, 97)"},
		{"no sequences", m, nil, 0, 3, "both must be positive"},
		{"bad weights", broken, []int{1}, 1, 1, "block 1 up_proj is 80×48 with 3839"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.m.Forward(tc.tokens, tc.nseq, tc.T)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestIncrementalMatchesForward feeds a sequence through the KV cache in
// chunks (a prompt longer than attnBlock, single tokens, then a chunk that
// starts mid-way) and compares every position's logits with one full Forward.
func TestIncrementalMatchesForward(t *testing.T) {
	cfg := synthConfig()
	cfg.SeqLen = 320
	m := randomModel(cfg, 14)
	const T = 300
	tokens := randomTokens(T, cfg.Vocab, 15)
	want, err := m.Forward(tokens, 1, T)
	if err != nil {
		t.Fatal(err)
	}
	cache := newKVCache(&m.Config, m.Config.SeqLen)
	for _, n := range []int{attnBlock + 22, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, T - attnBlock - 32} {
		pos := cache.slots[0].pos
		got, err := m.step(cache, tokens[pos:pos+n])
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if d := math.Abs(float64(got[i] - want[pos*cfg.Vocab+i])); !(d <= 1e-5) {
				t.Fatalf("position %d vocab %d: cached %g, full %g", pos+i/cfg.Vocab, i%cfg.Vocab, got[i], want[pos*cfg.Vocab+i])
			}
		}
	}
	if pos := cache.slots[0].pos; pos != T {
		t.Fatalf("cache at position %d after %d tokens", pos, T)
	}
	if _, err := m.step(cache, make([]int, cfg.SeqLen-T+1)); err == nil || !strings.Contains(err.Error(), "exceeds the context length") {
		t.Errorf("overflowing the cache: error %v", err)
	}
}

func TestRoPETableGrows(t *testing.T) {
	small := ropeTable(8, 777, nil, 3)
	big := ropeTable(8, 777, nil, 50)
	if len(small) < 3*8 || len(big) < 50*8 {
		t.Fatalf("tables of %d and %d floats", len(small), len(big))
	}
	for i := range small {
		if small[i] != big[i] {
			t.Fatalf("entry %d changed from %g to %g when the table grew", i, small[i], big[i])
		}
	}
	// Position 49, pair 1: θ = 777^(−2/8).
	s, c := math.Sincos(49 * math.Pow(777, -0.25))
	if big[(49*4+1)*2] != float32(c) || big[(49*4+1)*2+1] != float32(s) {
		t.Errorf("entry (49, 1) = (%g, %g), want (%g, %g)", big[(49*4+1)*2], big[(49*4+1)*2+1], c, s)
	}
}

// exp32 is expShift on one value.
func exp32(x float32) float32 {
	v := []float32{x}
	expShift(v, 0)
	return v[0]
}

func TestExpShift(t *testing.T) {
	x := []float32{1, 2, 3, -90, 0.5}
	sum := expShift(x, 3)
	var want float64
	for i, v := range []float64{1, 2, 3, -90, 0.5} {
		e := math.Exp(v - 3)
		if v-3 < -80 {
			e = 0
		}
		want += e
		if math.Abs(float64(x[i])-e) > 2.4e-7*e {
			t.Errorf("x[%d] = %g, want %g", i, x[i], e)
		}
	}
	if math.Abs(float64(sum)-want) > 1e-6*want {
		t.Errorf("sum %g, want %g", sum, want)
	}
}

func TestExp32(t *testing.T) {
	worst := 0.0
	for x := -80.0; x <= 88.7; x += 0.0137 {
		want := math.Exp(float64(float32(x)))
		got := float64(exp32(float32(x)))
		if rel := math.Abs(got-want) / want; rel > worst {
			worst = rel
		}
	}
	t.Logf("max relative error %.3g", worst)
	// 2 ulp of float32 is 2·2⁻²³ ≈ 2.4e-7 relative.
	if worst > 2.4e-7 {
		t.Errorf("max relative error %.3g over [-80, 88.7], want ≤ 2.4e-7", worst)
	}
	for _, tc := range []struct{ x, want float32 }{
		{0, 1}, {-100, 0}, {-80.5, 0}, {100, float32(math.Inf(1))}, {float32(math.Inf(-1)), 0}, {float32(math.Inf(1)), float32(math.Inf(1))},
	} {
		if got := exp32(tc.x); got != tc.want {
			t.Errorf("exp32(%g) = %g, want %g", tc.x, got, tc.want)
		}
	}
	if got := exp32(float32(math.NaN())); !math.IsNaN(float64(got)) {
		t.Errorf("exp32(NaN) = %g, want NaN", got)
	}
}

// TestBlockForwardContext checks that a cancelled context stops a block
// forward with its error, and that an open one computes what BlockForward
// does, bit for bit.
func TestBlockForwardContext(t *testing.T) {
	cfg := synthConfig()
	m := randomModel(cfg, 3)
	const nseq, T = 3, 16
	x, err := m.Embed(randomTokens(nseq*T, cfg.Vocab, 4))
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(x)
	BlockForward(&cfg, &m.Weights.Blocks[0], want, nseq, T, nil)
	got := slices.Clone(x)
	if err := BlockForwardContext(context.Background(), &cfg, &m.Weights.Blocks[0], got, nseq, T, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Error("BlockForwardContext differs from BlockForward")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	err = BlockForwardContext(ctx, &cfg, &m.Weights.Blocks[0], slices.Clone(x), nseq, T, func(Input, []float32, int, int) { calls++ })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v, want context.Canceled", err)
	}
	if calls > 1 {
		t.Errorf("cancelled: the forward went on to %d hooked stages", calls)
	}
}

// countdownContext reports itself cancelled from its (after+1)th Err call on,
// so that a test cancels at a chosen check inside a forward pass without
// depending on timing.
type countdownContext struct {
	context.Context
	after int64
	calls atomic.Int64 // Err is called from the attention workers at once
}

func (c *countdownContext) Err() error {
	if c.calls.Add(1) > c.after {
		return context.Canceled
	}
	return nil
}

// TestForwardContext checks that an open context gives Forward's logits bit
// for bit, and that a cancelled one stops the pass at the next check, which
// may lie inside any block: with context.Canceled, no logits, and at most
// the (sequence, head) pairs of one attention still looking at ctx.
func TestForwardContext(t *testing.T) {
	cfg := synthConfig()
	m := randomModel(cfg, 5)
	const nseq, T = 2, 32
	tokens := randomTokens(nseq*T, cfg.Vocab, 6)
	want, err := m.Forward(tokens, nseq, T)
	if err != nil {
		t.Fatal(err)
	}
	open, cancel := context.WithCancel(context.Background())
	got, err := m.ForwardContext(open, tokens, nseq, T)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("open context: %v; logits equal to Forward's: %v", err, slices.Equal(got, want))
	}
	cancel()
	if got, err := m.ForwardContext(open, tokens, nseq, T); !errors.Is(err, context.Canceled) || got != nil {
		t.Errorf("cancelled before the call: got %d logits, %v; want context.Canceled", len(got), err)
	}

	full := &countdownContext{Context: context.Background(), after: math.MaxInt64}
	if _, err := m.ForwardContext(full, tokens, nseq, T); err != nil {
		t.Fatal(err)
	}
	checks := full.calls.Load()
	if checks < int64(cfg.Layers*nseq*cfg.Heads) {
		t.Fatalf("a whole pass looked at ctx %d times, want at least every (sequence, head) of every block", checks)
	}
	for _, after := range []int64{0, 1, checks / 2, checks - 1} {
		ctx := &countdownContext{Context: context.Background(), after: after}
		got, err := m.ForwardContext(ctx, tokens, nseq, T)
		if !errors.Is(err, context.Canceled) || got != nil {
			t.Errorf("cancelled at check %d of %d: got %d logits, %v; want context.Canceled", after+1, checks, len(got), err)
		}
		if n, limit := ctx.calls.Load(), after+1+int64(nseq*cfg.Heads); n > limit {
			t.Errorf("cancelled at check %d of %d: went on to check %d, want at most %d", after+1, checks, n, limit)
		}
	}
}

// TestRoPETableLookupAllocates nothing: every block forward looks its
// table up, divisors and all.
func TestRoPETableLookupAllocates(t *testing.T) {
	freqs := []float32{1, 1.5, 8, 8}
	want := ropeTable(8, 500000, freqs, 16)
	if n := testing.AllocsPerRun(100, func() { ropeTable(8, 500000, freqs, 16) }); n != 0 {
		t.Errorf("a lookup allocates %v times", n)
	}
	// Equal divisors in another slice find the same table; others do not.
	if got := ropeTable(8, 500000, []float32{1, 1.5, 8, 8}, 16); &got[0] != &want[0] {
		t.Error("equal divisors in another slice built another table")
	}
	if got := ropeTable(8, 500000, []float32{1, 1.5, 8, 4}, 16); got[3*8+7] == want[3*8+7] {
		t.Error("other divisors gave the same angles")
	}
}
