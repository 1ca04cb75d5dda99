package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/runners"
)

// pruneReport is the JSON shape of a prune run.
type pruneReport struct {
	Model        string             `json:"model"`
	ModelFiles   []data.FileRef     `json:"model_files"`
	Method       runners.MethodSpec `json:"method"`
	Sparsity     string             `json:"sparsity"`
	Calib        data.Provenance    `json:"calibration"`
	Achieved     float64            `json:"achieved_sparsity"`
	MeanRelError float64            `json:"mean_rel_error"`
	PruneSeconds float64            `json:"prune_seconds"`
	Seconds      float64            `json:"seconds"`
	PPL          *pplReport         `json:"ppl,omitempty"`
	Out          string             `json:"out,omitempty"`
	Layers       []layerRow         `json:"layers,omitempty"`
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
	var spec runners.PruneSpec
	method := fs.String("method", "", "method: "+strings.Join(runners.MethodNames, ", "))
	sparsity := fs.String("sparsity", "", "target: a ratio in (0,1) (0.6 or 60%) or N:M, N kept of every M inputs (2:4)")
	rho := fs.Float64("rho", 1, "admm: penalty ρ")
	iters := fs.Int("iters", 20, "admm: total iterations T")
	steps := fs.Int("steps", 15, "admm-grad: gradual mask steps K")
	schedule := fs.String("schedule", "cubic", "admm-grad: sparsity schedule, cubic or reference-full")
	percdamp := fs.Float64("percdamp", 0, "damping as a fraction of mean diag (sparsegpt default 0.01, admm 0.1)")
	perOutput := fs.Bool("per-output", false, "admm: select per output row (Wanda's group) instead of per layer")
	maskFrom := fs.String("mask", "normmag", "admm1: mask source, one of "+strings.Join(runners.MaskSources, ", "))
	blocksize := fs.Int("blocksize", 128, "sparsegpt: columns per lazy-update block")
	fs.StringVar(&spec.Calib.Source, "calib", data.CorpusWikiText2Valid, "calibration corpus: wikitext2-valid, a text file, or C4 json(.gz) shards (comma-separated) with --calib-mode c4")
	fs.IntVar(&spec.Calib.NSamples, "nsamples", data.DefaultNSamples, "calibration windows")
	fs.IntVar(&spec.Calib.SeqLen, "seqlen", 0, "calibration window length (default: the model's context length)")
	fs.StringVar(&spec.Calib.Mode, "calib-mode", data.ModeContiguous, "calibration sampling: contiguous, random or c4")
	fs.Uint64Var(&spec.Calib.Seed, "seed", 0, "calibration seed (random, c4)")
	fs.IntVar(&spec.ChunkSeqs, "chunk", 0, "calibration sequences per block forward (0 = all; lower it to bound memory)")
	out := fs.String("out", "", "save the pruned model as a Hugging Face safetensors directory")
	evalWhat := fs.String("eval", "", "evaluate the pruned model: ppl")
	p.register(fs, "eval-seqlen")
	layers := fs.Bool("layers", false, "add the per-linear table")
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
	if err := checkCalibFlags(spec); err != nil {
		return err
	}
	if *evalWhat != "" && *evalWhat != "ppl" {
		return usagef("--eval %q: want ppl", *evalWhat)
	}
	if err := p.check(); err != nil {
		return err
	}
	spec.Method = runners.MethodSpec{Name: *method}
	// Only flags the user set override the method's defaults, so that an
	// option the method lacks is reported instead of silently ignored.
	var evalOnly string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "dataset", "protocol", "eval-seqlen", "max-windows":
			evalOnly = f.Name
		case "rho":
			spec.Method.Rho = rho
		case "iters":
			spec.Method.Iters = iters
		case "steps":
			spec.Method.Steps = steps
		case "schedule":
			spec.Method.Schedule = schedule
		case "percdamp":
			spec.Method.PercDamp = percdamp
		case "per-output":
			spec.Method.PerOutput = perOutput
		case "mask":
			spec.Method.Mask = maskFrom
		case "blocksize":
			spec.Method.BlockSize = blocksize
		}
	})
	if _, _, err := runners.NewMethod(spec.Method); err != nil {
		return usageError{err}
	}
	if evalOnly != "" && *evalWhat == "" {
		return usagef("--%s applies to the evaluation: add --eval ppl", evalOnly)
	}
	m, err := c.openModel()
	if err != nil {
		return err
	}
	if *out != "" {
		// Every reason the save would fail, before hours of pruning.
		if err := model.CheckSaveHF(m, *out); err != nil {
			return fmt.Errorf("--out %s: %w", *out, err)
		}
	}
	var pplIn pplInput
	if *evalWhat == "ppl" {
		if pplIn, err = p.prepare(c.dataDir, m); err != nil {
			return err
		}
	}
	spec.DataDir = data.Dir(c.dataDir)
	spec.Progress = stderr
	res, err := runners.Prune(ctx, m, spec)
	if err != nil {
		return err
	}
	rep := pruneReport{
		Model: c.model, ModelFiles: c.modelFiles, Method: res.Method, Sparsity: spec.Pattern.String(), Calib: res.Calib,
		Achieved: res.Result.Sparsity, MeanRelError: res.Result.MeanRelError,
		PruneSeconds: res.Result.PruneSeconds, Seconds: res.Result.Seconds,
	}
	if *layers {
		for _, b := range res.Result.Blocks {
			for _, l := range b.Linears {
				rep.Layers = append(rep.Layers, layerRow{b.Block, l.Name, l.Out, l.In, l.Sparsity, l.RelError, l.Seconds, l.Notes})
			}
		}
	}
	if *evalWhat == "ppl" {
		pr, err := p.perplexity(ctx, &c, m, pplIn, stderr)
		if err != nil {
			return err
		}
		rep.PPL = &pr
	}
	if *out != "" {
		fmt.Fprintf(stderr, "prune: saving %s\n", *out)
		if err := model.SaveHFContext(ctx, m, *out); err != nil {
			return fmt.Errorf("--out %s: %w", *out, err)
		}
		rep.Out = *out
		fmt.Fprintf(stderr, "prune: saved %s\n", *out)
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(rep)
	}
	return printPrune(stdout, rep)
}

// checkCalibFlags refuses calibration flags that no model or corpus could
// satisfy, before anything is read.
func checkCalibFlags(spec runners.PruneSpec) error {
	c := spec.Calib
	switch {
	case c.NSamples < 1:
		return usagef("--nsamples %d: must be ≥ 1", c.NSamples)
	case c.SeqLen != 0 && c.SeqLen < 2:
		return usagef("--seqlen %d: a calibration window needs at least 2 tokens (0 = the model's context length)", c.SeqLen)
	case spec.ChunkSeqs < 0:
		return usagef("--chunk %d: must be ≥ 0 (0 = all sequences at once)", spec.ChunkSeqs)
	case c.SeqLen > 0 && c.NSamples > data.MaxCalibTokens/c.SeqLen:
		return usagef("--nsamples %d × --seqlen %d: more than %d tokens, the limit for one calibration", c.NSamples, c.SeqLen, data.MaxCalibTokens)
	}
	switch c.Mode {
	case data.ModeContiguous, data.ModeRandom:
	case data.ModeC4:
		for i, shard := range strings.Split(c.Source, ",") {
			if strings.TrimSpace(shard) == "" {
				return usagef("--calib %q: shard %d of the comma-separated list is empty", c.Source, i+1)
			}
		}
	default:
		return usagef("--calib-mode %q: want %s, %s or %s", c.Mode, data.ModeContiguous, data.ModeRandom, data.ModeC4)
	}
	return nil
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
