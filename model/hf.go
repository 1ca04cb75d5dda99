package model

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/prunebench/prunebench/internal/atomicfile"
	"github.com/prunebench/prunebench/internal/jsonerr"
	"github.com/prunebench/prunebench/internal/smallfile"
	"github.com/prunebench/prunebench/internal/sysmem"
	"github.com/prunebench/prunebench/safetensors"
	"github.com/prunebench/prunebench/tokenizer"
)

// hfConfig is the part of config.json prunebench reads. Pointers tell an
// absent field from a zero one.
type hfConfig struct {
	ModelType             *string         `json:"model_type"`
	HiddenSize            *int            `json:"hidden_size"`
	IntermediateSize      *int            `json:"intermediate_size"`
	NumHiddenLayers       *int            `json:"num_hidden_layers"`
	NumAttentionHeads     *int            `json:"num_attention_heads"`
	NumKeyValueHeads      *int            `json:"num_key_value_heads"`
	HeadDim               *int            `json:"head_dim"`
	MaxPositionEmbeddings *int            `json:"max_position_embeddings"`
	VocabSize             *int            `json:"vocab_size"`
	RMSNormEps            *float64        `json:"rms_norm_eps"`
	RopeTheta             *float64        `json:"rope_theta"`
	RopeScaling           json.RawMessage `json:"rope_scaling"`
	RopeParameters        json.RawMessage `json:"rope_parameters"`
	PartialRotaryFactor   *float64        `json:"partial_rotary_factor"`
	TieWordEmbeddings     *bool           `json:"tie_word_embeddings"`
	HiddenAct             *string         `json:"hidden_act"`
	AttentionBias         *bool           `json:"attention_bias"`
	MLPBias               *bool           `json:"mlp_bias"`
	SlidingWindow         json.RawMessage `json:"sliding_window"`
	UseSlidingWindow      *bool           `json:"use_sliding_window"`
	LayerTypes            []string        `json:"layer_types"`
}

// hfRopeScaling is config.json's rope_scaling object; "type" is the older
// spelling of "rope_type".
type hfRopeScaling struct {
	RopeType       *string  `json:"rope_type"`
	Type           *string  `json:"type"`
	Factor         *float64 `json:"factor"`
	LowFreqFactor  *float64 `json:"low_freq_factor"`
	HighFreqFactor *float64 `json:"high_freq_factor"`
	OriginalMax    *int     `json:"original_max_position_embeddings"`
}

// exactKeys refuses a key that encoding/json matched to a field of v only
// because it ignores case: "NUM_HIDDEN_LAYERS" after "num_hidden_layers"
// would silently replace it, while transformers reads keys exactly. With
// onlyFields it also refuses a key that is no field of v at all.
func exactKeys(raw []byte, v any, onlyFields bool) error {
	var keys map[string]json.RawMessage
	if json.Unmarshal(raw, &keys) != nil {
		return nil // not an object: Unmarshal into v has said so
	}
	fields := map[string]string{}
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		fields[strings.ToLower(name)] = name
	}
	for _, k := range sortedKeys(keys) {
		name, ok := fields[strings.ToLower(k)]
		switch {
		case ok && name != k:
			return fmt.Errorf("key %q: keys are case-sensitive; the field is %q", k, name)
		case !ok && onlyFields:
			return fmt.Errorf("key %s is not supported", jsonerr.Key(k))
		}
	}
	return nil
}

// maxConfigBytes caps config.json: LLaMA configs are about 1 kB, and a
// larger file (or an endless one such as a FIFO) is not a config.
const maxConfigBytes = 1 << 20

func readHFConfig(dir string) (Config, error) {
	path := filepath.Join(dir, "config.json")
	raw, err := smallfile.Read(path, maxConfigBytes)
	if err != nil {
		return Config{}, fmt.Errorf("hf checkpoint: %w", err)
	}
	return parseHFConfig(raw, path)
}

