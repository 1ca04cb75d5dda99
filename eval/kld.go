package eval

import (
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"
)

// KLDOptions configures a KL-divergence run.
type KLDOptions struct {
	SeqLen     int // window length; 0 = the model context
	MaxWindows int // 0 = all windows
	// BatchTokens bounds the tokens sent to one ForwardContext call of each
	// model, which bounds the two logits buffers; 0 means 64k tokens, as
	// for Perplexity.
	BatchTokens int
	Progress    io.Writer // per-batch progress lines; nil = quiet
}

// KLDResult is the outcome of a KL-divergence run. Every statistic is over
// the same Scored positions.
type KLDResult struct {
	SeqLen  int `json:"seqlen"`
	Windows int `json:"windows"`
	// Scored is the number of positions that entered the statistics,
	// Windows·(SeqLen−1) (PPLResult.Scored; PPLResult.Tokens is the
	// whole text).
	Scored int `json:"scored"`
	// Mean is the mean KL(dense ‖ pruned) per position, in nats, and Stderr
	// its standard error: the sample standard deviation (n−1) over √n.
	Mean   float64 `json:"kld_mean"`
	Stderr float64 `json:"kld_stderr"`
	// SameTop is the fraction of positions where both models' most likely
	// next token (first maximal logit) is the same.
	SameTop float64 `json:"same_top"`
	// DensePPL and PrunedPPL are the wanda-protocol perplexities of the two
	// models on these windows, PPLRatio = PrunedPPL / DensePPL.
	DensePPL  float64 `json:"dense_ppl"`
	PrunedPPL float64 `json:"pruned_ppl"`
	PPLRatio  float64 `json:"ppl_ratio"`
	Seconds   float64 `json:"seconds"`
}

// kldRow is what one scored position contributes.
type kldRow struct {
	kl, nllDense, nllPruned float64
	sameTop                 bool
}

