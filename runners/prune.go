package runners

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/sysmem"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// PruneSpec is one pruning run on an already loaded model.
type PruneSpec struct {
	Method  MethodSpec
	Pattern prune.Pattern
	// Calib chooses the calibration windows; SeqLen 0 means the model's
	// context length. Every method, magnitude included, gets the same
	// windows so that reconstruction errors are comparable.
	Calib     data.CalibSpec
	DataDir   string
	ChunkSeqs int // sequences per block forward; 0 = all
	// SpillInputs keeps the block inputs in a temporary file
	// (prune.PipelineOptions.SpillInputs).
	SpillInputs bool
	Progress    io.Writer // stderr in the CLI; nil = quiet
	// State, when set, is a directory where the pruning state is kept
	// after every block (resume.go); a run finds the state an earlier run
	// of the same settings left there and resumes from its last finished
	// block, with the same final weights. A state of other settings is
	// refused; FreshState discards it instead. Prune removes the state when
	// it succeeds.
	State      string
	FreshState bool
	// stateID and stateRun identify and describe the run for its state;
	// Run computes them once, Prune when they are empty.
	stateID, stateRun string
}

// PruneOutcome is what a pruning run produced.
type PruneOutcome struct {
	// Method is the method spec with every option resolved (Resolved):
	// what the run used, defaults included.
	Method MethodSpec
	Result *prune.Result
	Calib  data.Provenance
	// Resumed is the number of blocks taken from the state of an earlier
	// run (PruneSpec.State).
	Resumed int
	// state is the run's state directory, removed once the run's outputs
	// are safe; nil without PruneSpec.State.
	state *pruneState
}

// Prune samples the calibration windows with m's tokenizer and prunes m in
// place: the pruning step of Run, for callers that hold a model. Everything
// in s is validated before anything is sized by it, and before the
// calibration, which takes minutes on a 7B model. When ctx is cancelled
// Prune returns promptly (see prune.Run) with an error wrapping ctx.Err(),
// and m is partly pruned.
func Prune(ctx context.Context, m *model.Model, s PruneSpec) (*PruneOutcome, error) {
	o, err := prunePrepared(ctx, m, s, func(c data.CalibSpec) ([][]int, data.Provenance, error) {
		encode := func(text string) []int { return m.Tokenizer.Encode(text, m.AddBOS(), false) }
		return data.Calibrate(s.DataDir, c, encode)
	})
	if err != nil {
		return nil, err
	}
	o.removeState(s.Progress)
	return o, nil
}

// removeState removes the state once the run's outputs are safe; failing
// to is a warning, as the run itself succeeded.
func (o *PruneOutcome) removeState(progress io.Writer) {
	if err := o.state.remove(); err != nil && progress != nil {
		fmt.Fprintf(progress, "prune: warning: %v\n", err)
	}
	o.state = nil
}

// calibrateFunc returns the calibration windows of a validated spec; a
// session's caches them.
type calibrateFunc func(data.CalibSpec) ([][]int, data.Provenance, error)

func prunePrepared(ctx context.Context, m *model.Model, s PruneSpec, calibrate calibrateFunc) (*PruneOutcome, error) {
	resolved, method, perRow, err := s.Method.build()
	if err != nil {
		return nil, err
	}
	if s.Calib, err = checkPrune(m, s); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	progress := s.Progress
	if progress == nil {
		progress = io.Discard
	}
	var st *pruneState
	if s.State != "" {
		if st, err = openPruneState(m, s, resolved, progress); err != nil {
			return nil, err
		}
	}
	// From here on the state (when any) is locked: released on failure,
	// after the kept blocks are named.
	fail := func(err error) (*PruneOutcome, error) {
		st.release()
		return nil, err
	}
	calib, prov, err := calibrate(s.Calib)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(progress, "prune: %s %s, calibration %s %d×%d from %s\n",
		method.Name(), s.Pattern, prov.Mode, prov.NSamples, prov.SeqLen, prov.Source)
	opts := prune.PipelineOptions{
		Progress:    s.Progress,
		ChunkSeqs:   s.ChunkSeqs,
		PerRow:      perRow,
		SpillInputs: s.SpillInputs,
	}
	var prior []prune.BlockResult
	if st != nil {
		st.nseq, st.T, st.spill = len(calib), len(calib[0]), s.SpillInputs
		defer st.freeResumed()
		if opts.Resume, prior, opts.ChunkSeqs, err = st.load(ctx, m, calib, s.ChunkSeqs); err != nil {
			return fail(err)
		}
		st.start = time.Now()
		opts.OnBlock = func(br prune.BlockResult, pruned *model.Block, next prune.Checkpoint) error {
			return st.save(m, br, pruned, next, opts.ChunkSeqs)
		}
	}
	var res *prune.Result
	if st != nil && len(prior) == m.Config.Layers {
		res = &prune.Result{Method: method.Name(), Pattern: s.Pattern, Samples: len(calib), SeqLen: len(calib[0])}
	} else if res, err = prune.Run(ctx, m, calib, method, s.Pattern, opts); err != nil {
		return fail(err)
	}
	if st != nil {
		mergeResult(res, prior, st.base)
	}
	return &PruneOutcome{Method: resolved, Result: res, Calib: prov, Resumed: len(prior), state: st}, nil
}

