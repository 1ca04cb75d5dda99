package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/eval"
	"github.com/prunebench/prunebench/runners"
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

// spec is the evaluation the flags ask for.
func (p *pplFlags) spec() runners.PPLSpec {
	return runners.PPLSpec{Dataset: p.dataset, Protocol: p.protocol, SeqLen: p.seqlen, MaxWindows: p.maxWindows}
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

func newPPLReport(model string, files []data.FileRef, o runners.PPLOutcome) pplReport {
	return pplReport{Model: model, ModelFiles: files, Dataset: o.Spec.Dataset, Path: o.Text.Path, SHA256: o.Text.SHA256, PPLResult: o.PPLResult}
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
	spec := runners.RunSpec{Model: c.model, DataDir: c.dataDir, Progress: stderr, MaxMemory: uint64(c.maxMemory), Fetch: c.fetcher(stderr),
		Method: runners.MethodSpec{Name: runners.Dense}, Eval: runners.EvalSpec{PPL: []runners.PPLSpec{p.spec()}}}
	if err := runners.Validate(spec); err != nil {
		return usageError{err}
	}
	o, err := runners.Run(ctx, spec)
	if err != nil {
		return err
	}
	rep := newPPLReport(c.model, o.ModelFiles, o.PPL[0])
	if c.json {
		return json.NewEncoder(stdout).Encode(rep)
	}
	return printTable(stdout, []string{"model", "dataset", "protocol", "seqlen", "windows", "tokens", "ppl", "seconds"},
		[][]string{{rep.Model, rep.Dataset, rep.Protocol, fmt.Sprint(rep.SeqLen), fmt.Sprint(rep.Windows),
			fmt.Sprint(rep.Tokens), fmt.Sprintf("%.4f", rep.PPL), fmt.Sprintf("%.1f", rep.Seconds)}})
}
