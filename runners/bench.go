package runners

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"syscall"
	"time"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/eval"
	"github.com/prunebench/prunebench/linalg"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/results"
	"github.com/prunebench/prunebench/safetensors"
)

// BenchSpec is a benchmark on a synthetic LLaMA (prunebench bench): the
// model is written to disk as a safetensors checkpoint and loaded through
// the real load path, pruned on random-token calibration, then evaluated
// on random tokens.
type BenchSpec struct {
	// Shape is the model; Shape.Layers is the number of blocks built.
	Shape model.Config
	DType safetensors.DType
	// Tokenizer is a tokenizer.model with Shape.Vocab pieces.
	Tokenizer string
	Method    MethodSpec
	Pattern   prune.Pattern
	// NSamples windows of SeqLen random tokens calibrate; EvalWindows
	// windows of SeqLen are scored (0 = none).
	NSamples, SeqLen, EvalWindows int
	// ChunkSeqs is the calibration sequences per block forward; 0 sizes
	// it to MaxMemory as a run does.
	ChunkSeqs int
	// MaxMemory bounds the calibration and evaluation work beyond the
	// weights (0 = the default budget of a run).
	MaxMemory uint64
	// Dir keeps the checkpoint there; "" writes it to a temporary
	// directory removed at the end.
	Dir      string
	Seed     uint64
	Progress io.Writer
}

// BenchResult is what a bench measured.
type BenchResult struct {
	Shape        model.Config   `json:"shape"`
	DType        string         `json:"dtype"`
	Method       results.Method `json:"method"`
	Pattern      string         `json:"pattern"`
	NSamples     int            `json:"nsamples"`
	SeqLen       int            `json:"seqlen"`
	ChunkSeqs    int            `json:"chunk"` // calibration sequences per block forward (0 = all)
	SpillInputs  bool           `json:"spill_inputs"`
	WriteSeconds float64        `json:"write_seconds"`
	LoadSeconds  float64        `json:"load_seconds"`
	Blocks       []BenchBlock   `json:"blocks"`
	// Eval: tokens scored per second and the forward's achieved GFLOP/s
	// (dense flop count), next to the same-shape sgemm (a window's MLP
	// up-projection: SeqLen × HiddenDim × Dim) measured in the same run.
	EvalTokens       int     `json:"eval_tokens"`
	EvalSeconds      float64 `json:"eval_seconds"`
	EvalTokensPerSec float64 `json:"eval_tokens_per_second"`
	EvalGFLOPs       float64 `json:"eval_gflops"`
	SgemmGFLOPs      float64 `json:"sgemm_gflops"`
	// PeakRSS is the process's peak resident set so far, in bytes.
	PeakRSS int64  `json:"peak_rss_bytes"`
	BLAS    string `json:"blas"`
}

// BenchBlock is one pruned block.
type BenchBlock struct {
	Block        int     `json:"block"`
	Seconds      float64 `json:"seconds"`       // statistics, pruning and the block forward
	PruneSeconds float64 `json:"prune_seconds"` // in the method
	Sparsity     float64 `json:"sparsity"`
	MeanRelError float64 `json:"mean_rel_error"`
}

