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
	if p.seqlen < 0 || p.maxWindows < 0 {
		return usagef("--%s and --max-windows must be ≥ 0", p.seqlenFlag)
	}
	return nil
}

// pplReport is the JSON shape of a perplexity run.
type pplReport struct {
	Model   string `json:"model"`
	Dataset string `json:"dataset"`
	Path    string `json:"dataset_path"`
	SHA256  string `json:"dataset_sha256"`
	eval.PPLResult
}

// pplInput is a dataset read and tokenised, ready to be scored.
type pplInput struct {
	path, sha256 string
	tokens       []int
}

// prepare reads and tokenises the dataset (BOS once, dummy prefix once)
// and checks the window length against m. prune calls it before pruning, so
// that a wrong file or length fails in a second, not after the whole run.
func (p *pplFlags) prepare(dataDir string, m *model.Model) (pplInput, error) {
	if p.seqlen > m.Config.SeqLen {
		return pplInput{}, fmt.Errorf("--%s %d exceeds the model's context length %d", p.seqlenFlag, p.seqlen, m.Config.SeqLen)
	}
	text, err := data.ReadText(data.Dir(dataDir), p.dataset)
	if err != nil {
		return pplInput{}, err
	}
	return pplInput{path: text.Path, sha256: text.SHA256, tokens: m.Tokenizer.Encode(text.Text, true, false)}, nil
}

// perplexity scores in with the chosen protocol.
func (p *pplFlags) perplexity(ctx context.Context, name string, m *model.Model, in pplInput, progress io.Writer) (pplReport, error) {
	fmt.Fprintf(progress, "ppl: %s: %d tokens\n", in.path, len(in.tokens))
	res, err := eval.Perplexity(ctx, m, in.tokens, m.Config.SeqLen, eval.PPLOptions{
		Protocol: p.protocol, SeqLen: p.seqlen, MaxWindows: p.maxWindows,
		BOS: m.Tokenizer.BOS(), Progress: progress,
	})
	if err != nil {
		return pplReport{}, fmt.Errorf("%s on %s: %w", name, in.path, err)
	}
	return pplReport{Model: name, Dataset: p.dataset, Path: in.path, SHA256: in.sha256, PPLResult: res}, nil
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
	rep, err := p.perplexity(ctx, c.model, m, in, stderr)
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
