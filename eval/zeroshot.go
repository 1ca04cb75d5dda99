package eval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/linalg"
	"github.com/prunebench/prunebench/tokenizer"
)

// LM is what evaluation needs from a model.
type LM interface {
	// ForwardContext returns logits ((nseq·T)×vocab, row-major) for nseq
	// equal-length sequences laid out one after another in tokens. It
	// returns ctx.Err() soon after ctx is done, even within one call: a
	// call over a full window of a large model takes minutes.
	ForwardContext(ctx context.Context, tokens []int, nseq, T int) ([]float32, error)
}

// ZeroShotOptions configures Evaluate.
type ZeroShotOptions struct {
	// Limit keeps the first Limit documents in file order (not lm-eval's
	// seeded shuffle); 0 means all.
	Limit int
	// MaxBatch caps the sequences sent to one ForwardContext call, which bounds the
	// logits buffer (sequences × length × vocab floats); 0 sends all the
	// requests of a document together.
	MaxBatch int
	// Samples, when set, receives one JSON line per document, in document
	// order.
	Samples io.Writer
	// Progress, when set, receives a line every 5% of the documents.
	Progress io.Writer
}

// TaskResult is the outcome of one task. Standard errors are nil when
// undefined (fewer than two documents); AccNorm is nil for tasks without it.
type TaskResult struct {
	Task      string `json:"task"`
	Docs      int    `json:"docs"`
	Requests  int    `json:"requests"`
	Truncated int    `json:"truncated"` // requests left-truncated to the context length
	// Limit is ZeroShotOptions.Limit: the first Limit documents in file order.
	Limit         int               `json:"limit,omitempty"`
	Acc           float64           `json:"acc"`
	AccStderr     *float64          `json:"acc_stderr"`
	AccNorm       *float64          `json:"acc_norm,omitempty"`
	AccNormStderr *float64          `json:"acc_norm_stderr,omitempty"`
	Source        string            `json:"source"`
	Files         []data.FileRef    `json:"files"` // Task.Files: what the documents came from
	Format        string            `json:"format"`
	Settings      map[string]string `json:"settings,omitempty"`
	Seconds       float64           `json:"seconds"`
}

// docWorkers is how many documents are scored at once: the machines have two
// cores, and one ForwardContext of a short document does not fill both.
const docWorkers = 2

// request is one (context, continuation) pair in tokens.
type request struct{ ctx, cont []int }

// buildRequest tokenises a pair as lm-eval's _encode_pair does (no BOS): a
// context's trailing whitespace moves to the continuation, and the
// continuation is what the whole encoding has beyond the context's length,
// even when a merge straddles the boundary. An empty context is EOS.
func buildRequest(tok tokenizer.Tokenizer, context, continuation string) (request, error) {
	if context == "" {
		return request{ctx: []int{tok.EOS()}, cont: tok.Encode(continuation, false, false)}, nil
	}
	trimmed := strings.TrimRightFunc(context, pyIsSpace)
	context, continuation = trimmed, context[len(trimmed):]+continuation
	whole := tok.Encode(context+continuation, false, false)
	ctx := tok.Encode(context, false, false)
	if len(ctx) == 0 {
		return request{}, fmt.Errorf("context %s encodes to no tokens", excerpt([]byte(context)))
	}
	cont := []int{}
	if len(whole) > len(ctx) {
		cont = whole[len(ctx):]
	}
	return request{ctx: ctx, cont: cont}, nil
}

// input is the model input: (ctx ++ cont) left-truncated to L+1 tokens,
// without its last token. truncated tells whether anything was cut.
func (r request) input(L int) (inp []int, truncated bool) {
	all := append(append(make([]int, 0, len(r.ctx)+len(r.cont)), r.ctx...), r.cont...)
	if len(all) > L+1 {
		all, truncated = all[len(all)-(L+1):], true
	}
	return all[:len(all)-1], truncated
}

// scored is one document's outcome.
type scored struct {
	ll        []float64
	greedy    []bool
	truncated int
	pred      int
	predNorm  int
}

