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
	encode := func(text string) []int { return s.m.Tokenizer.Encode(text, s.m.AddBOS(), false) }
	windows, prov, err := data.Calibrate(s.dataDir, p.spec.Calib, encode)
	if err != nil {
		return nil, false, err
	}
	c = &calibCapture{windows: windows, prov: prov, seconds: time.Since(start).Seconds()}
	s.calib[p.calibKey] = c
	return c, true, nil
}

// linearBytes is the float32 size of the 7·L linears, from the config:
// a streaming model holds none of them.
func linearBytes(m *model.Model) int64 {
	c := &m.Config
	perBlock := int64(c.QDim())*int64(c.Dim)*2 + int64(c.KVDim())*int64(c.Dim)*2 + 3*int64(c.HiddenDim)*int64(c.Dim)
	return 4 * perBlock * int64(c.Layers)
}

// restoreDense undoes an earlier run's pruning: the pruned blocks were
// spilled to disk, and forgetting them makes every block read from the
// checkpoint again.
func (s *session) restoreDense() error {
	if !s.pruned {
		return nil
	}
	if err := s.m.ResetBlocks(); err != nil {
		return fmt.Errorf("%s: removing the previous run's pruned blocks: %w", s.name, err)
	}
	s.pruned = false
	return nil
}

// evaluate runs the evaluations in order: perplexities, zero-shot, KLD.
func (s *session) evaluate(ctx context.Context, p *prepared, out *Outcome, rec *results.Record) error {
	m := s.m
	budget := evalBudget(&m.Config, p.spec.MaxMemory)
	for _, in := range p.ppl {
		fmt.Fprintf(s.progress, "ppl: %s: %d tokens\n", in.text.ref.Path, len(in.text.tokens))
		o := in.opts
		o.Progress = p.spec.Progress
		T := windowLen(o.SeqLen, m)
		o.BatchTokens = maxBatchTokens(&m.Config, T, eval.LogitsFrom(o.Protocol, T), budget)
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
		dense := m // the dense run itself
		if s.pruned {
			dense, _ = m.Original()
		}
		fmt.Fprintf(s.progress, "kld: %s: %d tokens\n", p.kld.ref.Path, len(p.kld.tokens))
		o := p.kldOpts
		o.Progress = p.spec.Progress
		// Two models' logits per batch.
		o.BatchTokens = maxBatchTokens(&m.Config, windowLen(o.SeqLen, m), 0, budget/2)
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
