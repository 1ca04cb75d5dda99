package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/prunebench/prunebench/linalg"
)

// Perplexity protocols (EVALUATION.md §1).
const (
	// ProtocolWanda is the pruning papers' protocol: non-overlapping
	// windows of seqlen tokens, every shifted position scored, BOS once.
	ProtocolWanda = "wanda"
	// ProtocolLlamaCpp is llama.cpp's: chunks of seqlen tokens whose first
	// token is replaced by BOS, only the second half scored.
	ProtocolLlamaCpp = "llamacpp"
)

// PPLOptions configures a perplexity run.
type PPLOptions struct {
	Protocol   string // ProtocolWanda (default) or ProtocolLlamaCpp
	SeqLen     int    // window length; must not exceed the model context
	MaxWindows int    // 0 = all windows
	// BOS is the id the llamacpp protocol puts first in every chunk;
	// negative for a vocabulary that adds no BOS (Qwen), whose chunks
	// llama.cpp leaves as they are.
	BOS int
	// BatchTokens bounds the tokens sent to one ForwardContext call, which bounds
	// the logits buffer; 0 means 64k tokens.
	BatchTokens int
	Progress    io.Writer // per-batch progress lines; nil = quiet
}

// PPLResult is the outcome of a perplexity run.
type PPLResult struct {
	Protocol string  `json:"protocol"`
	SeqLen   int     `json:"seqlen"`
	Windows  int     `json:"windows"`
	Tokens   int     `json:"tokens"`  // tokens of the whole text, BOS included
	Scored   int     `json:"scored"`  // predicted tokens that entered the mean
	Dropped  int     `json:"dropped"` // trailing tokens that fill no window
	PPL      float64 `json:"ppl"`
	// Stderr is llama.cpp's printed uncertainty (llamacpp protocol only).
	Stderr  float64 `json:"ppl_stderr,omitempty"`
	Seconds float64 `json:"seconds"`
}

// MinSeqLen is the shortest window in which a protocol scores a token: 2
// for wanda (every shifted position), 3 for llamacpp (its scored second half
// starts at seqlen/2 and ends before the last position); 0 for an unknown
// protocol.
func MinSeqLen(protocol string) int {
	switch protocol {
	case ProtocolWanda:
		return 2
	case ProtocolLlamaCpp:
		return 3
	}
	return 0
}

// batchTarget is how long one ForwardContext call should take, within
// BatchTokens: a streaming model reads every block once per call (on a
// 674 MB F32 model, 16 one-window calls spent a tenth of their time
// reading), and progress lines, which come between calls, are printed
// every 5 s at most anyway. Cancellation does not wait for a call to end,
// since ForwardContext looks at ctx inside every block.
const batchTarget = 5 * time.Second

// PlanPerplexity checks, before any work, that ntokens tokens can be scored
// under o with a model of context length contextLen, and returns the
// result's settings and window counts (Protocol, SeqLen, Tokens, Windows,
// Dropped). Windows too short to score a token (MinSeqLen) or a text shorter
// than the protocol needs are errors.
func PlanPerplexity(ntokens, contextLen int, o PPLOptions) (PPLResult, error) {
	if o.Protocol == "" {
		o.Protocol = ProtocolWanda
	}
	if o.SeqLen <= 0 {
		o.SeqLen = contextLen
	}
	T := o.SeqLen
	res := PPLResult{Protocol: o.Protocol, SeqLen: T, Tokens: ntokens}
	switch minT := MinSeqLen(o.Protocol); {
	case minT == 0:
		return res, fmt.Errorf("protocol %q: want %q or %q", o.Protocol, ProtocolWanda, ProtocolLlamaCpp)
	case T > contextLen:
		return res, fmt.Errorf("seqlen %d exceeds the model's context length %d", T, contextLen)
	case T < minT:
		return res, fmt.Errorf("seqlen %d: the %s protocol needs at least %d to score a token (%s: %d, %s: %d)",
			T, o.Protocol, minT, ProtocolWanda, MinSeqLen(ProtocolWanda), ProtocolLlamaCpp, MinSeqLen(ProtocolLlamaCpp))
	case o.Protocol == ProtocolLlamaCpp && ntokens/2 < T:
		return res, fmt.Errorf("llamacpp protocol needs at least 2·seqlen = %d tokens, the text has %d", 2*T, ntokens)
	}
	n := ntokens / T
	if n == 0 {
		return res, fmt.Errorf("text has %d tokens, fewer than one window of %d", ntokens, T)
	}
	res.Dropped = ntokens - n*T
	if o.MaxWindows > 0 && n > o.MaxWindows {
		n = o.MaxWindows
	}
	res.Windows = n
	return res, nil
}