// scoreRequests returns each request's summed continuation log-likelihood and
// whether every continuation token was the argmax, sending at most maxBatch
// sequences (0 = all) to each ForwardContext call, which stops soon after
// ctx is done.
func scoreRequests(ctx context.Context, lm LM, reqs []request, L, maxBatch int) (ll []float64, greedy []bool, truncated int, err error) {
	ll = make([]float64, len(reqs))
	greedy = make([]bool, len(reqs))
	inputs := make([][]int, len(reqs))
	var todo []int // requests with continuation tokens to score
	for i, r := range reqs {
		greedy[i] = true // lm-eval: all() over no tokens
		if len(r.cont) == 0 {
			continue
		}
		var cut bool
		inputs[i], cut = r.input(L)
		if cut {
			truncated++
		}
		todo = append(todo, i)
	}
	if maxBatch <= 0 {
		maxBatch = len(todo)
	}
	for b := 0; b < len(todo); b += maxBatch {
		if err := ctx.Err(); err != nil {
			return nil, nil, 0, err
		}
		batch := todo[b:min(b+maxBatch, len(todo))]
		T := 0
		for _, i := range batch {
			T = max(T, len(inputs[i]))
		}
		// Right padding: causal attention keeps it from reaching the
		// positions scored. Id 0 is valid in every vocabulary.
		tokens := make([]int, len(batch)*T)
		for k, i := range batch {
			copy(tokens[k*T:], inputs[i])
		}
		logits, err := lm.ForwardContext(ctx, tokens, len(batch), T)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("forward of %d sequences × %d tokens: %w", len(batch), T, err)
		}
		V, err := logitsVocab(len(logits), len(batch), T)
		if err != nil {
			return nil, nil, 0, err
		}
		for k, i := range batch {
			n, c := len(inputs[i]), reqs[i].cont
			// A continuation longer than the context keeps only the
			// tokens that have a position before them in the window.
			// lm-eval would fail here (its gather gets mismatched
			// shapes); EVALUATION.md §3.5 wants such requests scored.
			c = c[max(0, len(c)-n):]
			for j, target := range c {
				if target < 0 || target >= V {
					return nil, nil, 0, fmt.Errorf("request %d: token %d outside the model's vocabulary of %d", i, target, V)
				}
				// Position p's logits predict token p+1 of the input, so
				// the last len(c) positions predict the continuation.
				p := n - len(c) + j
				row := logits[(k*T+p)*V : (k*T+p+1)*V]
				lp := logProb(row, target)
				if err := finiteLL(lp); err != nil {
					return nil, nil, 0, fmt.Errorf("request %d (continuation token %d of %d): %w", i, len(reqs[i].cont)-len(c)+j, len(reqs[i].cont), err)
				}
				ll[i] += lp
				greedy[i] = greedy[i] && linalg.Argmax(row) == target
			}
		}
	}
	return ll, greedy, truncated, nil
}

// argmax returns the index of the largest score, the first on ties, or the
// last when tieToLast is set.
func argmax(s []float64, tieToLast bool) int {
	best := 0
	for i := 1; i < len(s); i++ {
		if s[i] > s[best] || (tieToLast && s[i] == s[best]) {
			best = i
		}
	}
	return best
}

// scoreDoc builds and scores the requests of one document and predicts.
func scoreDoc(ctx context.Context, lm LM, tok tokenizer.Tokenizer, L, maxBatch int, task *Task, d *Doc) (scored, error) {
	reqs := make([]request, len(d.Contexts))
	for k := range reqs {
		var err error
		if reqs[k], err = buildRequest(tok, d.Contexts[k], d.Continuations[k]); err != nil {
			return scored{}, err
		}
	}
	ll, greedy, cut, err := scoreRequests(ctx, lm, reqs, L, maxBatch)
	if err != nil {
		return scored{}, err
	}
	s := scored{ll: ll, greedy: greedy, truncated: cut, pred: argmax(ll, task.tieToLast)}
	if task.AccNorm {
		norm := make([]float64, len(ll))
		for k, c := range d.Choices {
			norm[k] = ll[k] / float64(utf8.RuneCountInString(c))
		}
		s.predNorm = argmax(norm, false)
	}
	return s, nil
}

