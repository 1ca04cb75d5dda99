package runners

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/eval"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/results"
)

// calibrate samples the run's calibration windows once per session and
// setting: they are the same for every method, and sampling (reading and
// tokenising a corpus, or C4's rejection sampling) is the costly part of
// capturing block 0's inputs; their embedding is a table lookup that the
// pipeline redoes.
func (s *session) calibrate(p *prepared) (c *calibCapture, fresh bool, err error) {
	if c, ok := s.calib[p.calibKey]; ok {
		return c, false, nil
	}
	start := time.Now()
	encode := func(text string) []int { return s.m.Tokenizer.Encode(text, true, false) }
	windows, prov, err := data.Calibrate(s.dataDir, p.spec.Calib, encode)
	if err != nil {
		return nil, false, err
	}
	c = &calibCapture{windows: windows, prov: prov, seconds: time.Since(start).Seconds()}
	s.calib[p.calibKey] = c
	return c, true, nil
}

// keepDense tells whether the session keeps the dense linears to restore
// them after a run instead of reloading the checkpoint: when a second copy
// of the linears fits in the memory left beside the run's calibration
// activations, restoring is a copy of memory rather than a read and
// conversion of the whole file.
func (s *session) keepDense(p *prepared) bool {
	avail, what := availableMemory()
	if what == "" {
		return true
	}
	c := p.spec.Calib
	need := uint64(linearBytes(s.m)) + prune.CalibrationBytes(&s.m.Config, c.NSamples, c.SeqLen, p.spec.ChunkSeqs)
	return need+need/4 <= avail
}

func linearBytes(m *model.Model) int {
	n := 0
	for l := range m.Weights.Blocks {
		for _, lin := range m.Weights.Blocks[l].Linears() {
			n += 4 * len(lin.W)
		}
	}
	return n
}

// snapshotDense copies the dense linears before the first pruning. The
// copy shares everything else with the working model: pruning changes
// only the linears.
func (s *session) snapshotDense() error {
	if s.dense != nil {
		return nil
	}
	if s.pruned {
		return fmt.Errorf("dense snapshot of an already pruned model")
	}
	d := *s.m
	d.Weights.Blocks = make([]model.Block, len(s.m.Weights.Blocks))
	for l := range s.m.Weights.Blocks {
		d.Weights.Blocks[l] = s.m.Weights.Blocks[l]
		for _, lin := range d.Weights.Blocks[l].Linears() {
			lin.W = append([]float32(nil), lin.W...)
		}
	}
	s.dense = &d
	return nil
}

// restoreDense undoes an earlier run's pruning: from the dense copy when
// there is one, else by reloading the checkpoint.
func (s *session) restoreDense() error {
	if !s.pruned {
		return nil
	}
	if s.dense == nil {
		fmt.Fprintf(s.progress, "reloading %s: no memory for a dense copy\n", s.name)
		s.m, s.pruned = nil, false
		return s.open()
	}
	for l := range s.m.Weights.Blocks {
		src := s.dense.Weights.Blocks[l].Linears()
		for i, lin := range s.m.Weights.Blocks[l].Linears() {
			copy(lin.W, src[i].W)
		}
	}
	s.pruned = false
	return nil
}

