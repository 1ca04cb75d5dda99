package prune

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/prunebench/prunebench/internal/spillmem"
	"github.com/prunebench/prunebench/model"
)

// PipelineOptions tune Run.
type PipelineOptions struct {
	// Progress receives one line per pruned block; nil is silent.
	Progress io.Writer
	// ChunkSeqs is how many calibration sequences go through the block at
	// once (0 = all): the block's intermediates scale with it, not with the
	// number of samples.
	ChunkSeqs int
	// PerRow verifies unstructured masks per output row (Wanda, ADMM with
	// per-output selection) instead of per matrix.
	PerRow bool
	// OnBlock, when set, is called after each block is pruned, committed
	// to the model and its outputs computed, with the pruned weights
	// (valid during the call) and the checkpoint from which Run could
	// resume. An error stops the run.
	OnBlock func(r BlockResult, pruned *model.Block, next Checkpoint) error
	// Resume starts at a checkpoint instead of embedding the calibration
	// windows: blocks before Resume.Block must already be pruned. Run
	// advances Resume.X in place. calib still gives the window shape.
	Resume *Checkpoint
	// SpillInputs keeps the blocks' inputs (nsamples·seqlen·Dim float32,
	// the largest buffer of a run) in a temporary file (NewInputs) and out
	// of the resident set between the chunks that use them: for when they
	// do not fit beside the rest of the run. A Resume.X should then come
	// from NewInputs too.
	SpillInputs bool
}

// NewInputs allocates n float32 inputs for Run: in memory, or with spill
// in an unlinked temporary file (internal/spillmem); free releases them.
func NewInputs(n int, spill bool) (x []float32, free func(), err error) {
	if !spill || n == 0 {
		return make([]float32, n), func() {}, nil
	}
	x, unmap, err := spillmem.Floats(n)
	if err != nil {
		return nil, nil, err
	}
	return x, func() { unmap() }, nil
}

// Checkpoint is the state between blocks: the inputs of block Block
// ((nsamples·seqlen)×Dim), i.e. the outputs of the pruned blocks before it.
// X is the pipeline's live buffer: copy it to keep it.
type Checkpoint struct {
	Block int
	X     []float32
}

// LinearResult is what the pipeline records for one pruned linear.
type LinearResult struct {
	Block    int
	Name     string
	Out, In  int
	Zeros    int
	Sparsity float64 // Zeros / (Out·In)
	// RelError is ‖XWᵀ−XŴᵀ‖²/‖XWᵀ‖² on the calibration inputs; NaN when
	// the run had no calibration data.
	RelError float64
	Seconds  float64 // time in Method.Prune
	Notes    []string
}

// BlockResult totals one block's 7 linears.
type BlockResult struct {
	Block        int
	Linears      []LinearResult
	Zeros, Numel int
	Sparsity     float64
	MeanRelError float64
	PruneSeconds float64 // Σ Seconds of the linears
	Seconds      float64 // wall time of the block: statistics, pruning, forward
}

// Result totals a pipeline run over the 7·L linears it pruned.
type Result struct {
	Method       string
	Pattern      Pattern
	Samples      int // calibration sequences
	SeqLen       int // tokens per sequence
	Blocks       []BlockResult
	Zeros, Numel int
	Sparsity     float64
	MeanRelError float64
	PruneSeconds float64
	Seconds      float64
}