// sample is the JSON line written per document.
type sample struct {
	Task     string    `json:"task"`
	Doc      int       `json:"doc"`
	Line     int       `json:"line"`
	Gold     int       `json:"gold"`
	LL       []float64 `json:"ll"`
	IsGreedy []bool    `json:"is_greedy"`
	Pred     int       `json:"pred"`
	Acc      int       `json:"acc"`
	PredNorm *int      `json:"pred_norm,omitempty"`
	AccNorm  *int      `json:"acc_norm,omitempty"`
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Evaluate scores a task: contextLen is the model's context length L, which
// long requests are left-truncated to. Two documents are scored at a time,
// so lm.ForwardContext and tok.Encode are called from two goroutines.
func Evaluate(ctx context.Context, lm LM, tok tokenizer.Tokenizer, contextLen int, task *Task, opts ZeroShotOptions) (TaskResult, error) {
	start := time.Now()
	switch {
	case task == nil || len(task.Docs) == 0:
		return TaskResult{}, errors.New("zero-shot: no task documents")
	case contextLen <= 0:
		return TaskResult{}, fmt.Errorf("zero-shot %s: context length %d: must be positive", task.Name, contextLen)
	case opts.Limit < 0:
		return TaskResult{}, fmt.Errorf("zero-shot %s: limit %d: must be ≥ 0", task.Name, opts.Limit)
	case opts.MaxBatch < 0:
		return TaskResult{}, fmt.Errorf("zero-shot %s: max batch %d: must be ≥ 0", task.Name, opts.MaxBatch)
	}
	docs := task.Docs
	if opts.Limit > 0 && opts.Limit < len(docs) {
		docs = docs[:opts.Limit]
	}
	res := TaskResult{Task: task.Name, Docs: len(docs), Limit: opts.Limit, Source: task.Path,
		Files: task.Files, Format: task.Format, Settings: task.Settings}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]scored, len(docs))
	done := make([]bool, len(docs))
	var (
		mu       sync.Mutex
		next     int // documents [0,next) are reported
		firstErr error
		errDoc   int // the document of firstErr when a document failed
		correct  int
		every    = max(1, len(docs)/20)
		stopFeed = make(chan struct{})
		stopOnce sync.Once
	)
	// finish records document i and reports every completed prefix in order,
	// so samples and progress do not depend on scheduling.
	finish := func(i int, s scored, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			// A cancelled context is reported once, below, not as a
			// document's failure. The documents in flight finish rather
			// than being cancelled, and the earliest failure is reported,
			// so that the error does not depend on scheduling.
			if (firstErr == nil || i < errDoc) && !(ctx.Err() != nil && errors.Is(err, ctx.Err())) {
				firstErr = fmt.Errorf("zero-shot %s: %s:%d: document %d: %w", task.Name, task.Path, docs[i].Line, i, err)
				errDoc = i
				stopOnce.Do(func() { close(stopFeed) })
			}
			return
		}
		out[i], done[i] = s, true
		for ; next < len(docs) && done[next] && firstErr == nil; next++ {
			d, s := &docs[next], &out[next]
			correct += b2i(s.pred == d.Gold)
			if opts.Samples != nil {
				line := sample{Task: task.Name, Doc: next, Line: d.Line, Gold: d.Gold, LL: s.ll, IsGreedy: s.greedy,
					Pred: s.pred, Acc: b2i(s.pred == d.Gold)}
				if task.AccNorm {
					acc := b2i(s.predNorm == d.Gold)
					line.PredNorm, line.AccNorm = &s.predNorm, &acc
				}
				b, _ := json.Marshal(line) // finite floats and plain types only
				if _, err := opts.Samples.Write(append(b, '\n')); err != nil {
					firstErr = fmt.Errorf("zero-shot %s: writing samples: %w", task.Name, err)
					cancel()
				}
			}
			if opts.Progress != nil && ((next+1)%every == 0 || next+1 == len(docs)) {
				fmt.Fprintf(opts.Progress, "%s: %d/%d docs, acc %.4f, %.1fs\n", task.Name, next+1, len(docs),
					float64(correct)/float64(next+1), time.Since(start).Seconds())
			}
		}
	}

	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(docWorkers, len(docs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				s, err := scoreDoc(ctx, lm, tok, contextLen, opts.MaxBatch, task, &docs[i])
				finish(i, s, err)
			}
		}()
	}
feed:
	for i := range docs {
		select {
		case jobs <- i:
		case <-stopFeed:
			break feed
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return res, firstErr
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("zero-shot %s: %w", task.Name, err)
	}

	var accs, norms []bool
	for i, s := range out {
		res.Requests += len(s.ll)
		res.Truncated += s.truncated
		accs = append(accs, s.pred == docs[i].Gold)
		norms = append(norms, s.predNorm == docs[i].Gold)
	}
	res.Acc, res.AccStderr = meanStderr(accs)
	if task.AccNorm {
		m, se := meanStderr(norms)
		res.AccNorm, res.AccNormStderr = &m, se
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// meanStderr is the mean of 0/1 scores and lm-eval's mean_stderr, the sample
// standard deviation over √n, which for 0/1 scores is sqrt(p(1−p)/(n−1)).
// The standard error is nil for n < 2, where it is undefined.
func meanStderr(x []bool) (float64, *float64) {
	n := float64(len(x))
	var k float64
	for _, v := range x {
		if v {
			k++
		}
	}
	p := k / n
	if len(x) < 2 {
		return p, nil
	}
	se := math.Sqrt(p * (1 - p) / (n - 1))
	return p, &se
}
