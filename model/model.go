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

// minNormEps is the smallest RMSNorm epsilon accepted: the smallest normal
// float32, whose 1/sqrt is about 9.2e18, far inside float32's range.
const minNormEps = 0x1p-126

// Validate reports the first inconsistent field.
func (c *Config) Validate() error { return c.validate(genericKeys) }

// configKeys spells Config's fields as one checkpoint format names them,
// so that an error names the key the user can find in the file.
type configKeys struct {
	Dim, HiddenDim, Layers, Heads, KVHeads, HeadDim, Vocab, SeqLen, NormEps, RopeBase string
}

var (
	genericKeys = configKeys{"dim", "hidden dim", "layers", "heads", "kv heads", "head dim", "vocab", "context length", "norm eps", "rope base"}
	hfKeys      = configKeys{"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
		"head_dim", "vocab_size", "max_position_embeddings", "rms_norm_eps", "rope_theta"}
	ggufKeys = configKeys{"llama.embedding_length", "llama.feed_forward_length", "llama.block_count", "llama.attention.head_count",
		"llama.attention.head_count_kv", "llama.rope.dimension_count", "token_embd.weight rows", "llama.context_length",
		"llama.attention.layer_norm_rms_epsilon", "llama.rope.freq_base"}
	llama2cKeys = configKeys{"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "head dim (dim/n_heads)", "vocab_size", "seq_len", "norm eps", "rope base"}
)

func (c *Config) validate(k configKeys) error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{k.Dim, c.Dim}, {k.HiddenDim, c.HiddenDim}, {k.Layers, c.Layers}, {k.Heads, c.Heads},
		{k.KVHeads, c.KVHeads}, {k.HeadDim, c.HeadDim}, {k.Vocab, c.Vocab}, {k.SeqLen, c.SeqLen},
	} {
		if f.v > maxDimension {
			return fmt.Errorf("%s %d: must be at most %d", f.name, f.v, maxDimension)
		}
	}
	switch {
	case c.Dim <= 0:
		return fmt.Errorf("%s %d: must be positive", k.Dim, c.Dim)
	case c.HiddenDim <= 0:
		return fmt.Errorf("%s %d: must be positive", k.HiddenDim, c.HiddenDim)
	case c.Layers <= 0:
		return fmt.Errorf("%s %d: must be positive", k.Layers, c.Layers)
	case c.Heads <= 0:
		return fmt.Errorf("%s %d: must be positive", k.Heads, c.Heads)
	case c.KVHeads <= 0 || c.Heads%c.KVHeads != 0:
		return fmt.Errorf("%s %d: must be positive and divide %s %d", k.KVHeads, c.KVHeads, k.Heads, c.Heads)
	case c.HeadDim <= 0 || c.HeadDim%2 != 0:
		return fmt.Errorf("%s %d: must be positive and even", k.HeadDim, c.HeadDim)
	case c.Vocab <= 0:
		return fmt.Errorf("%s %d: must be positive", k.Vocab, c.Vocab)
	case c.SeqLen <= 0:
		return fmt.Errorf("%s %d: must be positive", k.SeqLen, c.SeqLen)
	// A huge (or infinite) epsilon or base still yields finite logits
	// (all-zero normed activations, uniform output; positions that barely
	// rotate), so a perplexity would come out plausible and wrong. An
	// epsilon is a small regulariser, so it must lie in (0, 1); it must
	// also be at least minNormEps, so that rmsNorm's float32 scale
	// 1/sqrt(mean(x²)+eps) of an all-zero row cannot overflow to +Inf
	// (and 0·Inf to NaN). A base below 1 would turn the RoPE frequencies
	// around; the table is computed in float64 and stored as cos/sin in
	// [-1, 1], so any finite base ≥ 1 converts to float32 safely.
	case !(c.NormEps > 0 && c.NormEps < 1):
		return fmt.Errorf("%s %g: must be in (0, 1)", k.NormEps, c.NormEps)
	case c.NormEps < minNormEps:
		return fmt.Errorf("%s %g: must be at least %g (the smallest normal float32)", k.NormEps, c.NormEps, minNormEps)
	case !(c.RopeBase >= 1) || math.IsInf(c.RopeBase, 0):
		return fmt.Errorf("%s %g: must be finite and at least 1", k.RopeBase, c.RopeBase)
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
	// store is set when the model streams its blocks (Open); nil when
	// Weights.Blocks holds them.
	store *blockStore
}