// Run prunes the 7 linears of every decoder block of m with method,
// sequentially (PRUNING.md §2), each block read through m.Block and
// committed with m.CommitBlock (in place for a resident model, to a spill
// file for a streaming one, which so holds one block): for each block, statistics of its 4
// distinct linear inputs are taken from the still-dense block on the
// current inputs, the linears are pruned, verified against p and scored,
// and the pruned block produces the next block's inputs. calib holds the
// calibration windows (equal lengths); with none, methods get nil
// statistics (only data-free methods work) and RelError is NaN.
//
// Run looks at ctx before every block, between calibration chunks of the
// block forward and inside the statistics, before and after every linear,
// and hands it to the method; the block forward itself looks at ctx
// between attention heads (model.BlockForwardContext). A cancelled run so
// stops within about a second, whatever ChunkSeqs. It then returns an error
// wrapping ctx.Err() and the model is partly pruned.
func Run(ctx context.Context, m *model.Model, calib [][]int, method Method, p Pattern, opts PipelineOptions) (*Result, error) {
	start := time.Now()
	if method == nil {
		return nil, errors.New("pipeline: no method")
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	if err := checkModel(m, p); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	if opts.ChunkSeqs < 0 {
		return nil, fmt.Errorf("pipeline: chunk of %d sequences: must be ≥ 0", opts.ChunkSeqs)
	}
	cfg := &m.Config
	nseq, T, err := calibShape(calib, cfg.SeqLen)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	first := 0
	var x []float32
	switch {
	case opts.Resume != nil:
		first, x = opts.Resume.Block, opts.Resume.X
		if first < 0 || first > cfg.Layers {
			return nil, fmt.Errorf("pipeline: resume at block %d of %d", first, cfg.Layers)
		}
		if len(x) != nseq*T*cfg.Dim {
			return nil, fmt.Errorf("pipeline: resume inputs have %d values, want %d sequences × %d tokens × dim %d", len(x), nseq, T, cfg.Dim)
		}
	case nseq > 0:
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("pipeline: %w", err)
		}
		var free func()
		if x, free, err = NewInputs(nseq*T*cfg.Dim, opts.SpillInputs); err != nil {
			return nil, fmt.Errorf("pipeline: calibration: %w", err)
		}
		defer free()
		for i, w := range calib {
			win := x[i*T*cfg.Dim : (i+1)*T*cfg.Dim]
			if err := m.EmbedInto(win, w); err != nil {
				return nil, fmt.Errorf("pipeline: calibration window %d: %w", i, err)
			}
			spillmem.Drop(win)
		}
	}

	res := &Result{Method: method.Name(), Pattern: p, Samples: nseq, SeqLen: T}
	run := newBlockRunner(cfg, nseq, T, opts.ChunkSeqs)
	for l := first; l < cfg.Layers; l++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("pipeline: before block %d: %w", l, err)
		}
		b, release, err := m.Block(l)
		if err != nil {
			return nil, fmt.Errorf("pipeline: %w", err)
		}
		br, err := run.block(ctx, l, b, x, method, p, opts.PerRow)
		if err == nil {
			err = m.CommitBlock(l, b)
		}
		if err != nil {
			release()
			return nil, fmt.Errorf("pipeline: %w", err)
		}
		res.Blocks = append(res.Blocks, br)
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "%s %s: block %d/%d sparsity %.4f mean rel. error %.4g prune %.2fs block %.2fs\n",
				res.Method, p, l+1, cfg.Layers, br.Sparsity, br.MeanRelError, br.PruneSeconds, br.Seconds)
		}
		if opts.OnBlock != nil {
			err = opts.OnBlock(br, b, Checkpoint{Block: l + 1, X: x})
			spillmem.Drop(x) // the state save read it all
		}
		release()
		if err != nil {
			return nil, fmt.Errorf("pipeline: after block %d: %w", l, err)
		}
	}
	res.Total()
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// Total sets the totals of r (zeros, sparsity, mean error, pruning time)
// from its blocks; Seconds, the wall time, is the caller's.
func (r *Result) Total() {
	r.Zeros, r.Numel, r.PruneSeconds, r.Sparsity, r.MeanRelError = 0, 0, 0, 0, 0
	var errSum float64
	for _, b := range r.Blocks {
		r.Zeros += b.Zeros
		r.Numel += b.Numel
		r.PruneSeconds += b.PruneSeconds
		for _, lr := range b.Linears {
			errSum += lr.RelError
		}
	}
	if r.Numel > 0 {
		r.Sparsity = float64(r.Zeros) / float64(r.Numel)
		r.MeanRelError = errSum / float64(7*len(r.Blocks))
	}
}

