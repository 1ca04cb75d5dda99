package model

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/safetensors"
	"github.com/prunebench/prunebench/tokenizer"
)

// hfFamily is a small random model of one family as transformers stores it:
// its shape in the test's own words, and the config.json that says it.
type hfFamily struct {
	name                                           string
	modelType                                      string
	dim, hidden, layers, heads, kvHeads, hd, vocab int
	theta                                          float64
	tied                                           bool
	window                                         int        // attention window, 0: none
	bias, qkNorm                                   bool       // Qwen2's q/k/v biases, Qwen3's q/k norms
	scaling                                        [4]float64 // llama3 factor, low, high, original context; zero: none
	extra                                          map[string]any
}

const familyEps = 1e-6

// familyConfig is config.json for f, spelled as the families' own files do.
func familyConfig(f *hfFamily) map[string]any {
	cfg := map[string]any{
		"architectures": []string{map[string]string{ArchLlama: "LlamaForCausalLM", ArchMistral: "MistralForCausalLM",
			ArchQwen2: "Qwen2ForCausalLM", ArchQwen3: "Qwen3ForCausalLM"}[f.modelType]},
		"model_type": f.modelType, "hidden_size": f.dim, "intermediate_size": f.hidden,
		"num_hidden_layers": f.layers, "num_attention_heads": f.heads, "num_key_value_heads": f.kvHeads,
		"max_position_embeddings": 128, "rms_norm_eps": familyEps, "rope_theta": f.theta, "vocab_size": f.vocab,
		"tie_word_embeddings": f.tied, "hidden_act": "silu", "torch_dtype": "float32", "bos_token_id": 1, "eos_token_id": 2,
		"rope_scaling": nil, "use_cache": true, "initializer_range": 0.02,
	}
	if f.hd != f.dim/f.heads {
		cfg["head_dim"] = f.hd
	}
	if f.scaling != ([4]float64{}) {
		cfg["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": f.scaling[0], "low_freq_factor": f.scaling[1],
			"high_freq_factor": f.scaling[2], "original_max_position_embeddings": int(f.scaling[3])}
	}
	for k, v := range f.extra {
		cfg[k] = v
	}
	return cfg
}

// families are the five shapes the issue names; each has GQA and a
// vocabulary of 300, so that logits are far from uniform.
var families = []hfFamily{
	{name: "llama3", modelType: ArchLlama, dim: 48, hidden: 80, layers: 2, heads: 4, kvHeads: 2, hd: 12, vocab: 300,
		theta: 500000, scaling: [4]float64{8, 1, 4, 64}, extra: map[string]any{"attention_bias": false, "mlp_bias": false, "pretraining_tp": 1}},
	{name: "llama3.2 tied", modelType: ArchLlama, dim: 32, hidden: 64, layers: 2, heads: 4, kvHeads: 1, hd: 8, vocab: 300,
		theta: 500000, tied: true, scaling: [4]float64{32, 1, 4, 32}},
	{name: "mistral", modelType: ArchMistral, dim: 48, hidden: 96, layers: 2, heads: 4, kvHeads: 2, hd: 12, vocab: 300,
		theta: 1e6, window: 16, extra: map[string]any{"sliding_window": 16}},
	{name: "qwen2", modelType: ArchQwen2, dim: 48, hidden: 80, layers: 2, heads: 4, kvHeads: 2, hd: 12, vocab: 300,
		theta: 1e6, tied: true, bias: true,
		extra: map[string]any{"use_sliding_window": false, "sliding_window": 8, "max_window_layers": 1, "attention_dropout": 0}},
	{name: "qwen3", modelType: ArchQwen3, dim: 48, hidden: 80, layers: 2, heads: 4, kvHeads: 2, hd: 16, vocab: 300,
		theta: 1e6, qkNorm: true,
		extra: map[string]any{"attention_bias": false, "use_sliding_window": false, "sliding_window": nil, "max_window_layers": 2}},
}

// hfTensor is one tensor as the checkpoint holds it.
type hfTensor struct {
	shape []int
	data  []float32
}

