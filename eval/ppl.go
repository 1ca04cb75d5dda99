package eval

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"
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
	BOS        int    // BOS id, for the llamacpp protocol
	// BatchTokens bounds the tokens sent to one Forward call, which bounds
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

// Perplexity scores tokens (the whole text, tokenised once with BOS) under
// one protocol. contextLen is the model's context length.
func Perplexity(ctx context.Context, lm LM, tokens []int, contextLen int, o PPLOptions) (PPLResult, error) {
	start := time.Now()
	if o.Protocol == "" {
		o.Protocol = ProtocolWanda
	}
	if o.SeqLen <= 0 {
		o.SeqLen = contextLen
	}
	T := o.SeqLen
	res := PPLResult{Protocol: o.Protocol, SeqLen: T, Tokens: len(tokens)}
	switch {
	case T > contextLen:
		return res, fmt.Errorf("seqlen %d exceeds the model's context length %d", T, contextLen)
	case T < 2:
		return res, fmt.Errorf("seqlen %d: need at least 2 tokens per window", T)
	case o.Protocol != ProtocolWanda && o.Protocol != ProtocolLlamaCpp:
		return res, fmt.Errorf("protocol %q: want %q or %q", o.Protocol, ProtocolWanda, ProtocolLlamaCpp)
	case o.Protocol == ProtocolLlamaCpp && len(tokens) < 2*T:
		return res, fmt.Errorf("llamacpp protocol needs at least 2·seqlen = %d tokens, the text has %d", 2*T, len(tokens))
	}
	n := len(tokens) / T
	if n == 0 {
		return res, fmt.Errorf("text has %d tokens, fewer than one window of %d", len(tokens), T)
	}
	res.Dropped = len(tokens) - n*T
	if o.MaxWindows > 0 && n > o.MaxWindows {
		n = o.MaxWindows
	}
	res.Windows = n

	// first is the first position whose logits are scored: every shifted
	// position for wanda, the second half for llama.cpp.
	first := 0
	if o.Protocol == ProtocolLlamaCpp {
		first = T / 2
	}
	batchTokens := o.BatchTokens
	if batchTokens <= 0 {
		batchTokens = 1 << 16
	}
	per := max(1, batchTokens/T)

	var sumWindowMean, sumNLL, sumNLL2 float64
	for w0 := 0; w0 < n; w0 += per {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		nb := min(per, n-w0)
		batch := make([]int, nb*T)
		copy(batch, tokens[w0*T:(w0+nb)*T])
		if o.Protocol == ProtocolLlamaCpp {
			for k := 0; k < nb; k++ {
				batch[k*T] = o.BOS
			}
		}
		logits, err := lm.Forward(batch, nb, T)
		if err != nil {
			return res, fmt.Errorf("window %d: %w", w0, err)
		}
		vocab := len(logits) / (nb * T)
		for k := 0; k < nb; k++ {
			var win float64
			for p := first; p < T-1; p++ {
				row := logits[(k*T+p)*vocab : (k*T+p+1)*vocab]
				// The target is the original token, also for llama.cpp
				// where only position 0 was replaced.
				nll := -logProb(row, tokens[(w0+k)*T+p+1])
				if math.IsNaN(nll) || math.IsInf(nll, 0) {
					return res, fmt.Errorf("window %d position %d: non-finite log-likelihood", w0+k, p)
				}
				win += nll
				sumNLL += nll
				sumNLL2 += nll * nll
				res.Scored++
			}
			sumWindowMean += win / float64(T-1-first)
		}
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "ppl: %d/%d windows, running ppl %.4f\n", w0+nb, n, math.Exp(sumWindowMean/float64(w0+nb)))
		}
	}
	if o.Protocol == ProtocolWanda {
		res.PPL = math.Exp(sumWindowMean / float64(n))
	} else {
		cnt := float64(res.Scored)
		mean := sumNLL / cnt
		res.PPL = math.Exp(mean)
		if res.Scored > 1 {
			res.Stderr = res.PPL * math.Sqrt(math.Max(0, sumNLL2/cnt-mean*mean)/(cnt-1))
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// logProb is log softmax(row)[target], computed in float64 with the max
// subtracted so large logits cannot overflow.
func logProb(row []float32, target int) float64 {
	m := float64(row[0])
	for _, v := range row[1:] {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return float64(row[target]) - m - math.Log(s)
}
