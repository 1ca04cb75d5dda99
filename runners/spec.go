package runners

import (
	"context"
	"io"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/prune"
)

// Dense is the method name of a run that evaluates the unpruned model.
const Dense = "dense"

// RunSpec is one run: a model, optionally pruned with a method to a
// pattern on calibration windows, then evaluated. The CLI verbs and the
// experiment harness build RunSpecs and hand them to Run or Sweep, the one
// path from settings to a record.
type RunSpec struct {
	// Config is the experiment's name, recorded; empty for a CLI verb.
	Config string
	// Model is a short name in the data directory (stories260K), a
	// Hugging Face id (org/name[@revision], from the hub cache) or a path.
	Model string
	// Method is Dense for the unpruned model; Pattern and Calib are then
	// unused.
	Method  MethodSpec
	Pattern prune.Pattern
	// Calib chooses the calibration windows; SeqLen 0 means the model's
	// context length. Every method, magnitude included, gets the same
	// windows so that reconstruction errors are comparable.
	Calib data.CalibSpec
	Eval  EvalSpec

	// What follows changes how a run goes, not its numbers: it is not part
	// of the run's ID.

	// ChunkSeqs is the calibration sequences per block forward; 0 = as
	// many as MaxMemory allows.
	ChunkSeqs int
	// MaxMemory bounds what the run allocates beyond the weights (the
	// calibration chunk, evaluation batches); 0 = three quarters of the
	// memory available when the run starts.
	MaxMemory uint64
	// DataDir is the data directory (data.Dir resolves the default).
	DataDir string
	// Fetch, when set, is called with Model before the model is opened, to
	// download what is missing (the CLI's --download).
	Fetch func(ctx context.Context, model string) error
	// Out, when set, is where the pruned model is saved: a Hugging Face
	// safetensors directory, or a GGUF file (F32) when it ends in .gguf.
	Out string
	// State, when set, is where a pruning run keeps its state after every
	// block and resumes from (PruneSpec.State); it is removed when the run
	// has succeeded, its output saved. FreshState discards a state of other
	// settings instead of refusing it.
	State      string
	FreshState bool
	// Layers keeps the per-linear results in the outcome (the prune verb's
	// --layers); the record always has their summary.
	Layers bool
	// Samples receives zero-shot per-document lines (the zeroshot verb's
	// --samples); nil = none.
	Samples io.Writer
	// Progress receives progress lines; nil = quiet.
	Progress io.Writer
}

// EvalSpec lists the evaluations of a run, in the order they run.
type EvalSpec struct {
	PPL      []PPLSpec     `json:"ppl,omitempty"`
	ZeroShot *ZeroShotSpec `json:"zeroshot,omitempty"`
	KLD      *KLDSpec      `json:"kld,omitempty"`
}

// PPLSpec is one perplexity evaluation (eval.PPLOptions).
type PPLSpec struct {
	Dataset  string `json:"dataset"`  // wikitext2, wikitext2-valid, wikitext2-raw or a text file
	Protocol string `json:"protocol"` // eval.ProtocolWanda (default "") or eval.ProtocolLlamaCpp
	// SeqLen 0 means the model's context length.
	SeqLen     int `json:"seqlen"`
	MaxWindows int `json:"max_windows"` // 0 = all
	// Metric overrides the metric's name in the record; "" = the default
	// "<dataset>_ppl[_llamacpp]".
	Metric string `json:"metric,omitempty"`
}

// ZeroShotSpec is a zero-shot evaluation.
type ZeroShotSpec struct {
	Tasks        []string `json:"tasks"` // eval.TaskNames; empty = the seven paper tasks
	Limit        int      `json:"limit"` // first documents of each task; 0 = all
	HellaSwagCtx string   `json:"hellaswag_ctx,omitempty"`
}

// KLDSpec compares the run's model with the dense one (eval.KLD) on the
// windows of the wanda perplexity protocol.
type KLDSpec struct {
	Dataset    string `json:"dataset"`
	SeqLen     int    `json:"seqlen"`
	MaxWindows int    `json:"max_windows"`
}