// evaluate runs the evaluations in order: perplexities, zero-shot, KLD.
func (s *session) evaluate(ctx context.Context, p *prepared, out *Outcome, rec *results.Record) error {
	m := s.m
	budget := memoryBudget(p.spec.MaxMemory)
	for _, in := range p.ppl {
		fmt.Fprintf(s.progress, "ppl: %s: %d tokens\n", in.text.ref.Path, len(in.text.tokens))
		o := in.opts
		o.Progress = p.spec.Progress
		o.BatchTokens = maxBatchTokens(&m.Config, windowLen(o.SeqLen, m), budget)
		res, err := eval.Perplexity(ctx, m, in.text.tokens, m.Config.SeqLen, o)
		if err != nil {
			return fmt.Errorf("%s on %s: %w", s.name, in.text.ref.Path, err)
		}
		out.PPL = append(out.PPL, PPLOutcome{Spec: in.spec, Metric: in.metric, Text: in.text.ref, PPLResult: res})
		rec.Metrics[in.metric] = res.PPL
		rec.PPL = append(rec.PPL, results.PPL{Metric: in.metric, Dataset: in.spec.Dataset, Protocol: res.Protocol,
			SeqLen: res.SeqLen, MaxWindows: in.spec.MaxWindows, Windows: res.Windows, Scored: res.Scored,
			PPL: res.PPL, Stderr: res.Stderr, File: fileRef(in.text.ref)})
	}
	if z := p.spec.Eval.ZeroShot; z != nil {
		rec.ZeroShot = map[string]results.TaskScore{}
		paper, paperSum := 0, 0.0
		for _, t := range p.tasks {
			fmt.Fprintf(s.progress, "zeroshot: %s: %d documents from %s\n", t.Name, len(t.Docs), t.Path)
			r, err := eval.Evaluate(ctx, m, m.Tokenizer, m.Config.SeqLen, t, eval.ZeroShotOptions{
				Limit: z.Limit, Samples: p.spec.Samples, Progress: p.spec.Progress,
				MaxBatch: zeroShotMaxBatch(&m.Config, m.Config.SeqLen, budget),
			})
			if err != nil {
				return err
			}
			out.ZeroShot = append(out.ZeroShot, r)
			rec.ZeroShot[t.Name] = results.TaskScore{Docs: r.Docs, Limit: r.Limit, Acc: r.Acc, AccStderr: r.AccStderr,
				AccNorm: r.AccNorm, AccNormStderr: r.AccNormStderr, Files: fileRefs(t.Files)}
			rec.Metrics[t.Name+"_acc"] = r.Acc
			if r.AccNorm != nil {
				rec.Metrics[t.Name+"_acc_norm"] = *r.AccNorm
			}
			for _, pt := range eval.PaperTaskNames() {
				if pt == t.Name {
					paper++
					paperSum += r.Acc
				}
			}
		}
		// The papers' mean is over their seven tasks only; a subset's mean
		// would not be comparable with it and is not reported as such.
		if paper == len(eval.PaperTaskNames()) {
			rec.Metrics[results.MetricMeanAccPaper7] = paperSum / float64(paper)
		}
	}
	if k := p.spec.Eval.KLD; k != nil {
		dense := s.dense
		if dense == nil {
			dense = m // the dense run itself, or no pruning happened
		}
		fmt.Fprintf(s.progress, "kld: %s: %d tokens\n", p.kld.ref.Path, len(p.kld.tokens))
		o := p.kldOpts
		o.Progress = p.spec.Progress
		// Two models' logits per batch.
		o.BatchTokens = maxBatchTokens(&m.Config, windowLen(o.SeqLen, m), budget/2)
		r, err := eval.KLD(ctx, dense, m, p.kld.tokens, m.Config.SeqLen, m.Config.Vocab, o)
		if err != nil {
			return fmt.Errorf("kld on %s: %w", p.kld.ref.Path, err)
		}
		out.KLD = &r
		rec.KLD = &results.KLD{Dataset: k.Dataset, SeqLen: r.SeqLen, MaxWindows: k.MaxWindows, Windows: r.Windows,
			Tokens: r.Scored, Mean: r.Mean, Stderr: r.Stderr, SameTop: r.SameTop, PPLRatio: r.PPLRatio, File: fileRef(p.kld.ref)}
		rec.Metrics[results.MetricKLD] = r.Mean
		rec.Metrics[results.MetricSameTop] = r.SameTop
		rec.Metrics[results.MetricPPLRatio] = r.PPLRatio
	}
	return nil
}

// windowLen is an evaluation's window length: seqlen, or the context.
func windowLen(seqlen int, m *model.Model) int {
	if seqlen > 0 {
		return seqlen
	}
	return m.Config.SeqLen
}

func layerSummary(res *prune.Result) *results.Layers {
	l := &results.Layers{MeanRelError: res.MeanRelError}
	for _, b := range res.Blocks {
		for _, lr := range b.Linears {
			l.Linears++
			if lr.RelError > l.MaxRelError || math.IsNaN(lr.RelError) {
				l.MaxRelError = lr.RelError
			}
		}
	}
	return l
}

// calibSourceName is the calibration source as the user named it.
func calibSourceName(c data.CalibSpec) string {
	if c.Source == "" {
		return data.CorpusWikiText2Valid
	}
	return c.Source
}

func fileRef(r data.FileRef) results.File {
	return results.File{Path: r.Path, Size: r.Size, SHA256: r.SHA256}
}

func fileRefs(rs []data.FileRef) []results.File {
	out := make([]results.File, len(rs))
	for i, r := range rs {
		out[i] = fileRef(r)
	}
	return out
}

// modelPaths lists what VerifyPath must check for the model at path: path
// and, for a symbolic link, its target; a checkpoint file by its directory,
// as its vocabulary lies beside it.
func modelPaths(path string) []string {
	paths := []string{path}
	if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
		paths = append(paths, real)
	}
	for i, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			paths[i] = filepath.Dir(p)
		}
	}
	return paths
}
