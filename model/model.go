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
	// Arch is the family: empty for LLaMA (one spelling, so that the
	// configs of one model read from different formats are equal),
	// ArchMistral, ArchQwen2 or ArchQwen3. It decides the per-block extras
	// (Qwen2's q/k/v biases, Qwen3's q/k norms) and the names a saved copy
	// uses.
	Arch string
	// RopeScaling is config.json's "llama3" rope_scaling (LLaMA-3.1 and
	// later); zero when the frequencies are not scaled or when they came as
	// GGUF's rope_freqs.weight (then only Block.RopeFreqs holds them).
	RopeScaling RopeScaling
	// SlidingWindow, when positive, lets a query attend only to the last
	// SlidingWindow positions, its own included (Mistral's sliding_window);
	// 0 is full causal attention.
	SlidingWindow int
}

// The architectures as config.json's model_type spells them; Config.Arch
// holds them, except LLaMA's, which is empty there.
const (
	ArchLlama   = "llama"
	ArchMistral = "mistral"
	ArchQwen2   = "qwen2"
	ArchQwen3   = "qwen3"
)

// archName names the family in messages.
func archName(c *Config) string {
	switch c.Arch {
	case ArchMistral:
		return "Mistral"
	case ArchQwen2:
		return "Qwen2"
	case ArchQwen3:
		return "Qwen3"
	}
	return "LLaMA"
}

// ScalableRoPE tells whether the family's RoPE frequencies may be scaled
// (RopeScaling, Block.RopeFreqs): llama.cpp reads rope_freqs.weight only
// in its llama architecture, which carries LLaMA and Mistral.
func (c *Config) ScalableRoPE() bool { return c.Arch == "" || c.Arch == ArchMistral }

// QKVBias tells whether q, k and v add a bias (Qwen2).
func (c *Config) QKVBias() bool { return c.Arch == ArchQwen2 }

// QKNorm tells whether q and k are RMS-normalised per head before RoPE (Qwen3).
func (c *Config) QKNorm() bool { return c.Arch == ArchQwen3 }

// RopeScaling holds the parameters of Hugging Face's "llama3" RoPE
// scaling; the zero value is no scaling.
type RopeScaling struct {
	Factor, LowFreqFactor, HighFreqFactor float64
	OriginalContext                       int // original_max_position_embeddings
}

// Freqs returns the per-dimension divisors of the RoPE frequencies θ_i
// (hd/2 of them; nil for no scaling) as transformers'
// _compute_llama3_parameters rescales them: with wavelength λ = 2π/θ_i, a
// wavelength shorter than OriginalContext/HighFreqFactor keeps θ_i (divisor
// 1), one longer than OriginalContext/LowFreqFactor is slowed by Factor,
// and in between the divisor interpolates, 1/((1−s)/Factor + s) with
// s = (OriginalContext/λ − LowFreqFactor)/(HighFreqFactor − LowFreqFactor).
// The divisors are rounded to float32, as GGUF's rope_freqs.weight stores
// them, so that every copy of a model rotates by the same angles.
func (r RopeScaling) Freqs(hd int, base float64) []float32 {
	if r == (RopeScaling{}) {
		return nil
	}
	orig := float64(r.OriginalContext)
	out := make([]float32, hd/2)
	for i := range out {
		wavelen := 2 * math.Pi / math.Pow(base, -2*float64(i)/float64(hd))
		switch {
		case wavelen < orig/r.HighFreqFactor:
			out[i] = 1
		case wavelen > orig/r.LowFreqFactor:
			out[i] = float32(r.Factor)
		default:
			s := (orig/wavelen - r.LowFreqFactor) / (r.HighFreqFactor - r.LowFreqFactor)
			out[i] = float32(1 / ((1-s)/r.Factor + s))
		}
	}
	return out
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
	Dim, HiddenDim, Layers, Heads, KVHeads, HeadDim, Vocab, SeqLen, NormEps, RopeBase, RopeScaling, SlidingWindow string
}

var (
	genericKeys = configKeys{"dim", "hidden dim", "layers", "heads", "kv heads", "head dim", "vocab", "context length", "norm eps", "rope base",
		"rope scaling", "sliding window"}
	hfKeys = configKeys{"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
		"head_dim", "vocab_size", "max_position_embeddings", "rms_norm_eps", "rope_theta", "rope_scaling", "sliding_window"}
	llama2cKeys = configKeys{"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "head dim (dim/n_heads)", "vocab_size", "seq_len", "norm eps", "rope base",
		"rope scaling", "sliding window"}
)

// ggufKeys names the fields as a GGUF file of architecture arch spells them.
func ggufKeys(arch string) configKeys {
	return configKeys{arch + ".embedding_length", arch + ".feed_forward_length", arch + ".block_count", arch + ".attention.head_count",
		arch + ".attention.head_count_kv", arch + ".attention.key_length", "token_embd.weight rows", arch + ".context_length",
		arch + ".attention.layer_norm_rms_epsilon", arch + ".rope.freq_base", "rope_freqs.weight", arch + ".attention.sliding_window"}
}

