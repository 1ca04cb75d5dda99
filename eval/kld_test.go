package eval

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/model"
)

// kldLM is a deterministic fake model: the logit of entry v at position pos
// is a hash of (seed, the token at pos, pos, v) in [−4, 4), plus, when
// noise is set, noise times a second hash in [−1, 1): the "pruned"
// variant. It records the size of every call and can run a hook on each.
type kldLM struct {
	vocab  int
	seed   uint64
	noise  float64
	calls  [][]int // the tokens of each call
	nseqs  []int
	onCall func(call int)
}

func kldHash(seed uint64, tok, pos, v int) float64 {
	x := seed ^ uint64(tok)*0x9e3779b97f4a7c15 ^ uint64(pos)*0xbf58476d1ce4e5b9 ^ uint64(v)*0x94d049bb133111eb
	x ^= x >> 31
	x *= 0xd6e8feb86659fd93
	x ^= x >> 32
	x *= 0xd6e8feb86659fd93
	x ^= x >> 29
	return float64(x>>11) / (1 << 53) // [0, 1)
}

func (m *kldLM) logit(tok, pos, v int) float32 {
	x := 8*kldHash(m.seed, tok, pos, v) - 4
	if m.noise != 0 {
		x += m.noise * (2*kldHash(m.seed+1, tok, pos, v) - 1)
	}
	return float32(x)
}

func (m *kldLM) ForwardContext(ctx context.Context, tokens []int, nseq, T int) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.onCall != nil {
		m.onCall(len(m.calls))
	}
	m.calls = append(m.calls, append([]int(nil), tokens...))
	m.nseqs = append(m.nseqs, nseq)
	out := make([]float32, nseq*T*m.vocab)
	for i, tok := range tokens {
		for v := 0; v < m.vocab; v++ {
			out[i*m.vocab+v] = m.logit(tok, i%T, v)
		}
	}
	return out, nil
}

// naiveKLD is the reference, straight from the definitions: softmax
// probabilities in float64, Σ p log(p/q) per position, the mean NLL over
// all positions, the standard error from the two-pass sample variance.
func naiveKLD(dense, pruned *kldLM, toks []int, T, n int) KLDResult {
	var kls []float64
	var nllD, nllP float64
	same := 0
	probs := func(m *kldLM, tok, pos int) ([]float64, int) {
		p := make([]float64, m.vocab)
		var z float64
		top := 0
		for v := range p {
			l := m.logit(tok, pos, v)
			if l > m.logit(tok, pos, top) {
				top = v
			}
			p[v] = math.Exp(float64(l))
			z += p[v]
		}
		for v := range p {
			p[v] /= z
		}
		return p, top
	}
	for k := 0; k < n; k++ {
		for pos := 0; pos < T-1; pos++ {
			tok, next := toks[k*T+pos], toks[k*T+pos+1]
			p, topP := probs(dense, tok, pos)
			q, topQ := probs(pruned, tok, pos)
			var kl float64
			for v := range p {
				kl += p[v] * math.Log(p[v]/q[v])
			}
			kls = append(kls, kl)
			nllD -= math.Log(p[next])
			nllP -= math.Log(q[next])
			if topP == topQ {
				same++
			}
		}
	}
	cnt := float64(len(kls))
	var mean, ss float64
	for _, x := range kls {
		mean += x
	}
	mean /= cnt
	for _, x := range kls {
		ss += (x - mean) * (x - mean)
	}
	r := KLDResult{SeqLen: T, Windows: n, Scored: len(kls), Mean: mean,
		Stderr: math.Sqrt(ss/(cnt-1)) / math.Sqrt(cnt), SameTop: float64(same) / cnt,
		DensePPL: math.Exp(nllD / cnt), PrunedPPL: math.Exp(nllP / cnt)}
	r.PPLRatio = r.PrunedPPL / r.DensePPL
	return r
}

func relClose(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Abs(b) }