// parseHFConfig decodes and validates config.json; path is used in errors.
// A key that changes the computation is either implemented or refused by
// name; keys that change nothing (use_cache, initializer_range, …) pass.
func parseHFConfig(raw []byte, path string) (Config, error) {
	var h hfConfig
	if err := json.Unmarshal(raw, &h); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, jsonerr.Describe(err))
	}
	if err := exactKeys(raw, h, false); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	fail := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("%s: "+format, append([]any{path}, args...)...)
	}
	arch := ArchLlama
	if h.ModelType != nil {
		arch = *h.ModelType
	}
	switch arch {
	case ArchLlama, ArchMistral, ArchQwen2, ArchQwen3:
	default:
		return fail("model_type %s, want one of %q, %q, %q, %q", excerpt(arch, 40), ArchLlama, ArchMistral, ArchQwen2, ArchQwen3)
	}
	if h.HiddenAct != nil && *h.HiddenAct != "silu" {
		return fail("hidden_act %q, want \"silu\"", *h.HiddenAct)
	}
	// transformers' LLaMA adds attention_bias to o_proj as well, Qwen3 too;
	// Qwen2's q/k/v biases are built in and it has no such key.
	if h.AttentionBias != nil && *h.AttentionBias && arch != ArchQwen2 {
		return fail("attention_bias true is not supported for model_type %q", arch)
	}
	if h.MLPBias != nil && *h.MLPBias {
		return fail("mlp_bias true is not supported")
	}
	if len(h.RopeParameters) != 0 && string(bytes.TrimSpace(h.RopeParameters)) != "null" {
		return fail("rope_parameters is not supported; give rope_theta and rope_scaling instead")
	}
	if h.PartialRotaryFactor != nil && *h.PartialRotaryFactor != 1 {
		return fail("partial_rotary_factor %g is not supported (RoPE must rotate the whole head)", *h.PartialRotaryFactor)
	}
	required := []struct {
		v    *int
		name string
	}{
		{h.HiddenSize, "hidden_size"}, {h.IntermediateSize, "intermediate_size"},
		{h.NumHiddenLayers, "num_hidden_layers"}, {h.NumAttentionHeads, "num_attention_heads"},
		{h.MaxPositionEmbeddings, "max_position_embeddings"}, {h.VocabSize, "vocab_size"},
	}
	for _, r := range required {
		if r.v == nil {
			return fail("missing %s", r.name)
		}
	}
	if h.RMSNormEps == nil {
		return fail("missing rms_norm_eps")
	}
	c := Config{
		Dim: *h.HiddenSize, HiddenDim: *h.IntermediateSize, Layers: *h.NumHiddenLayers,
		Heads: *h.NumAttentionHeads, KVHeads: *h.NumAttentionHeads, Vocab: *h.VocabSize,
		SeqLen: *h.MaxPositionEmbeddings, NormEps: *h.RMSNormEps, RopeBase: 10000,
	}
	if arch != ArchLlama {
		c.Arch = arch
	}
	if h.NumKeyValueHeads != nil {
		c.KVHeads = *h.NumKeyValueHeads
	}
	if h.RopeTheta != nil {
		c.RopeBase = *h.RopeTheta
	}
	if h.TieWordEmbeddings != nil {
		c.TiedClassifier = *h.TieWordEmbeddings
	}
	switch {
	case h.HeadDim != nil:
		c.HeadDim = *h.HeadDim
	case arch == ArchQwen3:
		c.HeadDim = 128 // Qwen3Config's default, whatever hidden_size is
	case c.Heads > 0 && c.Dim%c.Heads == 0:
		c.HeadDim = c.Dim / c.Heads
	default:
		return fail("hidden_size %d is not a multiple of num_attention_heads %d and head_dim is absent", c.Dim, c.Heads)
	}
	var err error
	if c.RopeScaling, err = parseRopeScaling(h.RopeScaling, arch); err != nil {
		return fail("%w", err)
	}
	if c.SlidingWindow, err = parseSlidingWindow(&h, arch); err != nil {
		return fail("%w", err)
	}
	if err := c.validate(hfKeys); err != nil {
		return fail("%w", err)
	}
	return c, nil
}