// checkModel validates shapes and that p fits every linear, so that a bad
// pattern fails before any work rather than in block L−1.
func checkModel(m *model.Model, p Pattern) error {
	if m == nil {
		return errors.New("no model")
	}
	cfg := &m.Config
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("model config: %w", err)
	}
	if len(m.Weights.Blocks) != cfg.Layers {
		return fmt.Errorf("model has %d blocks, config says %d layers", len(m.Weights.Blocks), cfg.Layers)
	}
	d, qd, kvd, h := cfg.Dim, cfg.QDim(), cfg.KVDim(), cfg.HiddenDim
	shapes := [7][2]int{{qd, d}, {kvd, d}, {kvd, d}, {d, qd}, {h, d}, {h, d}, {d, h}}
	for l := range m.Weights.Blocks {
		b := &m.Weights.Blocks[l]
		if len(b.AttnNorm) != d || len(b.FFNNorm) != d {
			return fmt.Errorf("block %d: norms have %d and %d weights, want dim %d", l, len(b.AttnNorm), len(b.FFNNorm), d)
		}
		for i, lin := range b.Linears() {
			name := model.LinearNames[i]
			// A streaming model's linears are read (and sized) later.
			if lin.Out != shapes[i][0] || lin.In != shapes[i][1] || (!m.Streaming() && len(lin.W) != lin.Out*lin.In) {
				return fmt.Errorf("block %d %s: %d×%d with %d weights, config wants %d×%d", l, name, lin.Out, lin.In, len(lin.W), shapes[i][0], shapes[i][1])
			}
			if err := p.Fits(lin.In); err != nil {
				return fmt.Errorf("block %d %s (%d×%d): %w", l, name, lin.Out, lin.In, err)
			}
		}
	}
	return nil
}

// calibShape checks that the windows are non-empty, of one length and fit
// the context.
func calibShape(calib [][]int, ctx int) (nseq, T int, err error) {
	if len(calib) == 0 {
		return 0, 0, nil
	}
	T = len(calib[0])
	for i, w := range calib {
		if len(w) != T {
			return 0, 0, fmt.Errorf("calibration window %d has %d tokens, window 0 has %d", i, len(w), T)
		}
	}
	if T == 0 || T > ctx {
		return 0, 0, fmt.Errorf("calibration windows of %d tokens: want 1..%d (the context length)", T, ctx)
	}
	return len(calib), T, nil
}

// blockRunner holds what one block needs, reused from block to block so
// that memory does not grow with the number of blocks.
type blockRunner struct {
	cfg         *model.Config
	nseq, T, cs int
	stats       [4]*Stats // by model.Input
	scratch     []float32 // one chunk of block inputs for the dense pass
	orig        []float32 // the dense weight of the linear being pruned
	ws          model.Workspace
}

// linearInput is the input each of the 7 linears (LinearNames order) reads.
var linearInput = [7]model.Input{model.AttnIn, model.AttnIn, model.AttnIn, model.AttnOut, model.MLPIn, model.MLPIn, model.DownIn}

func newBlockRunner(cfg *model.Config, nseq, T, chunk int) *blockRunner {
	r := &blockRunner{cfg: cfg, nseq: nseq, T: T, cs: nseq}
	if chunk > 0 && chunk < nseq {
		r.cs = chunk
	}
	if nseq > 0 {
		widths := [4]int{model.AttnIn: cfg.Dim, model.AttnOut: cfg.QDim(), model.MLPIn: cfg.Dim, model.DownIn: cfg.HiddenDim}
		for i, w := range widths {
			r.stats[i] = NewStats(w)
		}
		r.scratch = make([]float32, r.cs*T*cfg.Dim)
	}
	return r
}

// forward runs b over x chunk by chunk: in place when hook is nil,
// otherwise on a scratch copy so that x keeps the block's inputs. It stops
// between chunks when ctx is done.
func (r *blockRunner) forward(ctx context.Context, b *model.Block, x []float32, hook model.Hook) error {
	step := r.cs * r.T * r.cfg.Dim
	for s := 0; s < r.nseq; s += r.cs {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(r.cs, r.nseq-s)
		chunk := x[s*r.T*r.cfg.Dim : (s+n)*r.T*r.cfg.Dim]
		if hook != nil {
			chunk = r.scratch[:copy(r.scratch[:step], chunk)]
		}
		if err := r.ws.BlockForward(ctx, r.cfg, b, chunk, n, r.T, hook); err != nil {
			return err
		}
		// Spilled inputs leave the resident set until the next pass.
		spillmem.Drop(x[s*r.T*r.cfg.Dim : (s+n)*r.T*r.cfg.Dim])
	}
	return nil
}