// familyWeights draws f's tensors under transformers' names, q and k rows
// in rotate-half order as in any HF checkpoint. Scales are those of a
// trained model: unit embeddings, linear rows of norm ≈ 1, norms near 1,
// biases around 0.5 (Qwen2's are large).
func familyWeights(f *hfFamily, seed uint64) map[string]hfTensor {
	rng := rand.New(rand.NewPCG(seed, 3))
	w := map[string]hfTensor{}
	put := func(name string, scale, mean float64, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(mean + scale*rng.NormFloat64())
		}
		w[name] = hfTensor{shape, v}
	}
	qd, kvd := f.heads*f.hd, f.kvHeads*f.hd
	put("model.embed_tokens.weight", 1, 0, f.vocab, f.dim)
	put("model.norm.weight", 0.2, 1, f.dim)
	if !f.tied {
		put("lm_head.weight", 1/math.Sqrt(float64(f.dim)), 0, f.vocab, f.dim)
	}
	for l := range f.layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		put(p+"input_layernorm.weight", 0.2, 1, f.dim)
		put(p+"post_attention_layernorm.weight", 0.2, 1, f.dim)
		put(p+"self_attn.q_proj.weight", 1/math.Sqrt(float64(f.dim)), 0, qd, f.dim)
		put(p+"self_attn.k_proj.weight", 1/math.Sqrt(float64(f.dim)), 0, kvd, f.dim)
		put(p+"self_attn.v_proj.weight", 1/math.Sqrt(float64(f.dim)), 0, kvd, f.dim)
		put(p+"self_attn.o_proj.weight", 1/math.Sqrt(float64(qd)), 0, f.dim, qd)
		put(p+"mlp.gate_proj.weight", 1/math.Sqrt(float64(f.dim)), 0, f.hidden, f.dim)
		put(p+"mlp.up_proj.weight", 1/math.Sqrt(float64(f.dim)), 0, f.hidden, f.dim)
		put(p+"mlp.down_proj.weight", 1/math.Sqrt(float64(f.hidden)), 0, f.dim, f.hidden)
		if f.bias {
			put(p+"self_attn.q_proj.bias", 0.5, 0, qd)
			put(p+"self_attn.k_proj.bias", 0.5, 0, kvd)
			put(p+"self_attn.v_proj.bias", 0.5, 0, kvd)
		}
		if f.qkNorm {
			put(p+"self_attn.q_norm.weight", 0.2, 1, f.hd)
			put(p+"self_attn.k_norm.weight", 0.2, 1, f.hd)
		}
	}
	return w
}