// parseRopeScaling reads rope_scaling: null, type "default" (none) or
// "llama3" with its four parameters, all required as transformers requires
// them. Other types (linear, dynamic, yarn, longrope…) are refused by name.
func parseRopeScaling(raw json.RawMessage, arch string) (RopeScaling, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return RopeScaling{}, nil
	}
	var r hfRopeScaling
	if err := json.Unmarshal(raw, &r); err != nil {
		return RopeScaling{}, fmt.Errorf("rope_scaling: %w", jsonerr.Describe(err))
	}
	// A parameter of another scaling type (yarn's beta_fast, say) would
	// otherwise be dropped without a word.
	if err := exactKeys(raw, r, true); err != nil {
		return RopeScaling{}, fmt.Errorf("rope_scaling: %w", err)
	}
	typ := ""
	switch {
	case r.RopeType != nil && r.Type != nil && *r.RopeType != *r.Type:
		return RopeScaling{}, fmt.Errorf("rope_scaling: rope_type %s and type %s disagree", excerpt(*r.RopeType, 40), excerpt(*r.Type, 40))
	case r.RopeType != nil:
		typ = *r.RopeType
	case r.Type != nil:
		typ = *r.Type
	default:
		return RopeScaling{}, errors.New("rope_scaling: missing rope_type")
	}
	params := r.Factor != nil || r.LowFreqFactor != nil || r.HighFreqFactor != nil || r.OriginalMax != nil
	switch {
	case typ == "default" && !params:
		return RopeScaling{}, nil
	case typ == "default":
		return RopeScaling{}, errors.New(`rope_scaling: rope_type "default" takes no parameters`)
	case typ != "llama3":
		return RopeScaling{}, fmt.Errorf(`rope_scaling: rope_type %s is not supported (only "llama3" and "default")`, excerpt(typ, 40))
	case arch == ArchQwen2 || arch == ArchQwen3: // see Config.ScalableRoPE
		return RopeScaling{}, fmt.Errorf(`rope_scaling: rope_type "llama3" is supported for model_type llama and mistral, not %q`, arch)
	}
	for _, k := range []struct {
		present bool
		name    string
	}{{r.Factor != nil, "factor"}, {r.LowFreqFactor != nil, "low_freq_factor"}, {r.HighFreqFactor != nil, "high_freq_factor"},
		{r.OriginalMax != nil, "original_max_position_embeddings"}} {
		if !k.present {
			return RopeScaling{}, fmt.Errorf(`rope_scaling: rope_type "llama3" needs %s`, k.name)
		}
	}
	return RopeScaling{Factor: *r.Factor, LowFreqFactor: *r.LowFreqFactor, HighFreqFactor: *r.HighFreqFactor, OriginalContext: *r.OriginalMax}, nil
}

// parseSlidingWindow reads sliding_window as the architecture uses it:
// Mistral attends within it whenever it is set; Qwen2 and Qwen3 only with
// use_sliding_window, and then in some layers only, which is not
// implemented; LLaMA has no sliding window and transformers ignores the key.
// layer_types, where present, must make every layer full attention.
func parseSlidingWindow(h *hfConfig, arch string) (int, error) {
	for i, t := range h.LayerTypes {
		if t != "full_attention" {
			return 0, fmt.Errorf("layer_types[%d] %s is not supported (only full_attention)", i, excerpt(t, 40))
		}
	}
	if h.UseSlidingWindow != nil && *h.UseSlidingWindow {
		return 0, fmt.Errorf("use_sliding_window true is not supported (%s's per-layer sliding window)", arch)
	}
	raw := bytes.TrimSpace(h.SlidingWindow)
	if arch != ArchMistral || len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var w int
	if err := json.Unmarshal(raw, &w); err != nil || w <= 0 {
		// A number is shown as written; anything else quoted, as it may
		// span lines.
		shown := excerpt(string(raw), 40)
		if (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') && len(raw) <= 40 {
			shown = string(raw) // valid JSON (config.json parsed): a number
		}
		return 0, fmt.Errorf("sliding_window %s: want a positive integer or null", shown)
	}
	return w, nil
}

func hfTensorName(role string, layer int) string {
	switch role {
	case roleEmbed:
		return "model.embed_tokens.weight"
	case roleFinalNorm:
		return "model.norm.weight"
	case roleClassifier:
		return "lm_head.weight"
	}
	suffix := map[string]string{
		roleAttnNorm: "input_layernorm.weight", roleFFNNorm: "post_attention_layernorm.weight",
		"q": "self_attn.q_proj.weight", "k": "self_attn.k_proj.weight", "v": "self_attn.v_proj.weight", "o": "self_attn.o_proj.weight",
		"gate": "mlp.gate_proj.weight", "up": "mlp.up_proj.weight", "down": "mlp.down_proj.weight",
		roleQBias: "self_attn.q_proj.bias", roleKBias: "self_attn.k_proj.bias", roleVBias: "self_attn.v_proj.bias",
		roleQNorm: "self_attn.q_norm.weight", roleKNorm: "self_attn.k_norm.weight",
	}[role]
	return fmt.Sprintf("model.layers.%d.%s", layer, suffix)
}

var invFreqRE = regexp.MustCompile(`^model\.layers\.[0-9]+\.self_attn\.rotary_emb\.inv_freq$`)

// tensorSource is a single safetensors file or a sharded set.
type tensorSource interface {
	Names() []string
	Info(name string) (safetensors.TensorInfo, bool)
	Float32Into(name string, dst []float32) error
	Paths() []string
	Close() error
}

