package model

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
)

// TestFamilyConfigRejects: config.json keys that change the computation
// and are not implemented, or hold nonsense, are refused naming the key.
func TestFamilyConfigRejects(t *testing.T) {
	byName := map[string]*hfFamily{}
	for i := range families {
		byName[families[i].name] = &families[i]
	}
	for _, c := range []struct {
		family string
		edit   map[string]any // nil value: delete the key
		want   string
	}{
		{"llama3", map[string]any{"rope_scaling": map[string]any{"rope_type": "yarn", "factor": 4.0}}, `rope_type "yarn" is not supported`},
		{"llama3", map[string]any{"rope_scaling": map[string]any{"type": "linear", "factor": 2.0}}, `rope_type "linear" is not supported`},
		{"llama3", map[string]any{"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 8.0, "high_freq_factor": 4.0,
			"original_max_position_embeddings": 8192}}, `rope_type "llama3" needs low_freq_factor`},
		{"llama3", map[string]any{"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0,
			"high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}, "rope_scaling: high_freq_factor 4: must be finite and above low_freq_factor 4"},
		{"llama3", map[string]any{"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 0.5, "low_freq_factor": 1.0,
			"high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}, "rope_scaling: factor 0.5: must be at least 1"},
		{"llama3", map[string]any{"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 1e300, "low_freq_factor": 1.0,
			"high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}, "rope_scaling: factor 1e+300: must be at least 1 and at most 3.4"},
		{"llama3", map[string]any{"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
			"high_freq_factor": 4.0, "original_max_position_embeddings": -1}}, "original_max_position_embeddings -1"},
		{"llama3", map[string]any{"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
			"high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "beta_fast": 32}}, "rope_scaling: key beta_fast is not supported"},
		{"llama3", map[string]any{"rope_scaling": map[string]any{"rope_type": "llama3", "type": "default"}}, `rope_type "llama3" and type "default" disagree`},
		{"llama3", map[string]any{"rope_scaling": map[string]any{"factor": 2.0}}, "rope_scaling: missing rope_type"},
		{"llama3", map[string]any{"rope_scaling": map[string]any{"rope_type": "default", "factor": 2.0}}, `rope_type "default" takes no parameters`},
		{"llama3", map[string]any{"rope_scaling": 8}, "rope_scaling: expected an object, got number"},
		{"llama3", map[string]any{"rope_scaling": map[string]any{"rope_type": 3}}, "rope_scaling: key rope_type: expected a string"},
		{"llama3", map[string]any{"rope_parameters": map[string]any{"rope_type": "default", "rope_theta": 10000}}, "rope_parameters is not supported"},
		{"llama3", map[string]any{"partial_rotary_factor": 0.5}, "partial_rotary_factor 0.5 is not supported"},
		{"llama3", map[string]any{"attention_bias": true}, `attention_bias true is not supported for model_type "llama"`},
		{"qwen2", map[string]any{"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
			"high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}, `rope_type "llama3" is supported for model_type llama and mistral, not "qwen2"`},
		{"mistral", map[string]any{"sliding_window": 0}, "sliding_window 0: want a positive integer or null"},
		{"mistral", map[string]any{"sliding_window": -4096}, "sliding_window -4096: want a positive integer or null"},
		{"mistral", map[string]any{"sliding_window": 4096.5}, "sliding_window 4096.5: want a positive integer or null"},
		{"mistral", map[string]any{"sliding_window": "4096"}, `sliding_window "\"4096\""`},
		{"mistral", map[string]any{"sliding_window": 1e30}, "sliding_window 1e+30: want a positive integer or null"},
		{"qwen2", map[string]any{"use_sliding_window": true}, "use_sliding_window true is not supported"},
		{"qwen3", map[string]any{"layer_types": []string{"full_attention", "sliding_attention"}}, `layer_types[1] "sliding_attention" is not supported`},
		{"qwen3", map[string]any{"attention_bias": true}, `attention_bias true is not supported for model_type "qwen3"`},
		{"qwen3", map[string]any{"head_dim": 7}, "head_dim 7: must be positive and even"},
		{"qwen3", map[string]any{"model_type": "qwen3_moe"}, `model_type "qwen3_moe"`},
		{"qwen2", map[string]any{"mlp_bias": true}, "mlp_bias true is not supported"},
	} {
		cfg := familyConfig(byName[c.family])
		for k, v := range c.edit {
			cfg[k] = v
		}
		raw, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = parseHFConfig(raw, "/m/config.json")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "/m/config.json: ") {
			t.Errorf("%s %v: got %v, want %q", c.family, c.edit, err, c.want)
		}
	}
}

// TestFamilyConfigAccepts: what the families' real files spell differently
// but means the same passes: a null or default rope_scaling, the legacy
// "type" key, a null Mistral window, Qwen's window keys while
// use_sliding_window is false, full-attention layer_types, and Qwen3's
// head_dim default of 128.
func TestFamilyConfigAccepts(t *testing.T) {
	byName := map[string]*hfFamily{}
	for i := range families {
		byName[families[i].name] = &families[i]
	}
	for _, c := range []struct {
		family string
		edit   map[string]any
		check  func(Config) bool
	}{
		{"llama3", map[string]any{"rope_scaling": map[string]any{"rope_type": "default"}}, func(c Config) bool { return c.RopeScaling == RopeScaling{} }},
		{"llama3", map[string]any{"rope_scaling": map[string]any{"type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4,
			"original_max_position_embeddings": 8192}}, func(c Config) bool { return c.RopeScaling == RopeScaling{8, 1, 4, 8192} }},
		{"mistral", map[string]any{"sliding_window": nil}, func(c Config) bool { return c.SlidingWindow == 0 && c.Arch == ArchMistral }},
		{"mistral", map[string]any{}, func(c Config) bool { return c.SlidingWindow == 16 }},
		{"qwen2", map[string]any{"sliding_window": 131072, "layer_types": []string{"full_attention", "full_attention"}},
			func(c Config) bool { return c.SlidingWindow == 0 && c.QKVBias() }},
		{"qwen3", map[string]any{"head_dim": nil}, func(c Config) bool { return c.HeadDim == 128 && c.QKNorm() }},
		{"llama3", map[string]any{"model_type": nil}, func(c Config) bool { return c.Arch == "" && c.RopeScaling.Factor == 8 }},
	} {
		cfg := familyConfig(byName[c.family])
		for k, v := range c.edit {
			if v == nil && k != "sliding_window" {
				delete(cfg, k)
			} else {
				cfg[k] = v
			}
		}
		raw, _ := json.Marshal(cfg)
		got, err := parseHFConfig(raw, "config.json")
		if err != nil || !c.check(got) {
			t.Errorf("%s %v: %+v, %v", c.family, c.edit, got, err)
		}
	}
}

// TestFamilyTensorsRejected: the families' extra tensors are checked like
// the others, against config.json before anything is sized by them: a bias
// or norm of the wrong shape, one missing, one the architecture does not
// have, a non-finite one; each error names the tensor.
func TestFamilyTensorsRejected(t *testing.T) {
	qwen2, qwen3, llama := &families[3], &families[4], &families[0]
	for _, c := range []struct {
		name string
		f    *hfFamily
		edit func(w map[string]hfTensor)
		want string
	}{
		{"bias shape", qwen2, func(w map[string]hfTensor) {
			w["model.layers.1.self_attn.k_proj.bias"] = hfTensor{[]int{23}, make([]float32, 23)}
		}, `tensor "model.layers.1.self_attn.k_proj.bias" has shape [23], config.json implies [24]`},
		{"bias matrix", qwen2, func(w map[string]hfTensor) {
			w["model.layers.0.self_attn.q_proj.bias"] = hfTensor{[]int{48, 1}, make([]float32, 48)}
		}, `tensor "model.layers.0.self_attn.q_proj.bias" has shape [48 1], config.json implies [48]`},
		{"bias missing", qwen2, func(w map[string]hfTensor) { delete(w, "model.layers.0.self_attn.v_proj.bias") },
			`missing tensor "model.layers.0.self_attn.v_proj.bias"`},
		{"bias NaN", qwen2, func(w map[string]hfTensor) { w["model.layers.1.self_attn.q_proj.bias"].data[5] = float32(math.NaN()) },
			"tensor model.layers.1.self_attn.q_proj.bias: value 5 of 48 is NaN"},
		{"o_proj bias", qwen2, func(w map[string]hfTensor) {
			w["model.layers.0.self_attn.o_proj.bias"] = hfTensor{[]int{48}, make([]float32, 48)}
		}, `unexpected tensor "model.layers.0.self_attn.o_proj.bias" for a 2-layer Qwen2`},
		{"bias on llama", llama, func(w map[string]hfTensor) {
			w["model.layers.0.self_attn.q_proj.bias"] = hfTensor{[]int{48}, make([]float32, 48)}
		}, `unexpected tensor "model.layers.0.self_attn.q_proj.bias" for a 2-layer LLaMA`},
		{"q_norm shape", qwen3, func(w map[string]hfTensor) {
			w["model.layers.0.self_attn.q_norm.weight"] = hfTensor{[]int{12}, make([]float32, 12)}
		}, `tensor "model.layers.0.self_attn.q_norm.weight" has shape [12], config.json implies [16]`},
		{"k_norm infinite", qwen3, func(w map[string]hfTensor) {
			w["model.layers.1.self_attn.k_norm.weight"].data[0] = float32(math.Inf(1))
		}, "tensor model.layers.1.self_attn.k_norm.weight: value 0 of 16 is +Inf"},
		{"k_norm missing", qwen3, func(w map[string]hfTensor) { delete(w, "model.layers.1.self_attn.k_norm.weight") },
			`missing tensor "model.layers.1.self_attn.k_norm.weight"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := familyWeights(c.f, 1)
			c.edit(w)
			_, err := Open(writeFamily(t, c.f, w))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
}

// familyGGUF writes family f's model as SaveGGUF would, after edit has
// changed the metadata or the tensor list: a GGUF file no writer of ours
// produces, for the reader's checks.
func familyGGUF(t testing.TB, f *hfFamily, edit func(kvs []ggufKV, ts []ggufOut) ([]ggufKV, []ggufOut)) []byte {
	t.Helper()
	m, err := Load(writeFamily(t, f, familyWeights(f, 1)))
	if err != nil {
		t.Fatal(err)
	}
	kvs, err := ggufMetadata(m, "f.gguf", "F32")
	if err != nil {
		t.Fatal(err)
	}
	ts := ggufTensors(m, "F32")
	kvs, ts = edit(kvs, ts)
	var buf bytes.Buffer
	w := &ggufWriter{w: bufio.NewWriter(&buf)}
	if err := w.header(kvs, ts); err != nil {
		t.Fatal(err)
	}
	for _, tensor := range ts {
		if err := w.tensor(tensor); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// setKV replaces (or, with a nil value, removes) metadata key k.
func setKV(kvs []ggufKV, k string, v any) []ggufKV {
	out := kvs[:0:0]
	for _, kv := range kvs {
		if kv.key != k {
			out = append(out, kv)
		}
	}
	if v != nil {
		out = append(out, ggufKV{k, v})
	}
	return out
}

// TestFamilyGGUFRejects: GGUF files of the new architectures that say
// something inconsistent are refused naming the key or tensor.
func TestFamilyGGUFRejects(t *testing.T) {
	llama3, mistral, qwen2, qwen3 := &families[0], &families[2], &families[3], &families[4]
	vector := func(name string, v []float32) ggufOut {
		return ggufOut{name, []int{len(v)}, ggmlF32, func() ([]float32, error) { return v, nil }}
	}
	replace := func(ts []ggufOut, t ggufOut) []ggufOut {
		for i := range ts {
			if ts[i].name == t.name {
				ts[i] = t
			}
		}
		return ts
	}
	drop := func(ts []ggufOut, name string) []ggufOut {
		return slices.DeleteFunc(ts, func(t ggufOut) bool { return t.name == name })
	}
	for _, c := range []struct {
		name string
		f    *hfFamily
		edit func(kvs []ggufKV, ts []ggufOut) ([]ggufKV, []ggufOut)
		want string
	}{
		{"unknown architecture", qwen2, func(kvs []ggufKV, ts []ggufOut) ([]ggufKV, []ggufOut) {
			return setKV(kvs, "general.architecture", "gemma2"), ts
		}, `general.architecture is string "gemma2", want string "llama", "qwen2" or "qwen3"`},
		{"rope_freqs shape", llama3, func(kvs []ggufKV, ts []ggufOut) ([]ggufKV, []ggufOut) {
			return kvs, replace(ts, vector("rope_freqs.weight", []float32{1, 2, 3}))
		}, `tensor "rope_freqs.weight" has GGUF shape [3], want [6]`},
		{"rope_freqs zero", llama3, func(kvs []ggufKV, ts []ggufOut) ([]ggufKV, []ggufOut) {
			return kvs, replace(ts, vector("rope_freqs.weight", []float32{1, 1, 0, 8, 8, 8}))
		}, "tensor rope_freqs.weight: value 2 is 0; RoPE divisors must be finite and positive"},
		{"rope_freqs NaN", llama3, func(kvs []ggufKV, ts []ggufOut) ([]ggufKV, []ggufOut) {
			return kvs, replace(ts, vector("rope_freqs.weight", []float32{1, 1, float32(math.NaN()), 8, 8, 8}))
		}, "tensor rope_freqs.weight: value 2 is NaN"},
		{"rope_freqs on qwen2", qwen2, func(kvs []ggufKV, ts []ggufOut) ([]ggufKV, []ggufOut) {
			return kvs, append(ts, vector("rope_freqs.weight", []float32{1, 1, 1, 1, 1, 1}))
		}, "tensor rope_freqs.weight is only read for architecture llama"},
		{"qwen2 bias shape", qwen2, func(kvs []ggufKV, ts []ggufOut) ([]ggufKV, []ggufOut) {
			return kvs, replace(ts, vector("blk.0.attn_k.bias", make([]float32, 23)))
		}, `tensor "blk.0.attn_k.bias" has GGUF shape [23], want [24]`},
		{"qwen2 bias missing", qwen2, func(kvs []ggufKV, ts []ggufOut) ([]ggufKV, []ggufOut) {
			return kvs, drop(ts, "blk.1.attn_q.bias")
		}, `missing tensor "blk.1.attn_q.bias"`},
		{"qwen3 norm missing", qwen3, func(kvs []ggufKV, ts []ggufOut) ([]ggufKV, []ggufOut) {
			return kvs, drop(ts, "blk.0.attn_k_norm.weight")
		}, `missing tensor "blk.0.attn_k_norm.weight"`},
		{"qwen3 key_length absent", qwen3, func(kvs []ggufKV, ts []ggufOut) ([]ggufKV, []ggufOut) {
			return setKV(setKV(kvs, "qwen3.attention.key_length", nil), "qwen3.attention.value_length", nil), ts
		}, "qwen3.rope.dimension_count = 16, want the head dim 12"},
		{"sliding window on qwen2", qwen2, func(kvs []ggufKV, ts []ggufOut) ([]ggufKV, []ggufOut) {
			return setKV(kvs, "qwen2.attention.sliding_window", uint32(4096)), ts
		}, "qwen2.attention.sliding_window is not supported for architecture qwen2"},
		{"sliding window zero", mistral, func(kvs []ggufKV, ts []ggufOut) ([]ggufKV, []ggufOut) {
			return setKV(kvs, "llama.attention.sliding_window", uint32(0)), ts
		}, "llama.attention.sliding_window = 0, want a positive window"},
		{"sliding window string", mistral, func(kvs []ggufKV, ts []ggufOut) ([]ggufKV, []ggufOut) {
			return setKV(kvs, "llama.attention.sliding_window", "wide"), ts
		}, `llama.attention.sliding_window is string "wide", want an integer`},
		{"yarn", llama3, func(kvs []ggufKV, ts []ggufOut) ([]ggufKV, []ggufOut) {
			return setKV(kvs, "llama.rope.scaling.type", "yarn"), ts
		}, `llama.rope.scaling.type is string "yarn"`},
		{"gpt2 without merges", qwen3, func(kvs []ggufKV, ts []ggufOut) ([]ggufKV, []ggufOut) {
			kvs = setKV(kvs, "tokenizer.ggml.model", "gpt2")
			return setKV(kvs, "tokenizer.ggml.pre", "qwen2"), ts
		}, "missing metadata key tokenizer.ggml.merges"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := familyGGUF(t, c.f, c.edit)
			_, err := readGGUFModel(bytes.NewReader(b), int64(len(b)), "f.gguf")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "f.gguf: ") {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
}

// TestParamsOverflowWithBiases: Qwen2's bias widths count toward
// Config.Params with the overflow check: a header whose matrices just fit
// in int64 (QDim near 2⁶², its q/o term 2·QDim just below 2⁶³) reports
// overflow once the q bias is added, rather than wrapping to a small count
// that checkFits would accept.
func TestParamsOverflowWithBiases(t *testing.T) {
	const big = maxDimension
	c := Config{Dim: 1, HiddenDim: 2, Layers: 1, Heads: big, KVHeads: 1, HeadDim: big - 1, Vocab: 2, SeqLen: 2,
		NormEps: 1e-6, RopeBase: 1e6}
	if _, ok := c.Params(); !ok {
		t.Fatal("Params overflows without biases; the case must fit")
	}
	c.Arch = ArchQwen2
	if n, ok := c.Params(); ok {
		t.Errorf("Params = %d, ok; want overflow", n)
	}
	c.Dim, c.Heads, c.KVHeads, c.HeadDim = 2, 2, 1, 4
	n, ok := c.Params()
	// embedding and classifier, final norm, q/o, k/v, mlp; then per block
	// two norms of 2, q bias 8, k and v biases 4 each.
	if want := int64(2*2*2 + 2 + 2*8*2 + 2*4*2 + 3*2*2 + 2*2 + 8 + 4 + 4); !ok || n != want {
		t.Errorf("Params = %d, %v; want %d", n, ok, want)
	}
}
