package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/results"
	"github.com/prunebench/prunebench/runners"
)

// pruneReport is the JSON shape of a prune run.
type pruneReport struct {
	Model        string          `json:"model"`
	ModelFiles   []data.FileRef  `json:"model_files"`
	Method       results.Method  `json:"method"`
	Sparsity     string          `json:"sparsity"`
	Calib        data.Provenance `json:"calibration"`
	Achieved     float64         `json:"achieved_sparsity"`
	MeanRelError float64         `json:"mean_rel_error"`
	PruneSeconds float64         `json:"prune_seconds"`
	Seconds      float64         `json:"seconds"`
	PPL          *pplReport      `json:"ppl,omitempty"`
	Out          string          `json:"out,omitempty"`
	Layers       []layerRow      `json:"layers,omitempty"`

	// Resumed is the number of blocks taken from the state of an earlier,
	// interrupted run of the same command.
	Resumed int `json:"resumed_blocks,omitempty"`
}

type layerRow struct {
	Block    int      `json:"block"`
	Name     string   `json:"name"`
	Out      int      `json:"out"`
	In       int      `json:"in"`
	Sparsity float64  `json:"sparsity"`
	RelError float64  `json:"rel_error"`
	Seconds  float64  `json:"seconds"`
	Notes    []string `json:"notes,omitempty"`
}

func runPrune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	var p pplFlags
	fs := newFlags("prune", stderr, &c)
	var spec runners.RunSpec
	method := fs.String("method", "", "method: "+strings.Join(runners.MethodNames, ", "))
	sparsity := fs.String("sparsity", "", "target: a ratio in (0,1) (0.6 or 60%) or N:M, N kept of every M inputs (2:4)")
	options := runners.RegisterMethodFlags(fs)
	fs.StringVar(&spec.Calib.Source, "calib", data.CorpusWikiText2Valid, "calibration corpus: wikitext2-valid, a text file, or C4 json(.gz) shards (comma-separated) with --calib-mode c4")
	fs.IntVar(&spec.Calib.NSamples, "nsamples", data.DefaultNSamples, "calibration windows")
	fs.IntVar(&spec.Calib.SeqLen, "seqlen", 0, "calibration window length (default: the model's context length)")
	fs.StringVar(&spec.Calib.Mode, "calib-mode", data.ModeContiguous, "calibration sampling: contiguous, random or c4")
	fs.Uint64Var(&spec.Calib.Seed, "seed", 0, "calibration seed (random, c4)")
	fs.IntVar(&spec.ChunkSeqs, "chunk", 0, "calibration sequences per block forward (0 = all; lower it to bound memory)")
	fs.StringVar(&spec.Out, "out", "", "save the pruned model: a Hugging Face safetensors directory, or a GGUF file (F32) for llama.cpp when it ends in .gguf")
	fs.StringVar(&spec.State, "state", "", "keep the pruning state in this directory after every block, so that the same command resumes a killed run from its last finished block with the same weights (default with --out: OUT"+runners.StateSuffix+"; removed when the run succeeds)")
	resume := fs.Bool("resume", true, "with --out or --state: keep the state after every block and resume from it; --resume=false keeps and reads none")
	fs.BoolVar(&spec.FreshState, "fresh", false, "discard a state an earlier run left (of other settings, or damaged) and start from block 1")
	evalWhat := fs.String("eval", "", "evaluate the pruned model: ppl")
	p.register(fs, "eval-seqlen")
	fs.BoolVar(&spec.Layers, "layers", false, "add the per-linear table")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *method == "" || *sparsity == "" {
		return usagef("--method and --sparsity are required")
	}
	var err error
	if spec.Pattern, err = prune.ParsePattern(*sparsity); err != nil {
		return usageError{err}
	}
	if *evalWhat != "" && *evalWhat != "ppl" {
		return usagef("--eval %q: want ppl", *evalWhat)
	}
	if err := p.check(); err != nil {
		return err
	}
	var evalOnly string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "dataset", "protocol", "eval-seqlen", "max-windows":
			evalOnly = f.Name
		}
	})
	if evalOnly != "" && *evalWhat == "" {
		return usagef("--%s applies to the evaluation: add --eval ppl", evalOnly)
	}
	spec.Model, spec.DataDir, spec.Progress, spec.MaxMemory = c.model, c.dataDir, stderr, uint64(c.maxMemory)
	spec.Fetch = c.fetcher(stderr)
	spec.Method = options.Spec(*method)
	switch {
	case !*resume && (spec.State != "" || spec.FreshState):
		return usagef("--resume=false keeps no state: drop --state and --fresh")
	case *resume && spec.State == "" && spec.Out != "":
		spec.State = runners.StateDir(spec.Out)
	case spec.FreshState && spec.State == "":
		return usagef("--fresh discards a state: it needs --out or --state")
	}
	if *evalWhat == "ppl" {
		spec.Eval.PPL = []runners.PPLSpec{p.spec()}
	}
	if err := runners.Validate(spec); err != nil {
		return usageError{err}
	}
	o, err := runners.Run(ctx, spec)
	if err != nil {
		return err
	}
	r := o.Record
	rep := pruneReport{
		Model: c.model, ModelFiles: o.ModelFiles, Method: r.Method, Sparsity: r.Pattern, Calib: o.Calib,
		Achieved: o.Prune.Sparsity, MeanRelError: o.Prune.MeanRelError,
		PruneSeconds: o.Prune.PruneSeconds, Seconds: r.Seconds.Total, Out: r.Out, Resumed: o.Resumed,
	}
	if spec.Layers {
		for _, b := range o.Prune.Blocks {
			for _, l := range b.Linears {
				rep.Layers = append(rep.Layers, layerRow{b.Block, l.Name, l.Out, l.In, l.Sparsity, l.RelError, l.Seconds, l.Notes})
			}
		}
	}
	if len(o.PPL) > 0 {
		pr := newPPLReport(c.model, o.ModelFiles, o.PPL[0])
		rep.PPL = &pr
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(rep)
	}
	return printPrune(stdout, rep)
}

func printPrune(w io.Writer, rep pruneReport) error {
	if len(rep.Layers) > 0 {
		rows := make([][]string, len(rep.Layers))
		for i, l := range rep.Layers {
			rows[i] = []string{fmt.Sprint(l.Block), l.Name, fmt.Sprintf("%d×%d", l.Out, l.In),
				fmt.Sprintf("%.4f", l.Sparsity), fmt.Sprintf("%.4e", l.RelError), fmt.Sprintf("%.3f", l.Seconds), strings.Join(l.Notes, "; ")}
		}
		if err := printTable(w, []string{"block", "linear", "shape", "sparsity", "rel error", "seconds", "notes"}, rows); err != nil {
			return err
		}
	}
	ppl := "-"
	if rep.PPL != nil {
		ppl = fmt.Sprintf("%.4f", rep.PPL.PPL)
	}
	return printTable(w, []string{"model", "method", "target", "sparsity", "mean rel error", "prune s", "total s", "ppl"},
		[][]string{{rep.Model, rep.Method.Name, rep.Sparsity, fmt.Sprintf("%.4f", rep.Achieved),
			fmt.Sprintf("%.4e", rep.MeanRelError), fmt.Sprintf("%.2f", rep.PruneSeconds), fmt.Sprintf("%.2f", rep.Seconds), ppl}})
}
