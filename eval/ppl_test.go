package eval

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// pplLM returns pseudo-random logits that depend on the token at each
// position and its position, and records the inputs it was given.
type pplLM struct {
	vocab  int
	inputs [][]int
}

func (h *pplLM) logit(tok, pos, v int) float32 {
	x := uint32(tok*7919+pos*104729+v*15485863) * 2654435761
	return float32(x%1000)/100 - 5
}

func (h *pplLM) ForwardContext(_ context.Context, tokens []int, nseq, T int) ([]float32, error) {
	out := make([]float32, nseq*T*h.vocab)
	for s := 0; s < nseq; s++ {
		h.inputs = append(h.inputs, append([]int(nil), tokens[s*T:(s+1)*T]...))
		for p := 0; p < T; p++ {
			for v := 0; v < h.vocab; v++ {
				out[(s*T+p)*h.vocab+v] = h.logit(tokens[s*T+p], p, v)
			}
		}
	}
	return out, nil
}

// suffixPPLLM is pplLM with ForwardFrom, which returns the logits of
// positions from..T−1 only, and records the from it was given.
type suffixPPLLM struct {
	*pplLM
	froms []int
}

func (h *suffixPPLLM) ForwardFrom(ctx context.Context, tokens []int, nseq, T, from int) ([]float32, error) {
	h.froms = append(h.froms, from)
	all, err := h.ForwardContext(ctx, tokens, nseq, T)
	if err != nil {
		return nil, err
	}
	var out []float32
	for s := 0; s < nseq; s++ {
		out = append(out, all[(s*T+from)*h.vocab:(s+1)*T*h.vocab]...)
	}
	return out, nil
}

// naiveNLL is -log softmax at one position, straight from the definition.
func (h *pplLM) naiveNLL(tok, pos, target int) float64 {
	var z float64
	for v := 0; v < h.vocab; v++ {
		z += math.Exp(float64(h.logit(tok, pos, v)))
	}
	return -math.Log(math.Exp(float64(h.logit(tok, pos, target))) / z)
}

func seqTokens(n, vocab int) []int {
	t := make([]int, n)
	for i := range t {
		t[i] = (i*31 + i*i) % vocab
	}
	return t
}

func TestPerplexityWanda(t *testing.T) {
	lm := &pplLM{vocab: 11}
	toks := seqTokens(103, 11)
	const T = 16
	res, err := Perplexity(context.Background(), lm, toks, 32, PPLOptions{SeqLen: T, BatchTokens: 40})
	if err != nil {
		t.Fatal(err)
	}
	// Reference: exp of the mean over windows of each window's mean NLL.
	n := len(toks) / T
	var sum float64
	for k := 0; k < n; k++ {
		var w float64
		for p := 0; p < T-1; p++ {
			w += lm.naiveNLL(toks[k*T+p], p, toks[k*T+p+1])
		}
		sum += w / (T - 1)
	}
	want := math.Exp(sum / float64(n))
	if math.Abs(res.PPL-want) > 1e-9*want {
		t.Errorf("ppl %v, want %v", res.PPL, want)
	}
	if res.Windows != 6 || res.Dropped != 7 || res.Scored != 6*15 || res.Tokens != 103 {
		t.Errorf("windows %d dropped %d scored %d tokens %d; want 6, 7, 90, 103", res.Windows, res.Dropped, res.Scored, res.Tokens)
	}
	for k, in := range lm.inputs {
		for p := range in {
			if in[p] != toks[k*T+p] {
				t.Fatalf("window %d position %d fed %d, want %d", k, p, in[p], toks[k*T+p])
			}
		}
	}
}

