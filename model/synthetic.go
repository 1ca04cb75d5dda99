package model

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/prunebench/prunebench/internal/atomicfile"
	"github.com/prunebench/prunebench/safetensors"
)

// LLaMA7B is the shape of LLaMA-7B (and LLaMA-2-7B at context 4096).
var LLaMA7B = Config{Dim: 4096, HiddenDim: 11008, Layers: 32, Heads: 32, KVHeads: 32, HeadDim: 128,
	Vocab: 32000, SeqLen: 2048, NormEps: 1e-5, RopeBase: 10000}

// WriteSynthetic writes a random model of shape cfg (any Config.Arch, with
// its biases or q/k norms; no classifier when tied) as a Hugging Face
// directory: config.json, one safetensors shard per block plus one for the
// embedding, final norm and classifier, model.safetensors.index.json, and
// a copy of the vocabulary at tokenizerPath (its vocabulary must have
// cfg.Vocab pieces): a SentencePiece tokenizer.model, or a byte-level BPE
// tokenizer.json, copied with the tokenizer_config.json beside it. Weights are uniform with the
// standard deviation 0.02 of the LLaMA initialisation, norms are 1, so
// that logits are far from uniform as in a trained model. The tensors are
// written in dtype (F32, F16 or BF16) one shard at a time, so memory stays
// at one block's float32 weights whatever the model's size. The same cfg
// and seed give the same files.
func WriteSynthetic(ctx context.Context, dir string, cfg Config, seed uint64, dtype safetensors.DType, tokenizerPath string) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("synthetic model: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	weightMap := map[string]string{}
	// write fills one shard through put, which records each tensor's
	// shard for the index.
	type putFunc func(name string, shape []int, data []float32) error
	write := func(shard string, add func(put putFunc) error) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		w := safetensors.NewWriter()
		err := add(func(name string, shape []int, data []float32) error {
			weightMap[name] = shard
			return w.AddFloat32(name, shape, data, dtype)
		})
		if err != nil {
			return err
		}
		return w.WriteFile(filepath.Join(dir, shard))
	}
	nshards := cfg.Layers + 1
	shardName := func(i int) string { return fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, nshards) }
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	// Each tensor has its own stream, so that a shard's content does not
	// depend on the order the others are written in.
	stream := uint64(0)
	random := func(n int) []float32 {
		stream++
		rng := rand.New(rand.NewPCG(seed, stream))
		a := float32(0.02 * math.Sqrt(3)) // uniform on [−a, a]: std 0.02
		v := make([]float32, n)
		for i := range v {
			v[i] = a * (2*rng.Float32() - 1)
		}
		return v
	}
	for l := 0; l < cfg.Layers; l++ {
		err := write(shardName(l), func(put putFunc) error {
			for _, t := range []struct {
				role    string
				out, in int
			}{
				{"q", cfg.QDim(), cfg.Dim}, {"k", cfg.KVDim(), cfg.Dim}, {"v", cfg.KVDim(), cfg.Dim}, {"o", cfg.Dim, cfg.QDim()},
				{"gate", cfg.HiddenDim, cfg.Dim}, {"up", cfg.HiddenDim, cfg.Dim}, {"down", cfg.Dim, cfg.HiddenDim},
			} {
				if err := put(hfTensorName(t.role, l), []int{t.out, t.in}, random(t.out*t.in)); err != nil {
					return err
				}
			}
			for _, role := range blockVectorRoles {
				n := vectorLen(&cfg, role)
				v := ones(n) // norm weights
				switch role {
				case roleQBias, roleKBias, roleVBias:
					v = random(n)
				}
				if n > 0 {
					if err := put(hfTensorName(role, l), []int{n}, v); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("synthetic model %s: block %d: %w", dir, l, err)
		}
	}
	err := write(shardName(cfg.Layers), func(put putFunc) error {
		if err := put(hfTensorName(roleEmbed, 0), []int{cfg.Vocab, cfg.Dim}, random(cfg.Vocab*cfg.Dim)); err != nil {
			return err
		}
		if err := put(hfTensorName(roleFinalNorm, 0), []int{cfg.Dim}, ones(cfg.Dim)); err != nil {
			return err
		}
		if cfg.TiedClassifier {
			return nil
		}
		return put(hfTensorName(roleClassifier, 0), []int{cfg.Vocab, cfg.Dim}, random(cfg.Vocab*cfg.Dim))
	})
	if err != nil {
		return fmt.Errorf("synthetic model %s: %w", dir, err)
	}
	index := struct {
		Metadata  map[string]any    `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}{map[string]any{}, weightMap}
	if err := writeJSON(filepath.Join(dir, "model.safetensors.index.json"), index); err != nil {
		return err
	}
	torch := map[safetensors.DType]string{safetensors.F32: "float32", safetensors.F16: "float16", safetensors.BF16: "bfloat16"}[dtype]
	if err := writeJSON(filepath.Join(dir, "config.json"), newHFConfigOut(&cfg, 1, 2, torch)); err != nil {
		return err
	}
	if filepath.Base(tokenizerPath) != "tokenizer.json" {
		return copyFile(tokenizerPath, filepath.Join(dir, "tokenizer.model"))
	}
	for _, f := range vocabFiles(tokenizerPath) {
		if err := copyFile(f, filepath.Join(dir, filepath.Base(f))); err != nil {
			return err
		}
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := atomicfile.Create(to)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := io.Copy(f, in); err != nil {
		return fmt.Errorf("copying %s to %s: %w", from, to, err)
	}
	return f.Commit()
}