// openPruneState opens the state directory of s, checking it against the
// run's ID, and that its files fit on its file system.
func openPruneState(m *model.Model, s PruneSpec, resolved MethodSpec, progress io.Writer) (*pruneState, error) {
	id, run := s.stateID, s.stateRun
	if id == "" {
		var err error
		if id, err = standaloneStateID(m, s, resolved); err != nil {
			return nil, err
		}
	}
	if run == "" {
		name := "the model"
		if len(m.Files) > 0 {
			name = filepath.Base(m.Files[0])
		}
		run = describeRun(name, resolved, s.Pattern, s.Calib)
	}
	st, err := openState(s.State, id, run, s.FreshState, progress)
	if err != nil {
		return nil, err
	}
	if err := st.checkSpace(m, s.Calib.NSamples, s.Calib.SeqLen); err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

// checkPrune validates the pattern, the calibration counts and the memory
// the activations need against m, and returns the calibration spec with
// its window length resolved. The pipeline checks the pattern too, but
// only after calibration, which takes minutes on a 7B model.
func checkPrune(m *model.Model, s PruneSpec) (data.CalibSpec, error) {
	if err := s.Pattern.Validate(); err != nil {
		return s.Calib, err
	}
	for l := range m.Weights.Blocks {
		for i, lin := range m.Weights.Blocks[l].Linears() {
			if err := s.Pattern.Fits(lin.In); err != nil {
				return s.Calib, fmt.Errorf("block %d %s (%d×%d): %w", l, model.LinearNames[i], lin.Out, lin.In, err)
			}
		}
	}
	if s.Calib.SeqLen == 0 {
		s.Calib.SeqLen = m.Config.SeqLen
	}
	// The window counts are checked here because data.Calibrate reads 0 as
	// its default, and the pipeline's buffers scale with what it returns.
	switch {
	case s.Calib.SeqLen < 2 || s.Calib.SeqLen > m.Config.SeqLen:
		return s.Calib, fmt.Errorf("--seqlen %d: must be 2..%d (the model's context length)", s.Calib.SeqLen, m.Config.SeqLen)
	case s.Calib.NSamples < 1:
		return s.Calib, fmt.Errorf("--nsamples %d: must be ≥ 1", s.Calib.NSamples)
	case s.Calib.NSamples > math.MaxInt/s.Calib.SeqLen/max(m.Config.Dim, 1):
		return s.Calib, fmt.Errorf("--nsamples %d: %d×%d calibration tokens of width %d cannot be addressed", s.Calib.NSamples, s.Calib.NSamples, s.Calib.SeqLen, m.Config.Dim)
	case s.ChunkSeqs < 0:
		return s.Calib, fmt.Errorf("--chunk %d: must be ≥ 0 (0 = all sequences at once)", s.ChunkSeqs)
	}
	if err := checkMemory(&m.Config, s.Calib.NSamples, s.Calib.SeqLen, s.ChunkSeqs, s.SpillInputs); err != nil {
		return s.Calib, err
	}
	return s.Calib, checkSpill(m, s)
}

// checkSpill refuses a run whose temporary files would not fit in
// os.TempDir: a streaming model's pruned blocks (every linear in float32,
// 26 GB for LLaMA-7B) and spilled inputs live there until the run ends,
// and a full disk would otherwise surface after hours of pruning.
func checkSpill(m *model.Model, s PruneSpec) error {
	var need uint64
	if m.Streaming() {
		need += uint64(linearBytes(m))
	}
	if s.SpillInputs {
		need += prune.InputBytes(&m.Config, s.Calib.NSamples, s.Calib.SeqLen)
	}
	free, ok := tempFree()
	if need == 0 || !ok {
		return nil
	}
	if free < need {
		return fmt.Errorf("the pruned blocks and spilled inputs are kept in %s until the run ends: they need %s but only %s are free; set TMPDIR to a larger file system",
			os.TempDir(), formatBytes(need), formatBytes(free))
	}
	return nil
}

// tempFree is the space free in os.TempDir, false when unknown; tests
// replace it.
var tempFree = func() (uint64, bool) {
	free, ok := sysmem.DiskFree(os.TempDir())
	return uint64(max(free, 0)), ok
}

// availableMemory is sysmem.Available; tests replace it.
var availableMemory = sysmem.Available

// checkMemory refuses a calibration whose activations (prune.
// CalibrationBytes, less the inputs when they spill) exceed the memory the
// process can still allocate: the pipeline would otherwise die in an
// unrecoverable Go out-of-memory error, possibly after minutes of
// calibration. It runs before data.Calibrate and before anything is sized
// by the spec.
func checkMemory(cfg *model.Config, nseq, T, chunk int, spill bool) error {
	// A quarter more for the garbage the GC has not yet reclaimed (per-chunk
	// buffers, the calibration's intermediates): under an address-space
	// limit the runtime fails an allocation rather than collect first.
	need := calibrationNeed(cfg, nseq, T, chunk, spill)
	avail, what := availableMemory()
	if what == "" || need <= avail {
		return nil
	}
	advice := "use fewer --nsamples or a smaller --seqlen"
	// The per-chunk workspace dominates when a one-sequence chunk would
	// need less than half as much.
	if one := calibrationNeed(cfg, nseq, T, 1, spill); one < need/2 {
		if one <= avail {
			advice = "use a smaller --chunk (sequences per block forward), fewer --nsamples or a smaller --seqlen"
		} else {
			advice = "use fewer --nsamples, a smaller --seqlen or a smaller --chunk (sequences per block forward)"
		}
	}
	return fmt.Errorf("calibration of %d × %d tokens needs about %s for the activations of a %d-wide model (--chunk %d); only %s %s: %s",
		nseq, T, formatBytes(need), cfg.Dim, chunk, formatBytes(avail), what, advice)
}

// formatBytes writes n in decimal units with one decimal.
func formatBytes(n uint64) string {
	switch {
	case n == math.MaxUint64:
		return "more than 18 EB"
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d bytes", n)
}
