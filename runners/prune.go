package runners

import (
	"context"
	"fmt"
	"io"

	"github.com/prunebench/prunebench/data"
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
	Result *prune.Result
	Calib  data.Provenance
}

// Prune samples the calibration windows with m's tokenizer and prunes m in
// place. It stops between blocks when ctx is cancelled.
func Prune(ctx context.Context, m *model.Model, s PruneSpec) (*PruneOutcome, error) {
	method, perRow, err := NewMethod(s.Method)
	if err != nil {
		return nil, err
	}
	if err := s.Pattern.Validate(); err != nil {
		return nil, err
	}
	// The pipeline checks this too, but only after calibration, which
	// takes minutes on a 7B model.
	for l := range m.Weights.Blocks {
		for i, lin := range m.Weights.Blocks[l].Linears() {
			if err := s.Pattern.Fits(lin.In); err != nil {
				return nil, fmt.Errorf("block %d %s (%d×%d): %w", l, model.LinearNames[i], lin.Out, lin.In, err)
			}
		}
	}
	if s.Calib.SeqLen == 0 {
		s.Calib.SeqLen = m.Config.SeqLen
	}
	if s.Calib.SeqLen > m.Config.SeqLen {
		return nil, fmt.Errorf("calibration seqlen %d exceeds the model's context length %d", s.Calib.SeqLen, m.Config.SeqLen)
	}
	encode := func(text string) []int { return m.Tokenizer.Encode(text, true, false) }
	calib, prov, err := data.Calibrate(s.DataDir, s.Calib, encode)
	if err != nil {
		return nil, err
	}
	progress := s.Progress
	if progress == nil {
		progress = io.Discard
	}
	fmt.Fprintf(progress, "prune: %s %s, calibration %s %d×%d from %s\n",
		method.Name(), s.Pattern, prov.Mode, prov.NSamples, prov.SeqLen, prov.Source)
	res, err := prune.Run(m, calib, method, s.Pattern, prune.PipelineOptions{
		Progress:  s.Progress,
		ChunkSeqs: s.ChunkSeqs,
		PerRow:    perRow,
		OnBlock: func(prune.BlockResult, prune.Checkpoint) error {
			return ctx.Err()
		},
	})
	if err != nil {
		return nil, err
	}
	return &PruneOutcome{Result: res, Calib: prov}, nil
}
