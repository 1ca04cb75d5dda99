package prune_test

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prunebench/prunebench/admm"
	"github.com/prunebench/prunebench/baselines"
	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/safetensors"
)

// familyModel is a random 2-block model of one family with the extras
// that family has: LLaMA-3's scaled RoPE divisors (tied, as 3.2 is),
// Mistral's window (4, shorter than the calibration windows), Qwen2's
// q/k/v biases, Qwen3's q/k norms with head_dim 8 ≠ dim/heads 4. Every
// input width is a multiple of 4, for 2:4.
func familyModel(arch string, seed uint64) *model.Model {
	cfg := model.Config{Dim: 16, HiddenDim: 32, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 4,
		Vocab: 40, SeqLen: 32, NormEps: 1e-6, RopeBase: 1e6, Arch: arch}
	switch arch {
	case "":
		cfg.RopeBase, cfg.TiedClassifier = 500000, true
		cfg.RopeScaling = model.RopeScaling{Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalContext: 16}
	case model.ArchMistral:
		cfg.SlidingWindow = 4
	case model.ArchQwen3:
		cfg.HeadDim = 8
	}
	rng := rand.New(rand.NewPCG(seed, 5))
	randv := func(n int, mean, scale float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(mean + scale*rng.NormFloat64())
		}
		return v
	}
	lin := func(out, in int) model.Linear {
		return model.Linear{Out: out, In: in, W: randv(out*in, 0, 1/math.Sqrt(float64(in)))}
	}
	m := &model.Model{Config: cfg}
	m.Weights.Embed = randv(cfg.Vocab*cfg.Dim, 0, 1)
	m.Weights.Classifier = randv(cfg.Vocab*cfg.Dim, 0, 0.25)
	if cfg.TiedClassifier {
		m.Weights.Classifier = m.Weights.Embed
	}
	m.Weights.FinalNorm = randv(cfg.Dim, 1, 0.1)
	freqs := cfg.RopeScaling.Freqs(cfg.HeadDim, cfg.RopeBase)
	for range cfg.Layers {
		b := model.Block{
			AttnNorm: randv(cfg.Dim, 1, 0.1), FFNNorm: randv(cfg.Dim, 1, 0.1),
			Q: lin(cfg.QDim(), cfg.Dim), K: lin(cfg.KVDim(), cfg.Dim), V: lin(cfg.KVDim(), cfg.Dim),
			O:    lin(cfg.Dim, cfg.QDim()),
			Gate: lin(cfg.HiddenDim, cfg.Dim), Up: lin(cfg.HiddenDim, cfg.Dim), Down: lin(cfg.Dim, cfg.HiddenDim),
			RopeFreqs: freqs,
		}
		if cfg.QKVBias() {
			b.QBias, b.KBias, b.VBias = randv(cfg.QDim(), 0, 0.5), randv(cfg.KVDim(), 0, 0.5), randv(cfg.KVDim(), 0, 0.5)
		}
		if cfg.QKNorm() {
			b.QNorm, b.KNorm = randv(cfg.HeadDim, 1, 0.2), randv(cfg.HeadDim, 1, 0.2)
		}
		m.Weights.Blocks = append(m.Weights.Blocks, b)
	}
	return m
}

// blockVectors copies a block's norms, biases, q/k norms and RoPE divisors.
func blockVectors(b *model.Block) [][]float32 {
	var out [][]float32
	for _, v := range [][]float32{b.AttnNorm, b.FFNNorm, b.QBias, b.KBias, b.VBias, b.QNorm, b.KNorm, b.RopeFreqs} {
		out = append(out, slices.Clone(v))
	}
	return out
}

// TestRunFamilies prunes each family with Wanda (per row) and ADMM-Grad
// (per layer) at 50% and 2:4: every linear has exactly the pattern's
// zeros (per row, per layer, or 2 in every group of 4 inputs), the biases,
// norms and RoPE divisors are bit for bit unchanged, and the pruned model's
// logits are finite and differ from the dense model's.
func TestRunFamilies(t *testing.T) {
	grad, err := admm.NewADMMGrad(admm.ADMMGradDefaults())
	if err != nil {
		t.Fatal(err)
	}
	calib := calibration(3, 12, 40)
	for _, arch := range []string{"", model.ArchMistral, model.ArchQwen2, model.ArchQwen3} {
		for _, c := range []struct {
			method prune.Method
			perRow bool
		}{{baselines.Wanda{}, true}, {grad, false}} {
			for _, pat := range []string{"0.5", "2:4"} {
				name := arch
				if name == "" {
					name = "llama3"
				}
				t.Run(name+"/"+c.method.Name()+"/"+pat, func(t *testing.T) {
					m := familyModel(arch, 3)
					dense := familyModel(arch, 3)
					p, err := prune.ParsePattern(pat)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := prune.Run(context.Background(), m, calib, c.method, p, prune.PipelineOptions{PerRow: c.perRow}); err != nil {
						t.Fatal(err)
					}
					for l := range m.Weights.Blocks {
						b, db := &m.Weights.Blocks[l], &dense.Weights.Blocks[l]
						for i, lin := range b.Linears() {
							checkPattern(t, l, model.LinearNames[i], lin, p, c.perRow)
						}
						for i, v := range blockVectors(db) {
							if got := blockVectors(b)[i]; !slices.Equal(got, v) {
								t.Errorf("block %d vector %d changed by pruning", l, i)
							}
						}
					}
					tokens := calib[0]
					a, err := m.Forward(tokens, 1, len(tokens))
					if err != nil {
						t.Fatal(err)
					}
					d, err := dense.Forward(tokens, 1, len(tokens))
					if err != nil {
						t.Fatal(err)
					}
					if slices.Equal(a, d) || slices.ContainsFunc(a, func(v float32) bool { return math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) }) {
						t.Errorf("pruned logits equal the dense ones or are not finite")
					}
				})
			}
		}
	}
}