// KLD measures how far the pruned model's next-token distributions are from
// the dense model's, as llama.cpp's perplexity --kl-divergence does for a
// quantised model against its base: at every scored position,
//
//	KL(dense ‖ pruned) = Σ_v p_dense(v) · (log p_dense(v) − log p_pruned(v)).
//
// The direction is llama.cpp's, base distribution first: the divergence is
// an expectation under the dense model, the reference whose behaviour
// pruning should preserve, so it weighs most the tokens the dense model
// finds likely and punishes the pruned model for losing them; it is not
// symmetric, and KL(pruned ‖ dense) would instead be dominated by what the
// pruned model invents.
//
// The positions are those of the wanda perplexity protocol (PlanPerplexity
// with ProtocolWanda checks the settings and counts the windows): the first
// MaxWindows non-overlapping windows of SeqLen tokens from the start of
// tokens (the whole text, tokenised once with BOS), and in each window
// every position t = 0..SeqLen−2, whose distribution predicts token t+1.
// DensePPL and PrunedPPL are therefore each model's Perplexity under
// ProtocolWanda on the same windows, computed with the same arithmetic.
//
// Both models run on the same batch of windows, one after the other, and
// the batch is scored before the next is computed: no logits outlive their
// batch, so memory is bounded by two batches of logits, each of at most
// BatchTokens tokens (at least one window). Batches are sized as in
// Perplexity (one window first, then about batchTarget per call); ctx is
// passed to every call and checked while scoring. Log-softmax is computed
// in float64 with the maximum subtracted, from identical arithmetic for
// both models, so a model against itself gives exactly 0 and SameTop
// exactly 1. Statistics are accumulated in position order, so results do
// not depend on the batching or on the scoring goroutines.
//
// vocab is the vocabulary size: both models must return vocab logits per
// position, and every token of the windows must be below it. A NaN or
// infinite logit is an error naming the model, window and position.
func KLD(ctx context.Context, dense, pruned LM, tokens []int, contextLen, vocab int, o KLDOptions) (KLDResult, error) {
	start := time.Now()
	plan, err := PlanPerplexity(len(tokens), contextLen, PPLOptions{
		Protocol: ProtocolWanda, SeqLen: o.SeqLen, MaxWindows: o.MaxWindows})
	res := KLDResult{SeqLen: plan.SeqLen, Windows: plan.Windows}
	if err != nil {
		return res, err
	}
	T, n := plan.SeqLen, plan.Windows
	if vocab <= 0 {
		return res, fmt.Errorf("vocabulary size %d, want a positive one", vocab)
	}
	for i, tok := range tokens[:n*T] {
		if tok < 0 || tok >= vocab {
			return res, fmt.Errorf("window %d position %d: token %d outside the model's vocabulary of %d", i/T, i%T, tok, vocab)
		}
	}
	batchTokens := o.BatchTokens
	if batchTokens <= 0 {
		batchTokens = 1 << 16
	}
	maxPer := max(1, batchTokens/T)

	var (
		sumKL, meanKL, m2KL  float64 // running sum; Welford's mean and M2
		sumWinDense, sumWinP float64 // sums over windows of the mean NLL
		same                 int
		rows                 []kldRow
	)
	lastReport := start
	for w0, per := 0, 1; w0 < n; {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		nb := min(per, n-w0)
		t0 := time.Now()
		batch := tokens[w0*T : (w0+nb)*T]
		ld, err := forwardLogits(ctx, dense, "dense", batch, w0, nb, T, vocab)
		if err != nil {
			return res, err
		}
		lp, err := forwardLogits(ctx, pruned, "pruned", batch, w0, nb, T, vocab)
		if err != nil {
			return res, err
		}
		if need := nb * (T - 1); cap(rows) < need {
			rows = make([]kldRow, need)
		} else {
			rows = rows[:need]
		}
		if err := scoreKLDRows(ctx, rows, ld, lp, tokens, w0, T, vocab); err != nil {
			return res, err
		}
		for k := 0; k < nb; k++ {
			var winD, winP float64
			for _, r := range rows[k*(T-1) : (k+1)*(T-1)] {
				winD += r.nllDense
				winP += r.nllPruned
				sumKL += r.kl
				res.Scored++
				d := r.kl - meanKL
				meanKL += d / float64(res.Scored)
				m2KL += d * (r.kl - meanKL)
				if r.sameTop {
					same++
				}
			}
			sumWinDense += winD / float64(T-1)
			sumWinP += winP / float64(T-1)
		}
		w0 += nb
		// Size the next call as Perplexity does: about batchTarget, growing
		// at most twofold.
		if el := time.Since(t0); el > 0 {
			per = max(1, min(int(float64(nb)*float64(batchTarget)/float64(el)), 2*nb, maxPer))
		}
		if o.Progress != nil && (w0 == n || time.Since(lastReport) >= 5*time.Second) {
			lastReport = time.Now()
			fmt.Fprintf(o.Progress, "kld: %d/%d windows, mean KLD %.6f, same top %.2f%%, ppl %.4f → %.4f\n",
				w0, n, sumKL/float64(res.Scored), 100*float64(same)/float64(res.Scored),
				math.Exp(sumWinDense/float64(w0)), math.Exp(sumWinP/float64(w0)))
		}
	}
	cnt := float64(res.Scored)
	res.Mean = sumKL / cnt
	if res.Scored > 1 {
		res.Stderr = math.Sqrt(m2KL / (cnt - 1) / cnt)
	}
	res.SameTop = float64(same) / cnt
	meanD, meanP := sumWinDense/float64(n), sumWinP/float64(n)
	res.DensePPL, res.PrunedPPL = math.Exp(meanD), math.Exp(meanP)
	res.PPLRatio = res.PrunedPPL / res.DensePPL
	for _, c := range []struct {
		name      string
		mean, ppl float64
	}{{"dense", meanD, res.DensePPL}, {"pruned", meanP, res.PrunedPPL}} {
		if math.IsInf(c.ppl, 0) {
			return res, fmt.Errorf("%s model: mean NLL %.6g nats per token over %d windows: the perplexity exp(%.6g) overflows float64", c.name, c.mean, n, c.mean)
		}
	}
	if math.IsInf(res.Mean, 0) || math.IsNaN(res.Mean) || math.IsInf(res.Stderr, 0) || math.IsNaN(res.Stderr) {
		return res, fmt.Errorf("mean KL divergence %v ± %v over %d positions is not finite", res.Mean, res.Stderr, res.Scored)
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// forwardLogits runs one model on nb windows starting at window w0 and
// checks the size of its logits. Each model gets its own copy of the
// tokens, as in Perplexity.
func forwardLogits(ctx context.Context, lm LM, name string, batch []int, w0, nb, T, vocab int) ([]float32, error) {
	logits, err := lm.ForwardContext(ctx, slices.Clone(batch), nb, T)
	if err != nil {
		return nil, fmt.Errorf("window %d: %s model: %w", w0, name, err)
	}
	if len(logits) != nb*T*vocab {
		return nil, fmt.Errorf("window %d: %s model returned %d logits for %d sequences × %d tokens, want %d (vocabulary %d)",
			w0, name, len(logits), nb, T, nb*T*vocab, vocab)
	}
	return logits, nil
}

// kldCheckEvery is how many rows a scoring goroutine scores between looks
// at ctx.
const kldCheckEvery = 64

// scoreKLDRows fills rows (the scored positions of the batch starting at
// window w0, window by window) from the two models' logits, splitting them
// between goroutines. Each row depends only on its own logits, so the
// result does not depend on the split; the error reported is that of the
// first failing row.
func scoreKLDRows(ctx context.Context, rows []kldRow, ld, lp []float32, tokens []int, w0, T, vocab int) error {
	workers := max(1, min(runtime.GOMAXPROCS(0), len(rows)/16))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*len(rows)/workers, (w+1)*len(rows)/workers
		wg.Go(func() {
			for r := lo; r < hi; r++ {
				if (r-lo)%kldCheckEvery == 0 {
					if err := ctx.Err(); err != nil {
						errs[w] = err
						return
					}
				}
				k, p := r/(T-1), r%(T-1)
				off := (k*T + p) * vocab
				target := tokens[(w0+k)*T+p+1]
				var err error
				rows[r], err = kldRowOf(ld[off:off+vocab], lp[off:off+vocab], target)
				if err != nil {
					win := w0 + k
					errs[w] = fmt.Errorf("window %d (tokens %d–%d) position %d: %w", win, win*T, (win+1)*T-1, p, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// logSoftmaxParts returns the maximum m of row, log Σ exp(row−m) and the
// index of the first maximum, or an error for a non-finite logit. The
// log-probability of entry i is then float64(row[i]) − m − lse, the
// arithmetic of logProb.
func logSoftmaxParts(row []float32) (m, lse float64, top int, err error) {
	m = math.Inf(-1)
	for i, v := range row {
		x := float64(v)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, 0, 0, fmt.Errorf("logit %d is %v", i, v)
		}
		if x > m {
			m, top = x, i
		}
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return m, math.Log(s), top, nil
}

// kldRowOf scores one position: dense and pruned are its logit rows and
// target the next token.
func kldRowOf(dense, pruned []float32, target int) (kldRow, error) {
	md, lsed, topD, err := logSoftmaxParts(dense)
	if err != nil {
		return kldRow{}, fmt.Errorf("dense model: %w", err)
	}
	mp, lsep, topP, err := logSoftmaxParts(pruned)
	if err != nil {
		return kldRow{}, fmt.Errorf("pruned model: %w", err)
	}
	var kl float64
	for i := range dense {
		// Both log-probabilities come from the same expression, so equal
		// rows give equal values and every term is exactly 0.
		logPD := float64(dense[i]) - md - lsed
		logPP := float64(pruned[i]) - mp - lsep
		kl += math.Exp(logPD) * (logPD - logPP)
	}
	r := kldRow{
		kl:        kl,
		nllDense:  -(float64(dense[target]) - md - lsed),
		nllPruned: -(float64(pruned[target]) - mp - lsep),
		sameTop:   topD == topP,
	}
	return r, nil
}