func TestPerplexityLlamaCpp(t *testing.T) {
	lm := &pplLM{vocab: 13}
	toks := seqTokens(70, 13)
	const T, bos = 20, 1
	res, err := Perplexity(context.Background(), lm, toks, 20, PPLOptions{Protocol: ProtocolLlamaCpp, SeqLen: T, BOS: bos})
	if err != nil {
		t.Fatal(err)
	}
	// Reference: the first token of each chunk replaced by BOS, positions
	// T/2..T-2 predict the original tokens T/2+1..T-1.
	n := len(toks) / T
	var sum, sum2 float64
	cnt := 0
	for k := 0; k < n; k++ {
		for p := T / 2; p < T-1; p++ {
			nll := lm.naiveNLL(toks[k*T+p], p, toks[k*T+p+1])
			sum += nll
			sum2 += nll * nll
			cnt++
		}
	}
	mean := sum / float64(cnt)
	want := math.Exp(mean)
	wantSE := want * math.Sqrt((sum2/float64(cnt)-mean*mean)/float64(cnt-1))
	if math.Abs(res.PPL-want) > 1e-9*want || math.Abs(res.Stderr-wantSE) > 1e-9*wantSE {
		t.Errorf("ppl %v ± %v, want %v ± %v", res.PPL, res.Stderr, want, wantSE)
	}
	if res.Scored != n*(T-1-T/2) {
		t.Errorf("scored %d, want %d", res.Scored, n*(T-1-T/2))
	}
	for k, in := range lm.inputs {
		if in[0] != bos {
			t.Errorf("chunk %d starts with %d, want BOS", k, in[0])
		}
	}

	// An LM that leaves out the unscored half's logits gives the same
	// result, asked for positions T/2 on.
	suffix := &suffixPPLLM{pplLM: &pplLM{vocab: 13}}
	got, err := Perplexity(context.Background(), suffix, toks, 20, PPLOptions{Protocol: ProtocolLlamaCpp, SeqLen: T, BOS: bos})
	if err != nil {
		t.Fatal(err)
	}
	if got.PPL != res.PPL || got.Stderr != res.Stderr || got.Scored != res.Scored {
		t.Errorf("with ForwardFrom: %+v, without: %+v", got, res)
	}
	if len(suffix.froms) == 0 || slices.ContainsFunc(suffix.froms, func(f int) bool { return f != T/2 }) {
		t.Errorf("ForwardFrom called from %v, want %d each time", suffix.froms, T/2)
	}

	// A vocabulary that adds no BOS (BOS −1): llama.cpp leaves every chunk
	// as the text has it.
	plain := &pplLM{vocab: 13}
	if _, err := Perplexity(context.Background(), plain, toks, 20, PPLOptions{Protocol: ProtocolLlamaCpp, SeqLen: T, BOS: -1}); err != nil {
		t.Fatal(err)
	}
	for k, in := range plain.inputs {
		if !slices.Equal(in, toks[k*T:(k+1)*T]) {
			t.Errorf("without BOS, chunk %d is %v, want the text's %v", k, in, toks[k*T:(k+1)*T])
		}
	}
}