// Bench writes, opens (streaming its blocks), prunes and evaluates a
// synthetic model.
func Bench(ctx context.Context, s BenchSpec) (*BenchResult, error) {
	progress := s.Progress
	if progress == nil {
		progress = io.Discard
	}
	resolved, method, perRow, err := s.Method.build()
	if err != nil {
		return nil, err
	}
	if err := s.Pattern.Validate(); err != nil {
		return nil, err
	}
	if err := s.Shape.Validate(); err != nil {
		return nil, fmt.Errorf("bench shape: %w", err)
	}
	if s.NSamples < 1 || s.SeqLen < 2 || s.SeqLen > s.Shape.SeqLen || s.EvalWindows < 0 {
		return nil, fmt.Errorf("bench: calibration %d×%d, %d eval windows: want ≥ 1 windows of 2..%d tokens and ≥ 0 eval windows",
			s.NSamples, s.SeqLen, s.EvalWindows, s.Shape.SeqLen)
	}
	dir := s.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "prunebench-bench-*"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	res := &BenchResult{Shape: s.Shape, DType: string(s.DType), Method: resolved.Record(), Pattern: s.Pattern.String(),
		NSamples: s.NSamples, SeqLen: s.SeqLen, BLAS: linalg.Backend()}

	fmt.Fprintf(progress, "bench: writing a %d-block %d/%d model (%s) to %s\n", s.Shape.Layers, s.Shape.Dim, s.Shape.HiddenDim, s.DType, dir)
	start := time.Now()
	if err := model.WriteSynthetic(ctx, dir, s.Shape, s.Seed, s.DType, s.Tokenizer); err != nil {
		return nil, err
	}
	res.WriteSeconds = time.Since(start).Seconds()
	start = time.Now()
	m, err := model.Open(dir)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	res.LoadSeconds = time.Since(start).Seconds()
	chunk, spill := s.ChunkSeqs, false
	if chunk == 0 {
		chunk, spill = autoChunk(&m.Config, s.NSamples, s.SeqLen, memoryBudget(s.MaxMemory))
		reportChunk(progress, chunk, spill, s.NSamples)
	}
	res.ChunkSeqs, res.SpillInputs = chunk, spill
	if _, err := checkPrune(m, PruneSpec{Pattern: s.Pattern, ChunkSeqs: chunk, SpillInputs: spill, Calib: data.CalibSpec{NSamples: s.NSamples, SeqLen: s.SeqLen}}); err != nil {
		return nil, err
	}

	rng := rand.New(rand.NewPCG(s.Seed, 1))
	calib := make([][]int, s.NSamples)
	for i := range calib {
		calib[i] = randomTokens(rng, s.SeqLen, s.Shape.Vocab)
	}
	pr, err := prune.Run(ctx, m, calib, method, s.Pattern, prune.PipelineOptions{
		Progress: s.Progress, ChunkSeqs: chunk, PerRow: perRow, SpillInputs: spill,
	})
	if err != nil {
		return nil, err
	}
	for _, b := range pr.Blocks {
		res.Blocks = append(res.Blocks, BenchBlock{Block: b.Block, Seconds: b.Seconds, PruneSeconds: b.PruneSeconds,
			Sparsity: b.Sparsity, MeanRelError: b.MeanRelError})
	}

	if s.EvalWindows > 0 {
		tokens := randomTokens(rng, s.EvalWindows*s.SeqLen, s.Shape.Vocab)
		start = time.Now()
		ppl, err := eval.Perplexity(ctx, m, tokens, m.Config.SeqLen, eval.PPLOptions{SeqLen: s.SeqLen, MaxWindows: s.EvalWindows, Progress: s.Progress,
			BatchTokens: maxBatchTokens(&m.Config, s.SeqLen, 0, evalBudget(&m.Config, s.MaxMemory))})
		if err != nil {
			return nil, err
		}
		res.EvalSeconds = time.Since(start).Seconds()
		res.EvalTokens = ppl.Windows * s.SeqLen
		res.EvalTokensPerSec = float64(res.EvalTokens) / res.EvalSeconds
		res.EvalGFLOPs = forwardFlops(&s.Shape, s.SeqLen) * float64(ppl.Windows) / res.EvalSeconds / 1e9
	}
	res.SgemmGFLOPs = sgemmGFLOPs(s.SeqLen, s.Shape.HiddenDim, s.Shape.Dim)
	res.PeakRSS = peakRSS()
	return res, nil
}

// randomTokens draws n ids past the three special tokens.
func randomTokens(rng *rand.Rand, n, vocab int) []int {
	t := make([]int, n)
	for i := range t {
		t[i] = 3 + rng.IntN(vocab-3)
	}
	return t
}

// forwardFlops counts the multiply-adds (×2) of one dense forward of a
// T-token window: the seven linears of every block, causal attention
// (scores and their product with V over the keys up to each query) and
// the classifier.
func forwardFlops(c *model.Config, T int) float64 {
	t := float64(T)
	linears := float64(c.QDim()*c.Dim + 2*c.KVDim()*c.Dim + c.Dim*c.QDim() + 3*c.HiddenDim*c.Dim)
	attention := 2 * 2 * float64(c.Heads*c.HeadDim) * t * (t + 1) / 2
	return float64(c.Layers)*(2*t*linears+attention) + 2*t*float64(c.Vocab*c.Dim)
}

// sgemmGFLOPs times C (m×n) = A (m×k) · Bᵀ (n×k), the layout of a
// linear, best of three.
func sgemmGFLOPs(m, n, k int) float64 {
	a, b, c := make([]float32, m*k), make([]float32, n*k), make([]float32, m*n)
	for i := range a {
		a[i] = float32(i%7) * 0.1
	}
	for i := range b {
		b[i] = float32(i%5) * 0.1
	}
	best := time.Duration(1 << 62)
	for range 3 {
		start := time.Now()
		linalg.Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
		best = min(best, time.Since(start))
	}
	return 2 * float64(m) * float64(n) * float64(k) / best.Seconds() / 1e9
}

// peakRSS is the process's peak resident set in bytes (Linux reports
// kilobytes).
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024
}