func checkKLDClose(t *testing.T, got, want KLDResult) {
	t.Helper()
	if got.SeqLen != want.SeqLen || got.Windows != want.Windows || got.Scored != want.Scored {
		t.Errorf("seqlen %d windows %d scored %d, want %d %d %d", got.SeqLen, got.Windows, got.Scored, want.SeqLen, want.Windows, want.Scored)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"mean", got.Mean, want.Mean}, {"stderr", got.Stderr, want.Stderr}, {"same top", got.SameTop, want.SameTop},
		{"dense ppl", got.DensePPL, want.DensePPL}, {"pruned ppl", got.PrunedPPL, want.PrunedPPL}, {"ppl ratio", got.PPLRatio, want.PPLRatio}} {
		if !relClose(c.got, c.want, 1e-9) {
			t.Errorf("%s %v, want %v", c.name, c.got, c.want)
		}
	}
}

func kldPair(vocab int) (dense, pruned *kldLM) {
	return &kldLM{vocab: vocab, seed: 7}, &kldLM{vocab: vocab, seed: 7, noise: 1.5}
}

func TestKLDReference(t *testing.T) {
	const vocab, T = 23, 16
	toks := seqTokens(103, vocab)
	dense, pruned := kldPair(vocab)
	var progress bytes.Buffer
	res, err := KLD(context.Background(), dense, pruned, toks, 32, vocab, KLDOptions{SeqLen: T, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	want := naiveKLD(dense, pruned, toks, T, 6)
	checkKLDClose(t, res, want)
	// The fake models must make the test meaningful.
	if res.Mean < 0.01 || res.SameTop <= 0.2 || res.SameTop >= 0.95 {
		t.Errorf("mean KLD %v, same top %v: the perturbation is too weak or too strong", res.Mean, res.SameTop)
	}
	if !strings.Contains(progress.String(), "kld: 6/6 windows") {
		t.Errorf("progress %q lacks the final line", progress.String())
	}
	// Both models saw the windows in order, in the same calls.
	if len(dense.calls) != len(pruned.calls) {
		t.Fatalf("%d dense calls, %d pruned", len(dense.calls), len(pruned.calls))
	}
	var fed []int
	for i, c := range dense.calls {
		if !slices.Equal(c, pruned.calls[i]) {
			t.Errorf("call %d: the models got different tokens", i)
		}
		fed = append(fed, c...)
	}
	if !slices.Equal(fed, toks[:6*T]) {
		t.Errorf("the models were fed %v, want the first 6 windows", fed)
	}
	// The perplexities are Perplexity's under the wanda protocol, exactly.
	for _, c := range []struct {
		lm  LM
		ppl float64
	}{{dense, res.DensePPL}, {pruned, res.PrunedPPL}} {
		p, err := Perplexity(context.Background(), c.lm, toks, 32, PPLOptions{SeqLen: T})
		if err != nil {
			t.Fatal(err)
		}
		if p.PPL != c.ppl || p.Scored != res.Scored {
			t.Errorf("Perplexity %v over %d positions, KLD %v over %d", p.PPL, p.Scored, c.ppl, res.Scored)
		}
	}
}

// TestKLDSelfExactlyZero: a model against itself, or against an identical
// copy, gives exactly 0 and SameTop exactly 1, also with logits so large
// that exp would overflow without the max subtracted.
func TestKLDSelfExactlyZero(t *testing.T) {
	const vocab = 19
	toks := seqTokens(200, vocab)
	a := &kldLM{vocab: vocab, seed: 3}
	// Logits near 1e4: exp overflows float64 unless the max is subtracted.
	huge := funcLM{vocab, func(first, pos, v int) float32 { return 1e4 + float32((v*7919+pos*31+first)%97)/10 }}
	for _, c := range []struct {
		name          string
		dense, pruned LM
	}{{"same object", a, a}, {"identical copy", a, &kldLM{vocab: vocab, seed: 3}}, {"huge logits", huge, huge}} {
		t.Run(c.name, func(t *testing.T) {
			res, err := KLD(context.Background(), c.dense, c.pruned, toks, 20, vocab, KLDOptions{BatchTokens: 30})
			if err != nil {
				t.Fatal(err)
			}
			if res.Mean != 0 || res.Stderr != 0 || res.SameTop != 1 || res.PPLRatio != 1 || res.DensePPL != res.PrunedPPL {
				t.Errorf("mean %v ± %v, same top %v, ppl %v / %v = %v; want exactly 0 ± 0, 1, ratio 1",
					res.Mean, res.Stderr, res.SameTop, res.PrunedPPL, res.DensePPL, res.PPLRatio)
			}
			if res.Windows != 10 || res.Scored != 10*19 {
				t.Errorf("%d windows, %d scored; want 10, 190", res.Windows, res.Scored)
			}
		})
	}
}

// TestKLDBatchingAndMaxWindows: one window per call (BatchTokens below a
// window pair), the default batching and one call for everything give the
// same bits, and MaxWindows scores the first windows as if the text ended
// there.
func TestKLDBatchingAndMaxWindows(t *testing.T) {
	const vocab, T = 29, 12
	toks := seqTokens(12*T+5, vocab)
	run := func(toks []int, o KLDOptions) (KLDResult, *kldLM) {
		t.Helper()
		dense, pruned := kldPair(vocab)
		res, err := KLD(context.Background(), dense, pruned, toks, T, vocab, o)
		if err != nil {
			t.Fatal(err)
		}
		res.Seconds = 0
		return res, dense
	}
	ref, _ := run(toks, KLDOptions{BatchTokens: 1 << 20})
	checkKLDClose(t, ref, naiveKLD(&kldLM{vocab: vocab, seed: 7}, &kldLM{vocab: vocab, seed: 7, noise: 1.5}, toks, T, 12))
	for _, bt := range []int{0, 1, T, 2*T - 1, 2 * T, 5 * T} {
		got, dense := run(toks, KLDOptions{BatchTokens: bt})
		if got != ref {
			t.Errorf("BatchTokens %d: %+v, want %+v", bt, got, ref)
		}
		limit := max(1, bt/T)
		if bt == 0 {
			limit = 1 << 16 / T
		}
		for i, n := range dense.nseqs {
			if n > limit {
				t.Errorf("BatchTokens %d: call %d got %d windows, at most %d allowed", bt, i, n, limit)
			}
		}
	}
	// MaxWindows 5 equals the text cut after 5 windows.
	got, _ := run(toks, KLDOptions{MaxWindows: 5, BatchTokens: T})
	cut, _ := run(toks[:5*T], KLDOptions{})
	if got != cut || got.Windows != 5 || got.Scored != 5*(T-1) {
		t.Errorf("MaxWindows 5: %+v, want %+v over 5 windows", got, cut)
	}
	checkKLDClose(t, got, naiveKLD(&kldLM{vocab: vocab, seed: 7}, &kldLM{vocab: vocab, seed: 7, noise: 1.5}, toks, T, 5))
}

// kldBadLM replaces entry 3 of the logits at one window and position by
// val, counting windows over its calls.
type kldBadLM struct {
	LM
	win, pos int
	val      float32
	seen     int
}

func (m *kldBadLM) ForwardContext(ctx context.Context, tokens []int, nseq, T int) ([]float32, error) {
	out, err := m.LM.ForwardContext(ctx, tokens, nseq, T)
	if err != nil {
		return nil, err
	}
	vocab := len(out) / (nseq * T)
	for s := 0; s < nseq; s++ {
		if m.seen+s == m.win {
			out[(s*T+m.pos)*vocab+3] = m.val
		}
	}
	m.seen += nseq
	return out, nil
}

// kldErrLM fails every call.
type kldErrLM struct{ err error }

func (m kldErrLM) ForwardContext(context.Context, []int, int, int) ([]float32, error) {
	return nil, m.err
}

func TestKLDErrors(t *testing.T) {
	const vocab, T = 11, 8
	toks := seqTokens(100, vocab)
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	good := func() LM { return &kldLM{vocab: vocab, seed: 1} }
	bad := func(win, pos int, val float32) LM {
		return &kldBadLM{LM: &kldLM{vocab: vocab, seed: 1}, win: win, pos: pos, val: val}
	}
	overflow := funcLM{vocab, func(_, _, v int) float32 {
		if v == 0 {
			return 1e38
		}
		return -1e38
	}}
	ones := make([]int, 100)
	for i := range ones {
		ones[i] = 1
	}
	failing := kldErrLM{errors.New("out of memory")}
	cases := []struct {
		name          string
		dense, pruned LM
		toks          []int
		vocab         int
		o             KLDOptions
		want          string
	}{
		{"nan in pruned", good(), bad(5, 2, nan), toks, vocab, KLDOptions{BatchTokens: 3 * T},
			"window 5 (tokens 40–47) position 2: pruned model: logit 3 is NaN"},
		{"inf in dense", bad(2, 6, inf), good(), toks, vocab, KLDOptions{},
			"window 2 (tokens 16–23) position 6: dense model: logit 3 is +Inf"},
		{"-inf in dense", bad(0, 0, -inf), good(), toks, vocab, KLDOptions{},
			"window 0 (tokens 0–7) position 0: dense model: logit 3 is -Inf"},
		{"seqlen above context", good(), good(), toks, vocab, KLDOptions{SeqLen: 9}, "exceeds the model's context length 8"},
		{"seqlen 1", good(), good(), toks, vocab, KLDOptions{SeqLen: 1}, "seqlen 1: the wanda protocol needs at least 2"},
		{"text shorter than a window", good(), good(), toks[:5], vocab, KLDOptions{}, "fewer than one window"},
		{"token outside the vocabulary", good(), good(), toks, 5, KLDOptions{}, "window 0 position 1: token 10 outside the model's vocabulary of 5"},
		{"zero vocabulary", good(), good(), toks, 0, KLDOptions{}, "vocabulary size 0"},
		{"logits size", good(), &kldLM{vocab: vocab + 1, seed: 1}, toks, vocab, KLDOptions{},
			"window 0: pruned model returned 96 logits for 1 sequences × 8 tokens, want 88 (vocabulary 11)"},
		{"forward error", good(), failing, toks, vocab, KLDOptions{}, "window 0: pruned model: out of memory"},
		{"overflowing ppl", good(), overflow, ones, vocab, KLDOptions{}, "pruned model: mean NLL 2e+38 nats per token over 12 windows: the perplexity exp(2e+38) overflows float64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := KLD(context.Background(), c.dense, c.pruned, c.toks, T, c.vocab, c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestKLDCancelled(t *testing.T) {
	const vocab = 7
	toks := seqTokens(400, vocab)
	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		dense, pruned := kldPair(vocab)
		_, err := KLD(ctx, dense, pruned, toks, 10, vocab, KLDOptions{})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		if len(dense.calls) != 0 {
			t.Errorf("%d forward calls after cancellation", len(dense.calls))
		}
	})
	t.Run("between calls", func(t *testing.T) {
		// The pruned model's third call cancels and returns logits as
		// usual: the run must stop there, with the context's error.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		dense, pruned := kldPair(vocab)
		pruned.onCall = func(call int) {
			if call == 2 {
				cancel()
			}
		}
		_, err := KLD(ctx, dense, pruned, toks, 10, vocab, KLDOptions{BatchTokens: 10})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		if len(dense.calls) != 3 {
			t.Errorf("%d dense calls, want 3", len(dense.calls))
		}
	})
	t.Run("inside a call", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		slow := &slowLM{flatLM{vocab}, time.Minute}
		_, err := KLD(ctx, &kldLM{vocab: vocab}, slow, toks, 10, vocab, KLDOptions{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want the context's error", err)
		}
		if el := time.Since(start); el > 30*time.Second {
			t.Errorf("returned after %v", el)
		}
	})
}

// TestKLDStories260K runs the real model on the first windows of wikitext-2
// test: against itself the divergence is exactly 0, the perplexities are
// Perplexity's (wanda protocol, one window per call in both) exactly, and a
// copy with every fourth weight of every linear zeroed diverges.
func TestKLDStories260K(t *testing.T) {
	m, err := model.Load(datatest.Path(t, "models/stories260K"))
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(datatest.Path(t, "wikitext-2/test.txt"))
	if err != nil {
		t.Fatal(err)
	}
	const prefix = 30_000
	if len(text) > prefix {
		text = text[:prefix+bytes.IndexByte(text[prefix:], '\n')+1]
	}
	toks := m.Tokenizer.Encode(string(text), true, false)
	cfg := m.Config
	const windows = 4
	if len(toks) < windows*cfg.SeqLen {
		t.Fatalf("%d tokens, want at least %d", len(toks), windows*cfg.SeqLen)
	}
	o := KLDOptions{MaxWindows: windows, BatchTokens: cfg.SeqLen}
	ctx := context.Background()
	self, err := KLD(ctx, m, m, toks, cfg.SeqLen, cfg.Vocab, o)
	if err != nil {
		t.Fatal(err)
	}
	if self.Mean != 0 || self.Stderr != 0 || self.SameTop != 1 || self.PPLRatio != 1 {
		t.Errorf("against itself: mean %v ± %v, same top %v, ppl ratio %v; want exactly 0, 0, 1, 1",
			self.Mean, self.Stderr, self.SameTop, self.PPLRatio)
	}
	ppl, err := Perplexity(ctx, m, toks, cfg.SeqLen, PPLOptions{MaxWindows: windows, BatchTokens: cfg.SeqLen})
	if err != nil {
		t.Fatal(err)
	}
	if !relClose(self.DensePPL, ppl.PPL, 1e-9) || ppl.Scored != self.Scored {
		t.Errorf("dense ppl %v over %d positions, Perplexity %v over %d", self.DensePPL, self.Scored, ppl.PPL, ppl.Scored)
	}

	pm, err := model.Load(datatest.Path(t, "models/stories260K"))
	if err != nil {
		t.Fatal(err)
	}
	for l := range pm.Weights.Blocks {
		for _, lin := range pm.Weights.Blocks[l].Linears() {
			for i := 0; i < len(lin.W); i += 4 {
				lin.W[i] = 0
			}
		}
	}
	res, err := KLD(ctx, m, pm, toks, cfg.SeqLen, cfg.Vocab, o)
	if err != nil {
		t.Fatal(err)
	}
	pppl, err := Perplexity(ctx, pm, toks, cfg.SeqLen, PPLOptions{MaxWindows: windows, BatchTokens: cfg.SeqLen})
	if err != nil {
		t.Fatal(err)
	}
	if res.DensePPL != self.DensePPL || !relClose(res.PrunedPPL, pppl.PPL, 1e-9) {
		t.Errorf("ppl %v → %v, want %v → %v", res.DensePPL, res.PrunedPPL, self.DensePPL, pppl.PPL)
	}
	if res.Mean <= 0 || res.Stderr <= 0 || res.SameTop >= 1 || res.PPLRatio <= 1 {
		t.Errorf("quarter-zeroed model: mean %v ± %v, same top %v, ppl ratio %v; want a divergence", res.Mean, res.Stderr, res.SameTop, res.PPLRatio)
	}
	t.Logf("%d windows of %d: dense ppl %.4f (Perplexity %.4f), quarter-zeroed: KLD %.4f ± %.4f, same top %.3f, ppl %.4f (ratio %.3f)",
		res.Windows, res.SeqLen, res.DensePPL, ppl.PPL, res.Mean, res.Stderr, res.SameTop, res.PrunedPPL, res.PPLRatio)
	if self.DensePPL != ppl.PPL {
		t.Logf("dense ppl differs from Perplexity's by %g relative", math.Abs(self.DensePPL-ppl.PPL)/ppl.PPL)
	}
}