// tinySentencePiece is a SentencePiece vocabulary of n pieces: <unk>, <s>,
// </s>, the 256 byte pieces, then words.
func tinySentencePiece(t testing.TB, n int) *tokenizer.SentencePiece {
	t.Helper()
	pieces := []string{"<unk>", "<s>", "</s>"}
	types := []int32{2, 3, 3}
	for b := range 256 {
		pieces, types = append(pieces, fmt.Sprintf("<0x%02X>", b)), append(types, 6)
	}
	for i := len(pieces); i < n; i++ {
		pieces, types = append(pieces, fmt.Sprintf("▁w%d", i)), append(types, 1)
	}
	sp, err := tokenizer.NewSentencePiece(pieces, make([]float32, n), types, 1, 2, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// writeFamily writes f as an HF directory: config.json, model.safetensors
// and a tokenizer.model.
func writeFamily(t testing.TB, f *hfFamily, w map[string]hfTensor) string {
	t.Helper()
	dir := t.TempDir()
	js, err := json.MarshalIndent(familyConfig(f), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	sw := safetensors.NewWriter()
	for name, tensor := range w {
		if err := sw.AddFloat32(name, tensor.shape, tensor.data, safetensors.F32); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.WriteFile(filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"config.json": js, "tokenizer.model": tinySentencePiece(t, f.vocab).MarshalModel()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// hfReference is the obviously-correct forward pass in transformers' own
// conventions, read straight from the checkpoint's tensors: float64, one
// token at a time, rotate-half RoPE on the rows as stored, inv_freq
// rescaled as _compute_llama3_parameters does, biases added after the
// projections, Qwen3's per-head RMSNorm on q and k before RoPE, and a key j
// visible from query t when j ≤ t and, with a window, t − j < window.
func hfReference(f *hfFamily, w map[string]hfTensor, tokens []int, nseq, T int) [][]float64 {
	get := func(name string) []float32 { return w[name].data }
	matVec := func(m []float32, out, in int, x []float64) []float64 {
		y := make([]float64, out)
		for o := range out {
			for i := range in {
				y[o] += float64(m[o*in+i]) * x[i]
			}
		}
		return y
	}
	rms := func(x []float64, g []float32) []float64 {
		var ss float64
		for _, e := range x {
			ss += e * e
		}
		inv := 1 / math.Sqrt(ss/float64(len(x))+familyEps)
		y := make([]float64, len(x))
		for i := range x {
			y[i] = x[i] * inv * float64(g[i])
		}
		return y
	}
	half := f.hd / 2
	invFreq := make([]float64, half)
	for i := range invFreq {
		invFreq[i] = 1 / math.Pow(f.theta, float64(2*i)/float64(f.hd))
		if f.scaling == ([4]float64{}) {
			continue
		}
		factor, low, high, orig := f.scaling[0], f.scaling[1], f.scaling[2], f.scaling[3]
		lowWavelen, highWavelen := orig/low, orig/high
		wavelen := 2 * math.Pi / invFreq[i]
		scaled := invFreq[i]
		if wavelen > lowWavelen {
			scaled = invFreq[i] / factor
		}
		smooth := (orig/wavelen - low) / (high - low)
		if !(wavelen < highWavelen) && !(wavelen > lowWavelen) {
			scaled = (1-smooth)*scaled/factor + smooth*scaled
		}
		invFreq[i] = scaled
	}
	// rotateHalf applies RoPE to every head of x: q·cos + rotate_half(q)·sin.
	rotateHalf := func(x []float64, heads, pos int) {
		for h := range heads {
			head := x[h*f.hd : (h+1)*f.hd]
			for i := range half {
				c, s := math.Cos(float64(pos)*invFreq[i]), math.Sin(float64(pos)*invFreq[i])
				x1, x2 := head[i], head[i+half]
				head[i] = x1*c - x2*s
				head[i+half] = x2*c + x1*s
			}
		}
	}
	addBias := func(x []float64, b []float32) {
		for i := range x {
			x[i] += float64(b[i])
		}
	}
	headNorm := func(x []float64, heads int, g []float32) {
		for h := range heads {
			copy(x[h*f.hd:(h+1)*f.hd], rms(x[h*f.hd:(h+1)*f.hd], g))
		}
	}
	qd, kvd := f.heads*f.hd, f.kvHeads*f.hd
	head := get("lm_head.weight")
	if f.tied {
		head = get("model.embed_tokens.weight")
	}
	var logits [][]float64
	for s := range nseq {
		x := make([][]float64, T)
		for t := range T {
			x[t] = make([]float64, f.dim)
			for i := range x[t] {
				x[t][i] = float64(get("model.embed_tokens.weight")[tokens[s*T+t]*f.dim+i])
			}
		}
		for l := range f.layers {
			p := fmt.Sprintf("model.layers.%d.", l)
			q, k, v := make([][]float64, T), make([][]float64, T), make([][]float64, T)
			for t := range T {
				xn := rms(x[t], get(p+"input_layernorm.weight"))
				q[t] = matVec(get(p+"self_attn.q_proj.weight"), qd, f.dim, xn)
				k[t] = matVec(get(p+"self_attn.k_proj.weight"), kvd, f.dim, xn)
				v[t] = matVec(get(p+"self_attn.v_proj.weight"), kvd, f.dim, xn)
				if f.bias {
					addBias(q[t], get(p+"self_attn.q_proj.bias"))
					addBias(k[t], get(p+"self_attn.k_proj.bias"))
					addBias(v[t], get(p+"self_attn.v_proj.bias"))
				}
				if f.qkNorm {
					headNorm(q[t], f.heads, get(p+"self_attn.q_norm.weight"))
					headNorm(k[t], f.kvHeads, get(p+"self_attn.k_norm.weight"))
				}
				rotateHalf(q[t], f.heads, t)
				rotateHalf(k[t], f.kvHeads, t)
			}
			for t := range T {
				att := make([]float64, qd)
				for h := range f.heads {
					kv := h / (f.heads / f.kvHeads)
					var keys []int
					for j := 0; j <= t; j++ {
						if f.window == 0 || t-j < f.window {
							keys = append(keys, j)
						}
					}
					p := make([]float64, len(keys))
					mx := math.Inf(-1)
					for a, j := range keys {
						for e := range f.hd {
							p[a] += q[t][h*f.hd+e] * k[j][kv*f.hd+e]
						}
						p[a] /= math.Sqrt(float64(f.hd))
						mx = math.Max(mx, p[a])
					}
					var sum float64
					for a := range p {
						p[a] = math.Exp(p[a] - mx)
						sum += p[a]
					}
					for a, j := range keys {
						for e := range f.hd {
							att[h*f.hd+e] += p[a] / sum * v[j][kv*f.hd+e]
						}
					}
				}
				o := matVec(get(p+"self_attn.o_proj.weight"), f.dim, qd, att)
				for i := range x[t] {
					x[t][i] += o[i]
				}
			}
			for t := range T {
				xn := rms(x[t], get(p+"post_attention_layernorm.weight"))
				g := matVec(get(p+"mlp.gate_proj.weight"), f.hidden, f.dim, xn)
				u := matVec(get(p+"mlp.up_proj.weight"), f.hidden, f.dim, xn)
				for i := range g {
					g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
				}
				d := matVec(get(p+"mlp.down_proj.weight"), f.dim, f.hidden, g)
				for i := range x[t] {
					x[t][i] += d[i]
				}
			}
		}
		for t := range T {
			logits = append(logits, matVec(head, f.vocab, f.dim, rms(x[t], get("model.norm.weight"))))
		}
	}
	return logits
}

// TestFamiliesMatchReference: for each family, the model read from its HF
// directory (streaming, q/k rows, biases and norms un-permuted to adjacent
// pairs) gives the reference's logits within 1e-4 over 40 positions, more
// than the Mistral window; the same model exported to GGUF (F32), and saved
// back as an HF directory, gives bit for bit the same logits.
func TestFamiliesMatchReference(t *testing.T) {
	const nseq, T = 2, 40
	for i := range families {
		f := &families[i]
		t.Run(f.name, func(t *testing.T) {
			w := familyWeights(f, uint64(i+1))
			dir := writeFamily(t, f, w)
			m, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			tokens := randomTokens(nseq*T, f.vocab, uint64(i+20))
			got, err := m.Forward(tokens, nseq, T)
			if err != nil {
				t.Fatal(err)
			}
			want := hfReference(f, w, tokens, nseq, T)
			var spread float64
			for _, row := range want {
				spread = max(spread, slices.Max(row)-slices.Min(row))
			}
			d, r, c := maxDiff(got, want)
			t.Logf("max |Δlogit| = %.3g; logits span up to %.1f", d, spread)
			if !(d <= 1e-4) {
				t.Errorf("max |Δlogit| = %.3g at row %d, vocab %d (got %g, want %g); want ≤ 1e-4", d, r, c, got[r*f.vocab+c], want[r][c])
			}
			if spread < 5 {
				t.Errorf("logits span only %.2f: the test model is too close to uniform to show anything", spread)
			}

			gguf := filepath.Join(t.TempDir(), "m.gguf")
			if err := SaveGGUF(context.Background(), m, gguf, safetensors.F32); err != nil {
				t.Fatal(err)
			}
			checkFamilyGGUF(t, f, m, gguf)
			hf := filepath.Join(t.TempDir(), "hf")
			if err := SaveHF(m, hf); err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{gguf, hf} {
				c, err := Load(path)
				if err != nil {
					t.Fatal(err)
				}
				if path == hf && c.Config != m.Config {
					t.Errorf("%s: config %+v, want %+v", path, c.Config, m.Config)
				}
				again, err := c.Forward(tokens, nseq, T)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(again, got) {
					d, _, _ := maxDiff(again, want)
					t.Errorf("%s: logits differ from the original's (max |Δ| to the reference %.3g)", filepath.Base(path), d)
				}
			}
		})
	}
}

// checkFamilyGGUF checks what SaveGGUF wrote for f: the architecture, the
// extra tensors and their names, and rope_freqs.weight equal to the
// model's divisors.
func checkFamilyGGUF(t *testing.T, f *hfFamily, m *Model, path string) {
	t.Helper()
	g := parseGGUFFile(t, path)
	arch := map[string]string{ArchLlama: "llama", ArchMistral: "llama", ArchQwen2: "qwen2", ArchQwen3: "qwen3"}[f.modelType]
	if got := g.kv["general.architecture"]; got != arch {
		t.Errorf("general.architecture %v, want %s", got, arch)
	}
	has := func(name string) bool { _, ok := g.tensors[name]; return ok }
	for name, want := range map[string]bool{
		"blk.1.attn_q.bias": f.bias, "blk.1.attn_k.bias": f.bias, "blk.1.attn_v.bias": f.bias,
		"blk.1.attn_q_norm.weight": f.qkNorm, "blk.1.attn_k_norm.weight": f.qkNorm,
		"rope_freqs.weight": f.scaling != ([4]float64{}), "output.weight": !f.tied,
	} {
		if has(name) != want {
			t.Errorf("tensor %s present %v, want %v", name, has(name), want)
		}
	}
	if f.hd != f.dim/f.heads {
		if got := g.kv[arch+".attention.key_length"]; got != uint32(f.hd) {
			t.Errorf("%s.attention.key_length %v, want %d", arch, got, f.hd)
		}
	}
	if f.window > 0 {
		if got := g.kv["llama.attention.sliding_window"]; got != uint32(f.window) {
			t.Errorf("llama.attention.sliding_window %v, want %d", got, f.window)
		}
	}
	if has("rope_freqs.weight") {
		freqs := make([]float32, f.hd/2)
		if err := g.read("rope_freqs.weight", freqs); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(freqs, m.Weights.Blocks[0].RopeFreqs) || freqs[0] != 1 || freqs[len(freqs)-1] != float32(f.scaling[0]) {
			t.Errorf("rope_freqs.weight %v, model's divisors %v", freqs, m.Weights.Blocks[0].RopeFreqs)
		}
	}
}

// TestBPEVocabularies: a model whose HF directory has only a tokenizer.json
// (LLaMA-3's and Qwen3's real files, with tokenizer_config.json) loads it;
// Model.AddBOS follows the files (on for LLaMA-3, off for Qwen3); exported
// to GGUF the vocabulary becomes tokenizer.ggml.model "gpt2" with its
// merges, pre-tokeniser and add_bos_token, padded to the embedding's rows
// as llama.cpp pads it (Qwen3's config has 151936 rows for 151669 tokens);
// reloaded from the GGUF file, and from SaveHF's copy, the tokenizer encodes
// llama.cpp's test strings to the same ids and the logits are bit-identical.
func TestBPEVocabularies(t *testing.T) {
	for _, c := range []struct {
		name   string
		f      hfFamily
		addBOS bool
		pre    string
		tokens int
	}{
		{"llama3", hfFamily{modelType: ArchLlama, dim: 8, hidden: 16, layers: 1, heads: 2, kvHeads: 1, hd: 4, vocab: 128256,
			theta: 500000, tied: true, scaling: [4]float64{8, 1, 4, 8192}}, true, tokenizer.PreLlama3, 128256},
		{"qwen3", hfFamily{modelType: ArchQwen3, dim: 8, hidden: 16, layers: 1, heads: 2, kvHeads: 1, hd: 8, vocab: 151936,
			theta: 1e6, tied: true, qkNorm: true}, false, tokenizer.PreQwen2, 151669},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := writeFamily(t, &c.f, familyWeights(&c.f, 9))
			os.Remove(filepath.Join(dir, "tokenizer.model"))
			for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
				if err := copyFile(datatest.Path(t, "tokenizers/"+c.name+"/"+name), filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
			}
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := m.Tokenizer.(*tokenizer.BPE); !ok || m.Tokenizer.VocabSize() != c.tokens || m.AddBOS() != c.addBOS {
				t.Fatalf("tokenizer %T of %d tokens, AddBOS %v; want BPE of %d, %v", m.Tokenizer, m.Tokenizer.VocabSize(), m.AddBOS(), c.tokens, c.addBOS)
			}
			if n := len(m.Files); filepath.Base(m.Files[n-2]) != "tokenizer.json" || filepath.Base(m.Files[n-1]) != "tokenizer_config.json" {
				t.Errorf("files %v: want tokenizer.json and tokenizer_config.json last", m.Files)
			}
			gguf := filepath.Join(t.TempDir(), "m.gguf")
			if err := SaveGGUF(context.Background(), m, gguf, safetensors.F32); err != nil {
				t.Fatal(err)
			}
			g := parseGGUFFile(t, gguf)
			toks, _ := g.kv["tokenizer.ggml.tokens"].([]string)
			merges, _ := g.kv["tokenizer.ggml.merges"].([]string)
			if g.kv["tokenizer.ggml.model"] != "gpt2" || g.kv["tokenizer.ggml.pre"] != c.pre || g.kv["tokenizer.ggml.add_bos_token"] != c.addBOS ||
				len(toks) != c.f.vocab || len(merges) == 0 {
				t.Errorf("gguf tokenizer: model %v, pre %v, add_bos_token %v, %d tokens, %d merges",
					g.kv["tokenizer.ggml.model"], g.kv["tokenizer.ggml.pre"], g.kv["tokenizer.ggml.add_bos_token"], len(toks), len(merges))
			}
			if last := toks[len(toks)-1]; c.tokens < c.f.vocab && last != fmt.Sprintf("[PAD%d]", c.f.vocab-1) {
				t.Errorf("last token %q, want the padding [PAD%d]", last, c.f.vocab-1)
			}
			hf := filepath.Join(t.TempDir(), "hf")
			if err := SaveHF(m, hf); err != nil {
				t.Fatal(err)
			}
			inp, err := os.ReadFile(datatest.Path(t, "tokenizers/"+c.name+"/vocab-test.inp"))
			if err != nil {
				t.Fatal(err)
			}
			texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
			probe := []int{0, 1, 2, 3, 100, 1000}
			want, err := m.Forward(probe, 1, len(probe))
			if err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{gguf, hf} {
				again, err := Load(path)
				if err != nil {
					t.Fatal(err)
				}
				if again.AddBOS() != c.addBOS {
					t.Errorf("%s: AddBOS %v, want %v", path, again.AddBOS(), c.addBOS)
				}
				for i, text := range texts[:len(texts)-1] {
					if a, b := m.Tokenizer.Encode(text, c.addBOS, false), again.Tokenizer.Encode(text, c.addBOS, false); !slices.Equal(a, b) {
						t.Errorf("%s: case %d %q: %v, the original %v", filepath.Base(path), i, text, b, a)
					}
				}
				got, err := again.Forward(probe, 1, len(probe))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s: logits differ from the original's", filepath.Base(path))
				}
			}
		})
	}
}

// TestFamiliesPrunedExport: a streaming Qwen3 and LLaMA-3 model whose
// blocks were pruned (every third weight zeroed, committed to the spill)
// exported to GGUF and to an HF directory reads back with exactly those
// zeros and every other weight unchanged, through the q/k row permutation
// Qwen's GGUF rows and every HF copy go through.
func TestFamiliesPrunedExport(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	for _, f := range []*hfFamily{&families[0], &families[4]} {
		t.Run(f.name, func(t *testing.T) {
			dir := writeFamily(t, f, familyWeights(f, 4))
			m, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			want, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			zeroEveryKth(t, m, 3, want)
			gguf, hf := filepath.Join(t.TempDir(), "p.gguf"), filepath.Join(t.TempDir(), "hf")
			if err := SaveGGUF(context.Background(), m, gguf, safetensors.F32); err != nil {
				t.Fatal(err)
			}
			if err := SaveHF(m, hf); err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{gguf, hf} {
				got, err := Load(path)
				if err != nil {
					t.Fatal(err)
				}
				for l := range got.Weights.Blocks {
					for i, lin := range got.Weights.Blocks[l].Linears() {
						if !slices.Equal(lin.W, want.Weights.Blocks[l].Linears()[i].W) {
							t.Errorf("%s: block %d %s differs from the pruned weights", filepath.Base(path), l, LinearNames[i])
						}
					}
				}
			}
		})
	}
}
