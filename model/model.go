package model

import (
	"fmt"
	"math"

	"github.com/prunebench/prunebench/tokenizer"
)

// Config is the architecture of a LLaMA model, whatever file it came from.
type Config struct {
	Dim       int     // model width d
	HiddenDim int     // SwiGLU width
	Layers    int     // decoder blocks
	Heads     int     // query heads
	KVHeads   int     // key/value heads (grouped-query attention)
	HeadDim   int     // per-head width; Dim/Heads unless the checkpoint says otherwise
	Vocab     int     // vocabulary size
	SeqLen    int     // context length (max_position_embeddings)
	NormEps   float64 // RMSNorm epsilon
	RopeBase  float64 // RoPE base θ
	// TiedClassifier is true when the classifier shares the embedding matrix.
	TiedClassifier bool
}

// maxDimension bounds every count and width of a Config. Real models are
// orders of magnitude below it; above it, products of two fields could
// overflow before a loader compares them with the file.
const maxDimension = math.MaxInt32

// Validate reports the first inconsistent field.
func (c *Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"dim", c.Dim}, {"hidden dim", c.HiddenDim}, {"layers", c.Layers}, {"heads", c.Heads},
		{"kv heads", c.KVHeads}, {"head dim", c.HeadDim}, {"vocab", c.Vocab}, {"context length", c.SeqLen},
	} {
		if f.v > maxDimension {
			return fmt.Errorf("%s %d: must be at most %d", f.name, f.v, maxDimension)
		}
	}
	switch {
	case c.Dim <= 0:
		return fmt.Errorf("dim %d: must be positive", c.Dim)
	case c.HiddenDim <= 0:
		return fmt.Errorf("hidden dim %d: must be positive", c.HiddenDim)
	case c.Layers <= 0:
		return fmt.Errorf("layers %d: must be positive", c.Layers)
	case c.Heads <= 0:
		return fmt.Errorf("heads %d: must be positive", c.Heads)
	case c.KVHeads <= 0 || c.Heads%c.KVHeads != 0:
		return fmt.Errorf("kv heads %d: must be positive and divide heads %d", c.KVHeads, c.Heads)
	case c.HeadDim <= 0 || c.HeadDim%2 != 0:
		return fmt.Errorf("head dim %d: must be positive and even", c.HeadDim)
	case c.Vocab <= 0:
		return fmt.Errorf("vocab %d: must be positive", c.Vocab)
	case c.SeqLen <= 0:
		return fmt.Errorf("context length %d: must be positive", c.SeqLen)
	case !(c.NormEps > 0):
		return fmt.Errorf("norm eps %g: must be positive", c.NormEps)
	case !(c.RopeBase > 0):
		return fmt.Errorf("rope base %g: must be positive", c.RopeBase)
	}
	return nil
}

// QDim is the width of the concatenated query heads (o_proj's input).
func (c *Config) QDim() int { return c.Heads * c.HeadDim }

// KVDim is the width of the key and value projections.
func (c *Config) KVDim() int { return c.KVHeads * c.HeadDim }

// Linear is a weight matrix, Out×In, row-major (y = x·Wᵀ).
type Linear struct {
	Out, In int
	W       []float32
}

// NewLinear allocates a zero Out×In matrix.
func NewLinear(out, in int) Linear { return Linear{Out: out, In: in, W: make([]float32, out*in)} }

// Block is one decoder block.
type Block struct {
	AttnNorm       []float32 // Dim
	Q, K, V, O     Linear
	FFNNorm        []float32 // Dim
	Gate, Up, Down Linear
}

// LinearNames are the 7 prunable linears of a block, in pruning order.
var LinearNames = [7]string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

// Linears returns pointers to the 7 linears in LinearNames order.
func (b *Block) Linears() [7]*Linear {
	return [7]*Linear{&b.Q, &b.K, &b.V, &b.O, &b.Gate, &b.Up, &b.Down}
}

// Weights are all parameters of a model.
type Weights struct {
	Embed     []float32 // Vocab×Dim
	Blocks    []Block
	FinalNorm []float32 // Dim
	// Classifier is Vocab×Dim; it aliases Embed when the config is tied.
	Classifier []float32
}

// Model is a loaded checkpoint.
type Model struct {
	Config    Config
	Weights   Weights
	Tokenizer tokenizer.Tokenizer
	// Path is where the model was loaded from; Format is "llama2c", "gguf" or "hf".
	Path, Format string
	// Files are the absolute paths of every file the loader read: the
	// checkpoint or its shards and index, config.json and the vocabulary, so
	// that a result can record each with its checksum.
	Files []string
	// vocabFile is the vocabulary file among Files, which SaveHF copies;
	// empty when the vocabulary came inside the checkpoint (GGUF).
	vocabFile string
}
