package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/eval"
	"github.com/prunebench/prunebench/model"
)

// pplFlags are the evaluation flags shared by ppl and prune --eval ppl.
type pplFlags struct {
	dataset    string
	protocol   string
	seqlen     int
	seqlenFlag string // "seqlen" or "eval-seqlen", for error messages
	maxWindows int
}

func (p *pplFlags) register(fs *flag.FlagSet, seqlenFlag string) {
	p.seqlenFlag = seqlenFlag
	fs.StringVar(&p.dataset, "dataset", "wikitext2", "text to score: wikitext2 (joined test split), wikitext2-valid, wikitext2-raw, or a text file")
	fs.StringVar(&p.protocol, "protocol", eval.ProtocolWanda, "perplexity protocol: wanda or llamacpp")
	fs.IntVar(&p.seqlen, seqlenFlag, 0, "window length (default: the model's context length)")
	fs.IntVar(&p.maxWindows, "max-windows", 0, "score only the first K windows (0 = all)")
}

// check validates the flags on their own.
func (p *pplFlags) check() error {
	if p.protocol != eval.ProtocolWanda && p.protocol != eval.ProtocolLlamaCpp {
		return usagef("--protocol %q: want wanda or llamacpp", p.protocol)
	}
	if p.maxWindows < 0 {
		return usagef("--max-windows %d: must be ≥ 0 (0 = all windows)", p.maxWindows)
	}
	if minT := eval.MinSeqLen(p.protocol); p.seqlen != 0 && p.seqlen < minT {
		return usagef("--%s %d: the %s protocol needs windows of at least %d tokens to score one (0 = the model's context length)",
			p.seqlenFlag, p.seqlen, p.protocol, minT)
	}
	return nil
}

// pplReport is the JSON shape of a perplexity run.
type pplReport struct {
	Model      string         `json:"model"`
	ModelFiles []data.FileRef `json:"model_files"`
	Dataset    string         `json:"dataset"`
	Path       string         `json:"dataset_path"`
	SHA256     string         `json:"dataset_sha256"`
	eval.PPLResult
}

// pplInput is a dataset read and tokenised, ready to be scored.
type pplInput struct {
	text   data.FileRef
	tokens []int
}

// prepare reads and tokenises the dataset (BOS once, dummy prefix once)
// and checks that it can be scored with m under the flags. prune calls it
// before pruning, so that a wrong file or length fails in a second, not
// after the whole run.
func (p *pplFlags) prepare(dataDir string, m *model.Model) (pplInput, error) {
	if p.seqlen > m.Config.SeqLen {
		return pplInput{}, fmt.Errorf("--%s %d exceeds the model's context length %d", p.seqlenFlag, p.seqlen, m.Config.SeqLen)
	}
	text, err := data.ReadText(data.Dir(dataDir), p.dataset)
	if err != nil {
		return pplInput{}, fmt.Errorf("--dataset %s: %w", p.dataset, err)
	}
	in := pplInput{text: text.FileRef, tokens: m.Tokenizer.Encode(text.Text, true, false)}
	if _, err := eval.PlanPerplexity(len(in.tokens), m.Config.SeqLen, p.options(m)); err != nil {
		return pplInput{}, fmt.Errorf("--dataset %s (%s): %w", p.dataset, in.text.Path, err)
	}
	return in, nil
}

func (p *pplFlags) options(m *model.Model) eval.PPLOptions {
	return eval.PPLOptions{Protocol: p.protocol, SeqLen: p.seqlen, MaxWindows: p.maxWindows, BOS: m.Tokenizer.BOS()}
}

// perplexity scores in with the chosen protocol.
func (p *pplFlags) perplexity(ctx context.Context, c *common, m *model.Model, in pplInput, progress io.Writer) (pplReport, error) {
	fmt.Fprintf(progress, "ppl: %s: %d tokens\n", in.text.Path, len(in.tokens))
	o := p.options(m)
	o.Progress = progress
	res, err := eval.Perplexity(ctx, m, in.tokens, m.Config.SeqLen, o)
	if err != nil {
		return pplReport{}, fmt.Errorf("%s on %s: %w", c.model, in.text.Path, err)
	}
	return pplReport{Model: c.model, ModelFiles: c.modelFiles, Dataset: p.dataset, Path: in.text.Path, SHA256: in.text.SHA256, PPLResult: res}, nil
}

func runPPL(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	var p pplFlags
	fs := newFlags("ppl", stderr, &c)
	p.register(fs, "seqlen")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := p.check(); err != nil {
		return err
	}
	m, err := c.openModel()
	if err != nil {
		return err
	}
	in, err := p.prepare(c.dataDir, m)
	if err != nil {
		return err
	}
	rep, err := p.perplexity(ctx, &c, m, in, stderr)
	if err != nil {
		return err
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(rep)
	}
	return printTable(stdout, []string{"model", "dataset", "protocol", "seqlen", "windows", "tokens", "ppl", "seconds"},
		[][]string{{rep.Model, rep.Dataset, rep.Protocol, fmt.Sprint(rep.SeqLen), fmt.Sprint(rep.Windows),
			fmt.Sprint(rep.Tokens), fmt.Sprintf("%.4f", rep.PPL), fmt.Sprintf("%.1f", rep.Seconds)}})
}