// collect accumulates the statistics of b's 4 inputs on x.
// A cancelled ctx skips the remaining statistics of the chunk under way.
func (r *blockRunner) collect(ctx context.Context, b *model.Block, x []float32) error {
	for _, st := range r.stats {
		clear(st.Gram)
		st.Tokens, st.Seqs = 0, 0
	}
	var first error
	err := r.forward(ctx, b, x, func(in model.Input, act []float32, rows, cols int) {
		if first != nil {
			return
		}
		if err := r.stats[in].add(ctx, act, rows, rows/r.T); err != nil {
			first = fmt.Errorf("statistics of %s: %w", in, err)
		}
	})
	if first != nil {
		return first
	}
	return err
}

func (r *blockRunner) block(ctx context.Context, l int, b *model.Block, x []float32, method Method, p Pattern, perRow bool) (BlockResult, error) {
	start := time.Now()
	br := BlockResult{Block: l}
	if r.nseq > 0 {
		if err := r.collect(ctx, b, x); err != nil {
			return br, fmt.Errorf("block %d: %w", l, err)
		}
	}
	var errSum float64
	for i, lin := range b.Linears() {
		name := model.LinearNames[i]
		if err := ctx.Err(); err != nil {
			return br, fmt.Errorf("block %d %s: %w", l, name, err)
		}
		var st *Stats
		if r.nseq > 0 {
			st = r.stats[linearInput[i]]
		}
		r.orig = append(r.orig[:0], lin.W...)
		t0 := time.Now()
		mask, rep, err := method.Prune(ctx, lin, st, p)
		secs := time.Since(t0).Seconds()
		if err != nil {
			return br, fmt.Errorf("block %d %s: %w", l, name, err)
		}
		// Every method checks its own output, but a NaN weight is silent
		// until the evaluation, so the pipeline checks again for all.
		if err := CheckFinite(lin); err != nil {
			return br, fmt.Errorf("block %d %s: %s left %w", l, name, method.Name(), err)
		}
		if err := Verify(mask, lin, p, perRow); err != nil {
			return br, fmt.Errorf("block %d %s: %s: %w", l, name, method.Name(), err)
		}
		lr := LinearResult{Block: l, Name: name, Out: lin.Out, In: lin.In, Zeros: Zeros(lin.W), Seconds: secs, Notes: rep.Notes, RelError: math.NaN()}
		lr.Sparsity = float64(lr.Zeros) / float64(len(lin.W))
		if st != nil {
			if lr.RelError, err = relError(ctx, r.orig, lin.W, lin.Out, lin.In, st); err != nil {
				return br, fmt.Errorf("block %d %s: relative error: %w", l, name, err)
			}
			if math.IsNaN(lr.RelError) || math.IsInf(lr.RelError, 0) {
				return br, fmt.Errorf("block %d %s: relative error is %v (statistics or weights too large for float64)", l, name, lr.RelError)
			}
		}
		// What the method cached on these statistics (a factorisation
		// shared by q/k/v or gate/up) goes once their last reader is done.
		if st != nil && (i == len(linearInput)-1 || linearInput[i+1] != linearInput[i]) {
			st.ReleaseCache()
		}
		br.Linears = append(br.Linears, lr)
		br.Zeros += lr.Zeros
		br.Numel += len(lin.W)
		br.PruneSeconds += secs
		errSum += lr.RelError
	}
	br.Sparsity = float64(br.Zeros) / float64(br.Numel)
	br.MeanRelError = errSum / 7
	if r.nseq > 0 {
		if err := r.forward(ctx, b, x, nil); err != nil {
			return br, fmt.Errorf("block %d: forward: %w", l, err)
		}
	}
	br.Seconds = time.Since(start).Seconds()
	return br, nil
}
