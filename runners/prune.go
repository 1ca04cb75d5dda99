package runners

import (
	"context"
	"fmt"
	"io"
	"math"

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
	ChunkSeqs int       // sequences per block forward; 0 = all
	Progress  io.Writer // stderr in the CLI; nil = quiet
}

// PruneOutcome is what a pruning run produced.
type PruneOutcome struct {
	// Method is the method spec with every option resolved (Resolved):
	// what the run used, defaults included.
	Method MethodSpec
	Result *prune.Result
	Calib  data.Provenance
}

// Prune samples the calibration windows with m's tokenizer and prunes m in
// place: the pruning step of Run, for callers that hold a model. Everything
// in s is validated before anything is sized by it, and before the
// calibration, which takes minutes on a 7B model. When ctx is cancelled
// Prune returns promptly (see prune.Run) with an error wrapping ctx.Err(),
// and m is partly pruned.
func Prune(ctx context.Context, m *model.Model, s PruneSpec) (*PruneOutcome, error) {
	return prunePrepared(ctx, m, s, func(c data.CalibSpec) ([][]int, data.Provenance, error) {
		encode := func(text string) []int { return m.Tokenizer.Encode(text, true, false) }
		return data.Calibrate(s.DataDir, c, encode)
	})
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
	calib, prov, err := calibrate(s.Calib)
	if err != nil {
		return nil, err
	}
	progress := s.Progress
	if progress == nil {
		progress = io.Discard
	}
	fmt.Fprintf(progress, "prune: %s %s, calibration %s %d×%d from %s\n",
		method.Name(), s.Pattern, prov.Mode, prov.NSamples, prov.SeqLen, prov.Source)
	res, err := prune.Run(ctx, m, calib, method, s.Pattern, prune.PipelineOptions{
		Progress:  s.Progress,
		ChunkSeqs: s.ChunkSeqs,
		PerRow:    perRow,
	})
	if err != nil {
		return nil, err
	}
	return &PruneOutcome{Method: resolved, Result: res, Calib: prov}, nil
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
	return s.Calib, checkMemory(&m.Config, s.Calib.NSamples, s.Calib.SeqLen, s.ChunkSeqs)
}

// availableMemory is sysmem.Available; tests replace it.
var availableMemory = sysmem.Available

// checkMemory refuses a calibration whose activations (prune.
// CalibrationBytes) exceed the memory the process can still allocate: the
// pipeline would otherwise die in an unrecoverable Go out-of-memory error,
// possibly after minutes of calibration. It runs before data.Calibrate and
// before anything is sized by the spec.
func checkMemory(cfg *model.Config, nseq, T, chunk int) error {
	// A quarter more for the garbage the GC has not yet reclaimed (per-chunk
	// buffers, the calibration's intermediates): under an address-space
	// limit the runtime fails an allocation rather than collect first.
	need := prune.CalibrationBytes(cfg, nseq, T, chunk)
	need += need / 4
	avail, what := availableMemory()
	if what == "" || need <= avail {
		return nil
	}
	advice := "use fewer --nsamples or a smaller --seqlen"
	// The per-chunk workspace dominates when a one-sequence chunk would
	// need less than half as much.
	if one := prune.CalibrationBytes(cfg, nseq, T, 1); one < need/2 {
		if one+one/4 <= avail {
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