func openHFTensors(dir string) (tensorSource, error) {
	single := filepath.Join(dir, safetensors.SingleName)
	index := filepath.Join(dir, safetensors.IndexName)
	_, errS := os.Stat(single)
	_, errI := os.Stat(index)
	switch {
	case errS == nil && errI == nil:
		return nil, fmt.Errorf("%s: both %s and %s exist; keep one", dir, safetensors.SingleName, safetensors.IndexName)
	case errS == nil:
		return safetensors.Open(single)
	case errI == nil:
		return safetensors.OpenIndex(index)
	}
	return nil, fmt.Errorf("%s: no %s or %s (pickled pytorch_model.bin is not supported)", dir, safetensors.SingleName, safetensors.IndexName)
}

// hfTokenizerFile finds the vocabulary of an HF directory: a SentencePiece
// tokenizer.model, a llama2.c tokenizer.bin as SaveHF writes for models
// that came with a llama2.c vocabulary, or a byte-level BPE tokenizer.json
// (LLaMA-3, Qwen), in that order.
func hfTokenizerFile(dir string) (string, error) {
	var cands []string
	for _, name := range tokenizer.DirFileNames {
		cands = append(cands, filepath.Join(dir, name))
	}
	for _, c := range cands {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("%s: no tokenizer; looked for %s, %s and %s", dir, cands[0], cands[1], cands[2])
}

// loadHFTokenizer reads the vocabulary file hfTokenizerFile found and
// returns it with the files it read: tokenizer.json comes with the
// tokenizer_config.json beside it when there is one, which says whether
// BOS goes first.
func loadHFTokenizer(path string, vocab int) (tokenizer.Tokenizer, []string, error) {
	switch filepath.Base(path) {
	case "tokenizer.model":
		tok, err := tokenizer.LoadSentencePiece(path)
		return tok, []string{path}, err
	case "tokenizer.json":
		tok, err := tokenizer.LoadHFTokenizer(path)
		return tok, vocabFiles(path), err
	}
	tok, err := tokenizer.LoadLlama2C(path, vocab)
	return tok, []string{path}, err
}

// vocabFiles are the files a vocabulary is read from: path, and for a
// tokenizer.json the tokenizer_config.json beside it when there is one,
// which says whether BOS goes first.
func vocabFiles(path string) []string {
	files := []string{path}
	if filepath.Base(path) == "tokenizer.json" {
		cfg := filepath.Join(filepath.Dir(path), "tokenizer_config.json")
		if _, err := os.Stat(cfg); err == nil {
			files = append(files, cfg)
		}
	}
	return files
}

// LoadHF reads a Hugging Face directory of a LLaMA, Mistral, Qwen2 or Qwen3
// model (FORMATS.md §7): config.json, model.safetensors or shards with an
// index, and tokenizer.model, a llama2.c tokenizer.bin or tokenizer.json.
// Q/K rows, and the q/k biases and norm weights with them, are un-permuted
// to adjacent-pair order.
func LoadHF(dir string) (*Model, error) { return loadWhole(OpenHF(dir)) }

// OpenHF is LoadHF for a streaming model (see Model.Block): it checks every
// tensor's name and shape but reads only the embedding, classifier and
// norms. Close releases its files.
func OpenHF(dir string) (*Model, error) {
	cfg, err := readHFConfig(dir)
	if err != nil {
		return nil, err
	}
	tokPath, err := hfTokenizerFile(dir)
	if err != nil {
		return nil, err
	}
	src, err := openHFTensors(dir)
	if err != nil {
		return nil, err
	}
	m, err := openHF(dir, cfg, tokPath, src)
	if err != nil {
		src.Close()
		return nil, err
	}
	return m, nil
}

func openHF(dir string, cfg Config, tokPath string, src tensorSource) (*Model, error) {
	var dataBytes int64
	for _, n := range src.Names() {
		info, _ := src.Info(n)
		dataBytes += info.End - info.Begin // each ≤ its file's size: no overflow
	}
	// F16 and BF16, the narrowest dtypes read, take 2 bytes per parameter.
	fields := headerFields{layers: "num_hidden_layers",
		shapes: "hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim and vocab_size"}
	if err := checkFits(&cfg, fields, len(src.Names()), dataBytes, 2); err != nil {
		return nil, fmt.Errorf("%s: config.json: %w", dir, err)
	}
	want := expectedNames(&cfg, hfTensorName)
	tiedHead := false
	for _, n := range src.Names() {
		switch {
		case want[n], invFreqRE.MatchString(n):
		case n == "lm_head.weight" && cfg.TiedClassifier:
			tiedHead = true
		default:
			return nil, fmt.Errorf("%s: unexpected tensor %q for a %d-layer %s", dir, n, cfg.Layers, archName(&cfg))
		}
	}
	tensors := tensorReader{
		check: func(name string, shape []int) error {
			info, ok := src.Info(name)
			if !ok {
				return fmt.Errorf("%s: missing tensor %q", dir, name)
			}
			if !slices.Equal(info.Shape, shape) {
				return fmt.Errorf("%s: tensor %q has shape %v, config.json implies %v", dir, name, info.Shape, shape)
			}
			switch info.DType {
			case safetensors.F32, safetensors.F16, safetensors.BF16:
				return nil
			}
			return fmt.Errorf("%s: tensor %q has dtype %s, want one of [F32 F16 BF16]: %w", dir, name, info.DType, safetensors.ErrDType)
		},
		read: src.Float32Into,
	}
	m, err := openStreaming(cfg, tensors, hfTensorName, true, nil, src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if tiedHead {
		// A tied checkpoint may still store lm_head; ignoring a differing one
		// would silently change the logits.
		head, err := tensors.fetch("lm_head.weight", []int{cfg.Vocab, cfg.Dim})
		if err != nil {
			return nil, err
		}
		for i := range head {
			if math.Float32bits(head[i]) != math.Float32bits(m.Weights.Embed[i]) {
				return nil, fmt.Errorf("%s: tie_word_embeddings is true but lm_head.weight differs from the embedding", dir)
			}
		}
	}
	tok, vocabFiles, err := loadHFTokenizer(tokPath, cfg.Vocab)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	m.Path, m.Format = dir, "hf"
	if m.Files, err = absPaths(append(append([]string{filepath.Join(dir, "config.json")}, src.Paths()...), vocabFiles...)...); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	m.vocabFiles = m.Files[len(m.Files)-len(vocabFiles):]
	if err := attachTokenizer(m, tok, tokPath); err != nil {
		return nil, err
	}
	return m, nil
}

// DefaultShardBytes is SaveHF's shard limit, transformers' "5GB".
const DefaultShardBytes = 5_000_000_000

type saveOptions struct {
	shardBytes int64
	overwrite  bool
}

// SaveOption configures SaveHF.
type SaveOption func(*saveOptions)

// WithShardSize sets the byte limit above which weights are sharded.
func WithShardSize(n int64) SaveOption { return func(o *saveOptions) { o.shardBytes = n } }

// WithOverwrite lets SaveHF replace an existing non-empty directory.
func WithOverwrite() SaveOption { return func(o *saveOptions) { o.overwrite = true } }

// hfConfigOut is the config.json SaveHF writes. The pointer fields are
// written for the architectures that have them: null where null means
// something (rope_scaling, Mistral's sliding_window), absent otherwise.
type hfConfigOut struct {
	Architectures         []string          `json:"architectures"`
	ModelType             string            `json:"model_type"`
	HiddenSize            int               `json:"hidden_size"`
	IntermediateSize      int               `json:"intermediate_size"`
	NumHiddenLayers       int               `json:"num_hidden_layers"`
	NumAttentionHeads     int               `json:"num_attention_heads"`
	NumKeyValueHeads      int               `json:"num_key_value_heads"`
	HeadDim               int               `json:"head_dim"`
	MaxPositionEmbeddings int               `json:"max_position_embeddings"`
	RMSNormEps            float64           `json:"rms_norm_eps"`
	RopeTheta             float64           `json:"rope_theta"`
	RopeScaling           *hfRopeScalingOut `json:"rope_scaling"`
	VocabSize             int               `json:"vocab_size"`
	BOSTokenID            *int              `json:"bos_token_id"`
	EOSTokenID            *int              `json:"eos_token_id"`
	TieWordEmbeddings     bool              `json:"tie_word_embeddings"`
	HiddenAct             string            `json:"hidden_act"`
	AttentionBias         *bool             `json:"attention_bias,omitempty"`
	MLPBias               *bool             `json:"mlp_bias,omitempty"`
	SlidingWindow         *json.RawMessage  `json:"sliding_window,omitempty"`
	UseSlidingWindow      *bool             `json:"use_sliding_window,omitempty"`
	TorchDType            string            `json:"torch_dtype"`
}

type hfRopeScalingOut struct {
	RopeType       string  `json:"rope_type"`
	Factor         float64 `json:"factor"`
	LowFreqFactor  float64 `json:"low_freq_factor"`
	HighFreqFactor float64 `json:"high_freq_factor"`
	OriginalMax    int     `json:"original_max_position_embeddings"`
}

// hfArchitectures is each family's transformers class.
var hfArchitectures = map[string]string{
	ArchLlama: "LlamaForCausalLM", ArchMistral: "MistralForCausalLM", ArchQwen2: "Qwen2ForCausalLM", ArchQwen3: "Qwen3ForCausalLM",
}

// tokenID is a special token's id for config.json: null when there is none
// (Qwen's vocabularies have no BOS).
func tokenID(id int) *int {
	if id < 0 {
		return nil
	}
	return &id
}

// newHFConfigOut is config.json for c, with the given token ids and dtype.
func newHFConfigOut(c *Config, bos, eos int, torchDType string) hfConfigOut {
	arch := c.Arch
	if arch == "" {
		arch = ArchLlama
	}
	no := false
	out := hfConfigOut{
		Architectures: []string{hfArchitectures[arch]}, ModelType: arch,
		HiddenSize: c.Dim, IntermediateSize: c.HiddenDim, NumHiddenLayers: c.Layers,
		NumAttentionHeads: c.Heads, NumKeyValueHeads: c.KVHeads, HeadDim: c.HeadDim,
		MaxPositionEmbeddings: c.SeqLen, RMSNormEps: c.NormEps, RopeTheta: c.RopeBase,
		VocabSize: c.Vocab, BOSTokenID: tokenID(bos), EOSTokenID: tokenID(eos),
		TieWordEmbeddings: c.TiedClassifier, HiddenAct: "silu", TorchDType: torchDType,
	}
	if r := c.RopeScaling; r != (RopeScaling{}) {
		out.RopeScaling = &hfRopeScalingOut{"llama3", r.Factor, r.LowFreqFactor, r.HighFreqFactor, r.OriginalContext}
	}
	switch arch {
	case ArchLlama, ArchQwen3:
		out.AttentionBias, out.MLPBias = &no, &no
	case ArchMistral:
		w := json.RawMessage("null")
		if c.SlidingWindow > 0 {
			w = json.RawMessage(fmt.Sprint(c.SlidingWindow))
		}
		out.SlidingWindow = &w
	}
	if arch == ArchQwen2 || arch == ArchQwen3 {
		out.UseSlidingWindow = &no
	}
	return out
}

// SaveHF is SaveHFContext without cancellation.
func SaveHF(m *Model, dir string, opts ...SaveOption) error {
	return SaveHFContext(context.Background(), m, dir, opts...)
}

// SaveHFContext writes m as a Hugging Face directory: config.json, F32
// model.safetensors (or shards plus index above the shard limit) with Q/K
// rows in HF order, and the vocabulary. The vocabulary files the model was
// loaded with are copied (tokenizer.model; tokenizer.json with its
// tokenizer_config.json; a llama2.c vocabulary as tokenizer.bin, which
// LoadHF also accepts); a SentencePiece vocabulary that came without a file
// of its own, a GGUF file's, is written as tokenizer.model.
//
// The output appears complete or not at all: everything is written into a
// hidden temporary sibling (registered with atomicfile, so a hard exit can
// remove it), every file is synced, and the directory is renamed to dir
// only when complete; on any error, and when ctx is done (checked between
// tensors), the temporary directory and any parents SaveHFContext created
// are removed. Files get mode 0666 and directories 0777, less the umask.
// SaveHFContext first runs the checks of CheckSaveHF and fails with all
// their reasons.
func SaveHFContext(ctx context.Context, m *Model, dir string, opts ...SaveOption) (err error) {
	o := newSaveOptions(opts)
	dir = filepath.Clean(dir)
	vocab, err := checkSave(m, dir, &o)
	if err != nil {
		return err
	}
	fail := func(err error) error { return fmt.Errorf("save %s: %w", dir, err) }
	d, err := atomicfile.CreateDir(dir)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err != nil {
			d.Abort()
		}
	}()
	if err := writeHFTensors(ctx, m, d.Tmp, o.shardBytes); err != nil {
		return fail(err)
	}
	if err := vocab.write(d.Tmp); err != nil {
		return fail(fmt.Errorf("vocabulary: %w", err))
	}
	js, err := json.MarshalIndent(newHFConfigOut(&m.Config, m.Tokenizer.BOS(), m.Tokenizer.EOS(), "float32"), "", "  ")
	if err != nil {
		return fail(err)
	}
	// config.json last: even the temporary directory is never loadable early.
	if err := atomicfile.WriteFile(filepath.Join(d.Tmp, "config.json"), append(js, '\n')); err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := commitDir(d, dir, o.overwrite); err != nil {
		return fail(err)
	}
	return nil
}

func newSaveOptions(opts []SaveOption) saveOptions {
	o := saveOptions{shardBytes: DefaultShardBytes}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// CheckSaveHF reports, without writing anything, every reason SaveHF(m, dir,
// opts...) would fail: an inconsistent model, a vocabulary that cannot be
// stored, a target that exists and is not an empty directory, a target that
// is a symbolic link (even to an empty directory, or dangling: the link
// itself is never followed or replaced, with or without overwriting), a
// parent that is not a writable directory (such as /proc), or too little
// free space. It
// is cheap, so that a command can call it before hours of pruning. The
// reasons are joined with "; " in one error.
func CheckSaveHF(m *Model, dir string, opts ...SaveOption) error {
	o := newSaveOptions(opts)
	_, err := checkSave(m, filepath.Clean(dir), &o)
	return err
}

// checkSave runs CheckSaveHF's checks and returns how the vocabulary will be
// stored.
func checkSave(m *Model, dir string, o *saveOptions) (vocabOut, error) {
	var errs []error
	if err := m.checkWeights(); err != nil {
		errs = append(errs, fmt.Errorf("the model is inconsistent: %w", err))
	} else if len(m.Weights.Blocks) > 0 && m.Weights.Blocks[0].RopeFreqs != nil && m.Config.RopeScaling == (RopeScaling{}) {
		// checkWeights has made every block's divisors the config's.
		errs = append(errs, errors.New("the RoPE divisors came from a GGUF rope_freqs.weight and config.json can only give them as rope_scaling parameters, which the file does not hold"))
	}
	if o.shardBytes <= 0 {
		errs = append(errs, fmt.Errorf("shard size %d must be positive", o.shardBytes))
	}
	vocab, err := planVocab(m)
	if err != nil {
		errs = append(errs, err)
	}
	if err := checkTarget(dir, o.overwrite); err != nil {
		errs = append(errs, err)
	} else if err := checkParent(dir, estimateSaveBytes(m, vocab)); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return vocab, nil
	}
	return vocab, fmt.Errorf("save %s: "+strings.TrimSuffix(strings.Repeat("%w; ", len(errs)), "; "), append([]any{dir}, anySlice(errs)...)...)
}

func anySlice(errs []error) []any {
	out := make([]any, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return out
}

// vocabOut is how SaveHF stores the vocabulary: files copied (each under
// its base name, a llama2.c vocabulary as tokenizer.bin), or, when there
// are none, data written as name.
type vocabOut struct {
	copies [][2]string // name in the directory, source path
	name   string
	data   []byte
}

// planVocab decides how the vocabulary is stored: the files it was loaded
// from, else (a GGUF vocabulary) the SentencePiece model serialised as
// tokenizer.model.
func planVocab(m *Model) (vocabOut, error) {
	if m.Tokenizer == nil {
		return vocabOut{}, errors.New("the model has no vocabulary to store with it")
	}
	if len(m.vocabFiles) == 0 {
		sp, ok := m.Tokenizer.(*tokenizer.SentencePiece)
		if !ok {
			return vocabOut{}, fmt.Errorf("the model's %T vocabulary was not loaded from a file and only SentencePiece vocabularies can be written out", m.Tokenizer)
		}
		return vocabOut{name: "tokenizer.model", data: sp.MarshalModel()}, nil
	}
	var v vocabOut
	for _, src := range m.vocabFiles {
		st, err := os.Stat(src)
		switch {
		case err != nil:
			return vocabOut{}, fmt.Errorf("the vocabulary file to copy is no longer readable: %w", err)
		case !st.Mode().IsRegular():
			return vocabOut{}, fmt.Errorf("the vocabulary file to copy, %s, is not a regular file", src)
		}
		name := filepath.Base(src)
		switch name {
		case "tokenizer.model", "tokenizer.json", "tokenizer_config.json":
		default:
			name = "tokenizer.bin" // a llama2.c vocabulary, such as tok512.bin
		}
		v.copies = append(v.copies, [2]string{name, src})
	}
	return v, nil
}

func (v vocabOut) write(dir string) error {
	if len(v.copies) == 0 {
		return atomicfile.WriteFile(filepath.Join(dir, v.name), v.data)
	}
	for _, c := range v.copies {
		if err := copyFile(c[1], filepath.Join(dir, c[0])); err != nil {
			return err
		}
	}
	return nil
}

// estimateSaveBytes is about what SaveHF writes: F32 weights, the vocabulary
// and a margin for headers and config.json.
func estimateSaveBytes(m *Model, v vocabOut) int64 {
	params, _ := m.Config.Params() // a valid config does not overflow
	n := 4*params + int64(len(v.data)) + 1<<20
	for _, c := range v.copies {
		if st, err := os.Stat(c[1]); err == nil {
			n += st.Size()
		}
	}
	return n
}

func writeHFTensors(ctx context.Context, m *Model, dir string, shardBytes int64) error {
	c, w := &m.Config, &m.Weights
	sw := safetensors.NewWriter()
	sw.SetMetadata("format", "pt") // transformers refuses files without it
	var errs []error
	add := func(role string, layer int, shape []int, data []float32) {
		errs = append(errs, sw.AddFloat32(hfTensorName(role, layer), shape, data, safetensors.F32))
	}
	add(roleEmbed, -1, []int{c.Vocab, c.Dim}, w.Embed)
	add(roleFinalNorm, -1, []int{c.Dim}, w.FinalNorm)
	if !c.TiedClassifier {
		add(roleClassifier, -1, []int{c.Vocab, c.Dim}, w.Classifier)
	}
	for l := range w.Blocks {
		b := &w.Blocks[l]
		for i, v := range b.vectors() {
			role := blockVectorRoles[i]
			if n := vectorLen(c, role); n > 0 {
				data := append([]float32(nil), *v...)
				permuteRole(c, role, data, true)
				add(role, l, []int{n}, data)
			}
		}
		for i, lin := range b.Linears() {
			// Each linear is read when written: a streaming model is
			// saved one matrix at a time.
			load := func() ([]float32, error) {
				data, err := m.linear(l, i)
				if err != nil {
					return nil, err
				}
				permuteRole(c, blockMatrixRoles[i], data, true)
				return data, nil
			}
			name := hfTensorName(blockMatrixRoles[i], l)
			errs = append(errs, sw.AddFloat32Func(name, []int{lin.Out, lin.In}, safetensors.F32, load))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	_, err := sw.WriteShardedContext(ctx, dir, shardBytes)
	return err
}

// checkTarget refuses a target that exists and is not a directory, and a
// non-empty directory unless overwrite is set.
func checkTarget(dir string, overwrite bool) error {
	// SaveHF renames a finished temporary directory onto dir, which cannot
	// replace a symbolic link with a directory, so a link (to an empty
	// directory, or dangling) is refused here rather than after the work.
	if st, err := os.Lstat(dir); err == nil && st.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("%s is a symbolic link; name a new or empty directory", dir)
	}
	st, err := os.Stat(dir)
	if missing(err) {
		return nil // checkParent says whether it can be created
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s exists and is not a directory", dir)
	}
	if overwrite {
		return nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if names, _ := f.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("%s already exists and is not empty; name a new or empty directory", dir)
	}
	return nil
}

// checkParent checks that the directory dir would be created in (its
// nearest existing ancestor, since missing parents are created) accepts new
// entries and has room for about need bytes. Writability is probed by
// creating and removing a directory: permissions, read-only mounts and
// pseudo file systems such as /proc all fail that the same way SaveHF would.
func checkParent(dir string, need int64) error {
	anc := filepath.Dir(dir)
	for {
		st, err := os.Stat(anc)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("cannot create %s: %s is not a directory", dir, anc)
			}
			break
		}
		if !missing(err) || filepath.Dir(anc) == anc {
			return fmt.Errorf("cannot create %s: %w", dir, err)
		}
		anc = filepath.Dir(anc)
	}
	probe, err := os.MkdirTemp(anc, ".prunebench-check-")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("cannot create %s: %s does not accept new files (%v)", dir, anc, err)
	}
	os.Remove(probe)
	if free, ok := sysmem.DiskFree(anc); ok {
		if free < need {
			return fmt.Errorf("the model needs about %d MB but only %d MB are free in %s", need>>20, free>>20, anc)
		}
	}
	return nil
}

// missing tells whether a Stat error means the path does not exist, either
// plainly or because a file stands where a parent directory should.
func missing(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// commitDir moves the finished temporary directory to dir. With overwrite,
// an existing directory is first renamed aside and removed only after the
// new one is in place, so dir is at every moment either the old or the new
// complete checkpoint.
func commitDir(d *atomicfile.Dir, dir string, overwrite bool) error {
	if err := checkTarget(dir, overwrite); err != nil {
		return err
	}
	old := ""
	if overwrite {
		if _, err := os.Stat(dir); err == nil {
			old = d.Tmp + ".old"
			if err := os.Rename(dir, old); err != nil {
				return err
			}
		}
	}
	if err := d.Commit(); err != nil {
		if old != "" {
			os.Rename(old, dir)
		}
		return err
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("removing the previous copy %s: %w", old, err)
		}
	}
	return nil
}