func (c *Config) validate(k configKeys) error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{k.Dim, c.Dim}, {k.HiddenDim, c.HiddenDim}, {k.Layers, c.Layers}, {k.Heads, c.Heads},
		{k.KVHeads, c.KVHeads}, {k.HeadDim, c.HeadDim}, {k.Vocab, c.Vocab}, {k.SeqLen, c.SeqLen},
		{k.SlidingWindow, c.SlidingWindow},
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
	case c.SlidingWindow < 0:
		return fmt.Errorf("%s %d: must be positive (or absent for full attention)", k.SlidingWindow, c.SlidingWindow)
	}
	switch c.Arch {
	case "", ArchMistral, ArchQwen2, ArchQwen3:
	default:
		return fmt.Errorf("architecture %q: want empty (LLaMA), %s, %s or %s", c.Arch, ArchMistral, ArchQwen2, ArchQwen3)
	}
	if err := c.RopeScaling.validate(); err != nil {
		return fmt.Errorf("%s: %w", k.RopeScaling, err)
	}
	if c.SlidingWindow > 0 && c.Arch != ArchMistral {
		// Qwen's windows apply to some layers only; a LLaMA with a window
		// is a Mistral, and GGUF reads it back as one.
		return fmt.Errorf("%s %d: only %s has a sliding window, not %s", k.SlidingWindow, c.SlidingWindow, archName(&Config{Arch: ArchMistral}), archName(c))
	}
	if c.RopeScaling != (RopeScaling{}) && !c.ScalableRoPE() {
		return fmt.Errorf("%s: not supported for %s", k.RopeScaling, archName(c))
	}
	return nil
}

// validate checks the scaling's parameters as transformers does, and
// that they are finite: a NaN factor would turn every angle into NaN.
func (r RopeScaling) validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case r == (RopeScaling{}):
		return nil
	// The divisors lie between 1 and Factor, and are float32.
	case !finite(r.Factor) || r.Factor < 1 || r.Factor > math.MaxFloat32:
		return fmt.Errorf("factor %g: must be at least 1 and at most %g", r.Factor, math.MaxFloat32)
	case !finite(r.LowFreqFactor) || r.LowFreqFactor <= 0:
		return fmt.Errorf("low_freq_factor %g: must be finite and positive", r.LowFreqFactor)
	case !finite(r.HighFreqFactor) || r.HighFreqFactor <= r.LowFreqFactor:
		return fmt.Errorf("high_freq_factor %g: must be finite and above low_freq_factor %g", r.HighFreqFactor, r.LowFreqFactor)
	case r.OriginalContext <= 0 || r.OriginalContext > maxDimension:
		return fmt.Errorf("original_max_position_embeddings %d: must be positive and at most %d", r.OriginalContext, maxDimension)
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

// Block is one decoder block. Its vectors (norms, biases, RoPE divisors)
// are read once with the embedding and shared by every copy of the block a
// streaming model hands out; only the 7 linears stream and are pruned.
type Block struct {
	AttnNorm       []float32 // Dim
	Q, K, V, O     Linear
	FFNNorm        []float32 // Dim
	Gate, Up, Down Linear
	// QBias, KBias and VBias are added to q, k and v (QDim, KVDim, KVDim)
	// when Config.QKVBias; q and k in adjacent-pair order like their rows.
	QBias, KBias, VBias []float32
	// QNorm and KNorm are the weights of the per-head RMSNorm on q and k
	// (HeadDim each, adjacent-pair order) when Config.QKNorm.
	QNorm, KNorm []float32
	// RopeFreqs divides RoPE frequency θ_i by RopeFreqs[i] (HeadDim/2
	// values; nil: none): Config.RopeScaling.Freqs, or GGUF's
	// rope_freqs.weight. Every block shares one slice.
	RopeFreqs []float32
}

// blockVectorRoles are the per-block vectors, in Block.vectors order.
var blockVectorRoles = [7]string{roleAttnNorm, roleFFNNorm, roleQBias, roleKBias, roleVBias, roleQNorm, roleKNorm}

// vectors returns pointers to the block's per-layer vectors in
// blockVectorRoles order (RopeFreqs, one tensor for all blocks, is apart).
func (b *Block) vectors() [7]*[]float32 {
	return [7]*[]float32{&b.AttnNorm, &b.FFNNorm, &b.QBias, &b.KBias, &b.VBias, &b.QNorm, &b.KNorm}
}

// vectorLen is the length of a per-block vector under c; 0 when the
// architecture has none.
func vectorLen(c *Config, role string) int {
	switch role {
	case roleAttnNorm, roleFFNNorm:
		return c.Dim
	case roleQBias:
		if c.QKVBias() {
			return c.QDim()
		}
	case roleKBias, roleVBias:
		if c.QKVBias() {
			return c.KVDim()
		}
	case roleQNorm, roleKNorm:
		if c.QKNorm() {
			return c.HeadDim
		}
	}
	return 0
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
	// vocabFiles are the vocabulary files among Files, which SaveHF
	// copies (tokenizer.json with its tokenizer_config.json); none when the
	// vocabulary came inside the checkpoint (GGUF).
	vocabFiles []string
	// store is set when the model streams its blocks (Open); nil when
	// Weights.Blocks holds them.
	store *blockStore
	// noBOS is set by a GGUF file whose tokenizer.ggml.add_bos_token is
	// false (a byte-level BPE vocabulary says so itself).
	noBOS bool
}

// AddBOS tells whether a text fed to the model starts with BOS, as
// llama.cpp decides it (its perplexity tool puts BOS first only then): a
// byte-level BPE vocabulary says so itself (tokenizer_config.json, or
// GGUF's tokenizer.ggml.add_bos_token, else on for LLaMA-3 and off for
// Qwen); a SentencePiece or llama2.c vocabulary does unless its GGUF file
// sets add_bos_token false.
func (m *Model) AddBOS() bool {
	if t, ok := m.Tokenizer.(interface{ AddBOS() bool }); ok {
		return t.AddBOS()
	}
	return !m.noBOS
}