// checkPattern counts lin's zeros as p asks (random weights have none of
// their own).
func checkPattern(t *testing.T, l int, name string, lin *model.Linear, p prune.Pattern, perRow bool) {
	t.Helper()
	switch {
	case p.Structured():
		for r := range lin.Out {
			for g := 0; g < lin.In; g += p.M {
				if z := prune.Zeros(lin.W[r*lin.In+g : r*lin.In+g+p.M]); z != p.M-p.N {
					t.Fatalf("block %d %s row %d inputs %d..%d: %d zeros, want %d", l, name, r, g, g+p.M-1, z, p.M-p.N)
				}
			}
		}
	case perRow:
		for r := range lin.Out {
			if z, want := prune.Zeros(lin.W[r*lin.In:(r+1)*lin.In]), prune.PruneCount(lin.In, p.Ratio); z != want {
				t.Fatalf("block %d %s row %d: %d zeros, want %d", l, name, r, z, want)
			}
		}
	default:
		if z, want := prune.Zeros(lin.W), prune.PruneCount(lin.Out*lin.In, p.Ratio); z != want {
			t.Fatalf("block %d %s: %d zeros, want %d", l, name, z, want)
		}
	}
}

// TestRunFamiliesStreaming prunes Qwen2, Qwen3 and Mistral checkpoints
// opened streaming (blocks read when used, pruned ones spilled, biases and
// q/k norms kept from the opening) and loaded whole: the pruned weights are
// identical, and so are the logits, which go through the spilled blocks
// and the resident vectors.
func TestRunFamiliesStreaming(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	calib := calibration(2, 24, 32000)
	for _, cfg := range []model.Config{
		{Dim: 32, HiddenDim: 64, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 8, Vocab: 32000, SeqLen: 64, NormEps: 1e-6, RopeBase: 1e6, Arch: model.ArchQwen2},
		{Dim: 32, HiddenDim: 64, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 12, Vocab: 32000, SeqLen: 64, NormEps: 1e-6, RopeBase: 1e6, Arch: model.ArchQwen3},
		{Dim: 32, HiddenDim: 64, Layers: 2, Heads: 4, KVHeads: 1, HeadDim: 8, Vocab: 32000, SeqLen: 64, NormEps: 1e-5, RopeBase: 1e6, Arch: model.ArchMistral, SlidingWindow: 8},
	} {
		t.Run(cfg.Arch, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), cfg.Arch)
			if err := model.WriteSynthetic(context.Background(), dir, cfg, 5, safetensors.F32, datatest.Path(t, "tokenizers/llama2/tokenizer.model")); err != nil {
				t.Fatal(err)
			}
			whole, err := model.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			streaming, err := model.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer streaming.Close()
			p := prune.Pattern{N: 2, M: 4}
			for _, m := range []*model.Model{whole, streaming} {
				if _, err := prune.Run(context.Background(), m, calib, baselines.Wanda{}, p, prune.PipelineOptions{PerRow: true}); err != nil {
					t.Fatal(err)
				}
			}
			for l := range cfg.Layers {
				b, release, err := streaming.Block(l)
				if err != nil {
					t.Fatal(err)
				}
				for i, lin := range b.Linears() {
					checkPattern(t, l, model.LinearNames[i], lin, p, true)
					if !slices.Equal(lin.W, whole.Weights.Blocks[l].Linears()[i].W) {
						t.Errorf("block %d %s: streaming and whole pruning differ", l, model.LinearNames[i])
					}
				}
				release()
			}
			a, err := streaming.Forward(calib[0], 1, len(calib[0]))
			if err != nil {
				t.Fatal(err)
			}
			b, err := whole.Forward(calib[0], 1, len(calib[0]))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a, b) {
				t.Errorf("pruned logits: streaming and whole differ")
			}
		})
	}
}
