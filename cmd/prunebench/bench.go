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
	"github.com/prunebench/prunebench/safetensors"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prunebench bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	shape := model.LLaMA7B
	fs.IntVar(&shape.Dim, "dim", shape.Dim, "model width")
	fs.IntVar(&shape.HiddenDim, "hidden", shape.HiddenDim, "MLP width")
	fs.IntVar(&shape.Heads, "heads", shape.Heads, "attention heads")
	fs.IntVar(&shape.KVHeads, "kv-heads", 0, "key/value heads (default: --heads)")
	fs.IntVar(&shape.Vocab, "vocab", shape.Vocab, "vocabulary (the tokenizer's size)")
	fs.IntVar(&shape.SeqLen, "context", shape.SeqLen, "context length")
	blocks := fs.Int("blocks", 2, "blocks to build (LLaMA-7B has 32; blocks are read one at a time)")
	dtype := fs.String("dtype", "bf16", "checkpoint dtype on disk: bf16, f16 or f32")
	methods := fs.String("method", "sparsegpt", "comma-separated methods, each on a fresh load: "+strings.Join(runners.MethodNames, ", "))
	sparsity := fs.String("sparsity", "0.5", "target: a ratio in (0,1) or N:M")
	options := runners.RegisterMethodFlags(fs)
	nsamples := fs.Int("nsamples", 16, "calibration windows of random tokens")
	seqlen := fs.Int("seqlen", 2048, "calibration and evaluation window length")
	evalWindows := fs.Int("eval-windows", 2, "windows scored for the evaluation throughput (0 = none)")
	chunk := fs.Int("chunk", 0, "calibration sequences per block forward (0 = as many as --max-memory allows)")
	var maxMemory memoryFlag
	fs.Var(&maxMemory, "max-memory", "memory for activations, logits and calibration beyond the weights, e.g. 6GB (default: 3/4 of what is available)")
	keep := fs.String("keep", "", "write the checkpoint to this directory and keep it (default: a temporary one, removed)")
	dataDir := fs.String("data-dir", "", "data directory, for the LLaMA-2 tokenizer (default $PRUNEBENCH_DATA or ../shared/data)")
	tok := fs.String("tokenizer", "", "tokenizer.model with --vocab pieces (default: the data directory's LLaMA-2 tokenizer)")
	asJSON := fs.Bool("json", false, "print a JSON array, one object per method")
	if err := parse(fs, args); err != nil {
		return err
	}
	shape.Layers = *blocks
	if shape.KVHeads == 0 {
		shape.KVHeads = shape.Heads
	}
	if shape.Heads > 0 && shape.Dim%shape.Heads == 0 {
		shape.HeadDim = shape.Dim / shape.Heads
	}
	if err := shape.Validate(); err != nil {
		return usagef("shape: %v", err)
	}
	dt := map[string]safetensors.DType{"bf16": safetensors.BF16, "f16": safetensors.F16, "f32": safetensors.F32}[*dtype]
	if dt == "" {
		return usagef("--dtype %q: want bf16, f16 or f32", *dtype)
	}
	pattern, err := prune.ParsePattern(*sparsity)
	if err != nil {
		return usageError{err}
	}
	var specs []runners.BenchSpec
	for _, name := range strings.Split(*methods, ",") {
		s := runners.BenchSpec{Shape: shape, DType: dt, Method: options.Spec(strings.TrimSpace(name)), Pattern: pattern,
			NSamples: *nsamples, SeqLen: *seqlen, EvalWindows: *evalWindows, ChunkSeqs: *chunk, MaxMemory: uint64(maxMemory), Dir: *keep, Progress: stderr}
		if _, err := s.Method.Resolved(); err != nil {
			return usageError{err}
		}
		specs = append(specs, s)
	}
	if *tok == "" {
		if *tok, err = data.ResolveName(data.Dir(*dataDir), "tokenizers/llama2/tokenizer.model"); err != nil {
			return fmt.Errorf("--tokenizer: %w", err)
		}
	}
	var out []*runners.BenchResult
	for _, s := range specs {
		s.Tokenizer = *tok
		r, err := runners.Bench(ctx, s)
		if err != nil {
			return err
		}
		out = append(out, r)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	for _, r := range out {
		rows := make([][]string, len(r.Blocks))
		for i, b := range r.Blocks {
			rows[i] = []string{r.Method.Name, fmt.Sprint(b.Block), fmt.Sprintf("%.2f", b.Seconds), fmt.Sprintf("%.2f", b.PruneSeconds),
				fmt.Sprintf("%.4f", b.Sparsity), fmt.Sprintf("%.4g", b.MeanRelError)}
		}
		if err := printTable(stdout, []string{"method", "block", "block s", "prune s", "sparsity", "mean rel error"}, rows); err != nil {
			return err
		}
	}
	rows := make([][]string, len(out))
	for i, r := range out {
		ratio := "-"
		if r.SgemmGFLOPs > 0 && r.EvalGFLOPs > 0 {
			ratio = fmt.Sprintf("%.2f", r.EvalGFLOPs/r.SgemmGFLOPs)
		}
		rows[i] = []string{r.Method.Name, fmt.Sprintf("%d×%d", r.NSamples, r.SeqLen), fmt.Sprintf("%.1f", r.WriteSeconds), fmt.Sprintf("%.1f", r.LoadSeconds),
			fmt.Sprintf("%.1f", r.EvalTokensPerSec), fmt.Sprintf("%.1f", r.EvalGFLOPs), fmt.Sprintf("%.1f", r.SgemmGFLOPs), ratio,
			fmt.Sprintf("%.0f", float64(r.PeakRSS)/(1<<20)), r.BLAS}
	}
	return printTable(stdout, []string{"method", "calibration", "write s", "load s", "eval tokens per s", "eval GFLOPs", "sgemm GFLOPs", "eval vs sgemm", "peak rss mib", "blas"}, rows)
}