// Perplexity scores tokens (the whole text, tokenised once, with BOS when
// the vocabulary adds one) under
// one protocol. contextLen is the model's context length. Windows too short
// to score a token (MinSeqLen) are refused before any work, and a NaN or
// infinite log-likelihood or perplexity is an error naming the window, never
// a result. The first ForwardContext call gets one window, later ones as
// many as take about batchTarget (at most BatchTokens tokens); ctx is passed
// to every call, which stops soon after it is done, even within a window.
func Perplexity(ctx context.Context, lm LM, tokens []int, contextLen int, o PPLOptions) (PPLResult, error) {
	start := time.Now()
	res, err := PlanPerplexity(len(tokens), contextLen, o)
	if err != nil {
		return res, err
	}
	o.Protocol, o.SeqLen = res.Protocol, res.SeqLen
	T, n := res.SeqLen, res.Windows

	first := LogitsFrom(o.Protocol, T)
	batchTokens := o.BatchTokens
	if batchTokens <= 0 {
		batchTokens = 1 << 16
	}
	maxPer := max(1, batchTokens/T)

	var sumWindowMean, sumNLL, sumNLL2 float64
	lastReport := start
	for w0, per := 0, 1; w0 < n; {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		nb := min(per, n-w0)
		t0 := time.Now()
		batch := make([]int, nb*T)
		copy(batch, tokens[w0*T:(w0+nb)*T])
		if o.Protocol == ProtocolLlamaCpp && o.BOS >= 0 {
			for k := 0; k < nb; k++ {
				batch[k*T] = o.BOS
			}
		}
		logits, rows, err := forwardFrom(ctx, lm, batch, nb, T, first)
		if err != nil {
			return res, fmt.Errorf("window %d: %w", w0, err)
		}
		vocab, err := logitsVocab(len(logits), nb, rows)
		if err != nil {
			return res, fmt.Errorf("window %d: %w", w0, err)
		}
		// The log-softmaxes, one vocabulary-wide pass each, on every core;
		// they are summed below in position order, as one core would.
		scored := T - 1 - first
		nlls := make([]float64, nb*scored)
		linalg.ParallelFor(nb*scored, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				k, p := j/scored, first+j%scored
				// The target is the original token, also for llama.cpp
				// where only position 0 was replaced; one outside the
				// vocabulary is reported below.
				if target := tokens[(w0+k)*T+p+1]; target >= 0 && target < vocab {
					r := k*rows + p - (T - rows)
					nlls[j] = -logProb(logits[r*vocab:(r+1)*vocab], target)
				}
			}
		})
		for k := 0; k < nb; k++ {
			var win float64
			for p := first; p < T-1; p++ {
				target := tokens[(w0+k)*T+p+1]
				if target < 0 || target >= vocab {
					return res, fmt.Errorf("window %d position %d: token %d outside the model's vocabulary of %d", w0+k, p, target, vocab)
				}
				nll := nlls[k*scored+p-first]
				if err := finiteLL(-nll); err != nil {
					return res, fmt.Errorf("window %d (tokens %d–%d) position %d: %w", w0+k, (w0+k)*T, (w0+k+1)*T-1, p, err)
				}
				win += nll
				sumNLL += nll
				sumNLL2 += nll * nll
				res.Scored++
			}
			sumWindowMean += win / float64(T-1-first)
		}
		w0 += nb
		// Size the next call to take about batchTarget, growing at most
		// twofold so that one fast call cannot make the next one huge.
		if el := time.Since(t0); el > 0 {
			per = max(1, min(int(float64(nb)*float64(batchTarget)/float64(el)), 2*nb, maxPer))
		}
		if o.Progress != nil && (w0 == n || time.Since(lastReport) >= 5*time.Second) {
			lastReport = time.Now()
			fmt.Fprintf(o.Progress, "ppl: %d/%d windows, running ppl %.4f\n", w0, n, math.Exp(sumWindowMean/float64(w0)))
		}
	}
	var mean float64
	if o.Protocol == ProtocolWanda {
		mean = sumWindowMean / float64(n)
		res.PPL = math.Exp(mean)
	} else {
		cnt := float64(res.Scored)
		mean = sumNLL / cnt
		res.PPL = math.Exp(mean)
		if res.Scored > 1 {
			res.Stderr = res.PPL * math.Sqrt(math.Max(0, sumNLL2/cnt-mean*mean)/(cnt-1))
		}
	}
	if math.IsInf(res.PPL, 0) || math.IsInf(res.Stderr, 0) {
		return res, fmt.Errorf("mean NLL %.6g nats per token over %d windows: the perplexity exp(%.6g) overflows float64", mean, n, mean)
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// logitsVocab checks that ForwardContext returned whole rows for nseq×T positions
// and returns the row length, the vocabulary size.
func logitsVocab(n, nseq, T int) (int, error) {
	if n == 0 || n%(nseq*T) != 0 {
		return 0, fmt.Errorf("forward returned %d logits for %d sequences × %d tokens, not a positive multiple", n, nseq, T)
	}
	return n / (nseq * T), nil
}

// finiteLL reports a NaN or infinite log-likelihood: NaN comes from NaN or
// infinite logits (broken weights), -Inf from a target whose probability
// underflowed to 0.
func finiteLL(ll float64) error {
	switch {
	case math.IsNaN(ll):
		return errors.New("log-likelihood is NaN: the model's logits are not finite")
	case math.IsInf(ll, 0):
		return fmt.Errorf("log-likelihood is %v: the target's probability is 0", ll)
	}
	return nil
}

// LogitsFrom is the first position of a window of T whose logits a
// protocol scores: every shifted position for wanda, the second half for
// llama.cpp (whose first half is only context). An LM with ForwardFrom is
// asked for the logits from there on only.
func LogitsFrom(protocol string, T int) int {
	if protocol == ProtocolLlamaCpp {
		return T / 2
	}
	return 0
}

// suffixLM is an LM that can leave out the logits of each sequence's first
// positions (model.Model's ForwardFrom).
type suffixLM interface {
	ForwardFrom(ctx context.Context, tokens []int, nseq, T, from int) ([]float32, error)
}

// forwardFrom returns logits for positions from..T−1 of each sequence, or
// for all T when lm cannot leave the others out, with the rows per
// sequence it returned.
func forwardFrom(ctx context.Context, lm LM, tokens []int, nseq, T, from int) ([]float32, int, error) {
	if s, ok := lm.(suffixLM); ok && from > 0 {
		logits, err := s.ForwardFrom(ctx, tokens, nseq, T, from)
		return logits, T - from, err
	}
	logits, err := lm.ForwardContext(ctx, tokens, nseq, T)
	return logits, T, err
}

// logProb is log softmax(row)[target], computed in float64 with the max
// subtracted so large logits cannot overflow.
func logProb(row []float32, target int) float64 {
	// The vectorised max is the exact float32 maximum; a NaN or +Inf logit
	// still makes the sum below NaN, which finiteLL reports.
	m := float64(linalg.MaxOf(row))
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return float64(row[target]) - m - math.Log(s)
}