func TestPerplexityMaxWindowsAndUniform(t *testing.T) {
	// A model with uniform logits has perplexity exactly the vocabulary size.
	lm := &flatLM{vocab: 37}
	res, err := Perplexity(context.Background(), lm, seqTokens(1000, 37), 64, PPLOptions{MaxWindows: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Windows != 3 || res.Scored != 3*63 || math.Abs(res.PPL-37) > 1e-9 {
		t.Errorf("got %d windows, %d scored, ppl %v; want 3, 189, 37", res.Windows, res.Scored, res.PPL)
	}
}

type flatLM struct{ vocab int }

func (c *flatLM) ForwardContext(_ context.Context, tokens []int, nseq, T int) ([]float32, error) {
	return make([]float32, nseq*T*c.vocab), nil
}

// funcLM returns logits from a function of the window's first token, the
// position and the vocabulary entry.
type funcLM struct {
	vocab int
	f     func(first, pos, v int) float32
}

func (m funcLM) ForwardContext(_ context.Context, tokens []int, nseq, T int) ([]float32, error) {
	out := make([]float32, nseq*T*m.vocab)
	for s := 0; s < nseq; s++ {
		for p := 0; p < T; p++ {
			for v := 0; v < m.vocab; v++ {
				out[(s*T+p)*m.vocab+v] = m.f(tokens[s*T], p, v)
			}
		}
	}
	return out, nil
}

// shortLM returns n logits whatever it is asked.
type shortLM struct{ n int }

func (m shortLM) ForwardContext(context.Context, []int, int, int) ([]float32, error) {
	return make([]float32, m.n), nil
}

func TestPerplexityErrors(t *testing.T) {
	flat := &flatLM{vocab: 5}
	nan := float32(math.NaN())
	toks := seqTokens(100, 5)
	// Token 1 throughout, except token 0 starting window 3 of 8 tokens,
	// whose logits at position 2 are NaN.
	ones := make([]int, 100)
	for i := range ones {
		ones[i] = 1
	}
	marked := slices.Clone(ones)
	marked[3*8] = 0
	nanAt3 := funcLM{5, func(first, pos, v int) float32 {
		if first == 0 && pos == 2 {
			return nan
		}
		return 0
	}}
	// Over ones, the target always has logit −1e38 and token 0 +1e38: every
	// NLL is about 2e38, finite, but exp of it overflows.
	overflow := funcLM{5, func(_, _, v int) float32 {
		if v == 0 {
			return 1e38
		}
		return -1e38
	}}
	cases := []struct {
		name string
		lm   LM
		toks []int
		ctx  int
		o    PPLOptions
		want string
	}{
		{"seqlen above context", flat, toks, 8, PPLOptions{SeqLen: 9}, "exceeds the model's context length 8"},
		{"text shorter than a window", flat, toks[:5], 8, PPLOptions{}, "fewer than one window"},
		{"unknown protocol", flat, toks, 8, PPLOptions{Protocol: "lmeval"}, `protocol "lmeval"`},
		{"llamacpp too short", flat, toks[:15], 8, PPLOptions{Protocol: ProtocolLlamaCpp}, "at least 2·seqlen = 16 tokens"},
		{"wanda seqlen 1", flat, toks, 8, PPLOptions{SeqLen: 1}, "seqlen 1: the wanda protocol needs at least 2 to score a token (wanda: 2, llamacpp: 3)"},
		{"llamacpp seqlen 2", flat, toks, 8, PPLOptions{SeqLen: 2, Protocol: ProtocolLlamaCpp}, "seqlen 2: the llamacpp protocol needs at least 3 to score a token"},
		{"nan logits", funcLM{5, func(int, int, int) float32 { return nan }}, toks, 8, PPLOptions{},
			"window 0 (tokens 0–7) position 0: log-likelihood is NaN: the model's logits are not finite"},
		{"nan in window 3", nanAt3, marked, 8, PPLOptions{}, "window 3 (tokens 24–31) position 2: log-likelihood is NaN"},
		{"infinite logit", funcLM{5, func(int, int, int) float32 { return float32(math.Inf(1)) }}, toks, 8, PPLOptions{}, "log-likelihood is NaN"},
		{"overflowing ppl", overflow, ones, 8, PPLOptions{}, "mean NLL 2e+38 nats per token over 12 windows: the perplexity exp(2e+38) overflows float64"},
		{"overflowing llamacpp ppl", overflow, ones, 8, PPLOptions{Protocol: ProtocolLlamaCpp}, "overflows float64"},
		{"logits size", shortLM{7}, toks, 8, PPLOptions{}, "window 0: forward returned 7 logits for 1 sequences × 8 tokens, not a positive multiple"},
		{"token outside the vocabulary", &flatLM{vocab: 2}, toks, 8, PPLOptions{}, "token 2 outside the model's vocabulary of 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Perplexity(context.Background(), c.lm, c.toks, c.ctx, c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestPerplexityCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Perplexity(ctx, &flatLM{vocab: 5}, seqTokens(100, 5), 10, PPLOptions{}); err == nil {
		t.Error("cancelled run returned no error")
	}
}

// sleepContext waits d, as a slow model's forward pass would, unless ctx is
// done first, as model.ForwardContext gives up.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// slowLM takes perWindow for each sequence, like a large model.
type slowLM struct {
	flatLM
	perWindow time.Duration
}

func (m *slowLM) ForwardContext(ctx context.Context, tokens []int, nseq, T int) ([]float32, error) {
	if err := sleepContext(ctx, time.Duration(nseq)*m.perWindow); err != nil {
		return nil, err
	}
	return m.flatLM.ForwardContext(ctx, tokens, nseq, T)
}

// TestPerplexityCancelledMidRun: the first call is one window, which takes
// minutes at seqlen 4096 on a 7B model (a minute here); the run stops
// within that call once the context is done, with the context's error.
func TestPerplexityCancelledMidRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Perplexity(ctx, &slowLM{flatLM{5}, time.Minute}, seqTokens(800, 5), 8, PPLOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the context's error", err)
	}
	// Far below the minute-long call, far above any scheduling delay: the
	// bound tells "stopped inside the call" from "waited it out".
	if el := time.Since(start); el > 30*time.Second {
		t.Errorf("returned after %v", el)
	}
}
