package model

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/safetensors"
)

// syntheticConfig is a small LLaMA with grouped-query attention and a
// hidden width that is not a multiple of 64.
var syntheticConfig = Config{Dim: 64, HiddenDim: 172, Layers: 3, Heads: 4, KVHeads: 2, HeadDim: 16, Vocab: 32000, SeqLen: 128, NormEps: 1e-5, RopeBase: 10000}

// writeSynthetic writes syntheticConfig in dtype (seed 7: every dtype is
// a rounding of the same F32 weights) and returns its directory.
func writeSynthetic(t *testing.T, dtype safetensors.DType) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), string(dtype))
	if err := WriteSynthetic(context.Background(), dir, syntheticConfig, 7, dtype, datatest.Path(t, "tokenizers/llama2/tokenizer.model")); err != nil {
		t.Fatal(err)
	}
	return dir
}

var probeTokens = []int{1, 450, 4996, 17354, 1701, 432, 17204, 975, 278, 17366, 11203, 29889, 13, 3112, 338, 2}

func logits(t *testing.T, m *Model, tokens []int) []float32 {
	t.Helper()
	out, err := m.Forward(tokens, 2, len(tokens)/2)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOpenMatchesLoad: a streaming model (Open) gives bit for bit the
// blocks and logits of the same checkpoint loaded whole (Load), in every
// format: llama2.c, GGUF, and sharded Hugging Face safetensors in F32,
// BF16 and F16.
func TestOpenMatchesLoad(t *testing.T) {
	paths := map[string]string{
		"llama2c": datatest.Path(t, "models/stories260K/stories260K.bin"),
		"gguf":    datatest.Path(t, "models/llama-2-tiny-random/llama-2-tiny-random.gguf"),
	}
	for _, dt := range []safetensors.DType{safetensors.F32, safetensors.BF16, safetensors.F16} {
		paths["hf-"+string(dt)] = writeSynthetic(t, dt)
	}
	for name, path := range paths {
		t.Run(name, func(t *testing.T) {
			whole, m := openBoth(t, path)
			if !m.Streaming() || whole.Streaming() {
				t.Fatalf("Streaming: Open %v, Load %v", m.Streaming(), whole.Streaming())
			}
			for l := range whole.Weights.Blocks {
				b, release, err := m.Block(l)
				if err != nil {
					t.Fatal(err)
				}
				sameBlock(t, l, b, &whole.Weights.Blocks[l])
				release()
			}
			tokens := append([]int(nil), probeTokens...)
			for i, tok := range tokens {
				tokens[i] = tok % whole.Config.Vocab
			}
			a, b := logits(t, whole, tokens), logits(t, m, tokens)
			for i := range a {
				if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
					t.Fatalf("logit %d: streaming %g, whole %g", i, b[i], a[i])
				}
			}
		})
	}
}

// openBoth loads path whole and opens it streaming (closed at the end of
// the test).
func openBoth(t *testing.T, path string) (whole, streaming *Model) {
	t.Helper()
	whole, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if streaming, err = Open(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { streaming.Close() })
	return whole, streaming
}

func sameBlock(t *testing.T, l int, got, want *Block) {
	t.Helper()
	g, w := got.Linears(), want.Linears()
	for i := range g {
		if g[i].Out != w[i].Out || g[i].In != w[i].In || len(g[i].W) != len(w[i].W) {
			t.Fatalf("block %d %s: %d×%d (%d values), want %d×%d", l, LinearNames[i], g[i].Out, g[i].In, len(g[i].W), w[i].Out, w[i].In)
		}
		for j := range g[i].W {
			if math.Float32bits(g[i].W[j]) != math.Float32bits(w[i].W[j]) {
				t.Fatalf("block %d %s[%d]: %g, want %g", l, LinearNames[i], j, g[i].W[j], w[i].W[j])
			}
		}
	}
}

// TestHalfCopiesWithinRounding: the BF16 and F16 copies of a synthetic
// model give the F32 original's logits within their rounding: the largest
// difference is a small fraction of the logits' spread, and F16 (11-bit
// significand) is closer than BF16 (8-bit).
func TestHalfCopiesWithinRounding(t *testing.T) {
	open := func(dt safetensors.DType) []float32 {
		m, err := Open(writeSynthetic(t, dt))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		return logits(t, m, probeTokens)
	}
	ref := open(safetensors.F32)
	var sum, sq float64
	for _, v := range ref {
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	n := float64(len(ref))
	spread := math.Sqrt(sq/n - (sum/n)*(sum/n))
	maxDiff := func(got []float32) float64 {
		var d float64
		for i := range got {
			d = max(d, math.Abs(float64(got[i])-float64(ref[i])))
		}
		return d / spread
	}
	bf, f16 := maxDiff(open(safetensors.BF16)), maxDiff(open(safetensors.F16))
	t.Logf("largest logit difference / logit std: BF16 %.2e, F16 %.2e", bf, f16)
	// BF16 rounds each weight by up to 2⁻⁹ relative, F16 by 2⁻¹².
	if bf > 0.05 || f16 > 0.01 || !(f16 < bf) || bf == 0 {
		t.Errorf("BF16 %.2e, F16 %.2e: want BF16 ≤ 0.05, F16 ≤ 0.01 and F16 < BF16", bf, f16)
	}
}

// TestCommitBlock: a committed block is what later reads see, the
// original stays readable through Original, ResetBlocks goes back to it,
// and the spill leaves no file behind in TMPDIR, even before Close.
func TestCommitBlock(t *testing.T) {
	path := writeSynthetic(t, safetensors.BF16)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	whole, m := openBoth(t, path)
	const l = 1
	b, release, err := m.Block(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, lin := range b.Linears() {
		for j := range lin.W {
			if j%3 == 0 {
				lin.W[j] = 0
			}
		}
	}
	if err := m.CommitBlock(l, b); err != nil {
		t.Fatal(err)
	}
	// What the whole model holds after the same change.
	if err := whole.CommitBlock(l, b); err != nil {
		t.Fatal(err)
	}
	release()
	if es, _ := os.ReadDir(tmp); len(es) != 0 {
		t.Errorf("TMPDIR holds %v after a commit; spill files are unlinked", es)
	}
	got, release, err := m.Block(l)
	if err != nil {
		t.Fatal(err)
	}
	sameBlock(t, l, got, &whole.Weights.Blocks[l])
	release()
	dense, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	orig, ok := m.Original()
	if !ok {
		t.Fatal("Original of a streaming model: false")
	}
	ob, release, err := orig.Block(l)
	if err != nil {
		t.Fatal(err)
	}
	sameBlock(t, l, ob, &dense.Weights.Blocks[l])
	release()

	// Saving streams each linear from the spill or the checkpoint and
	// gives the files of the whole model's save.
	a, c := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	if err := SaveHF(m, a, WithShardSize(1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := SaveHF(whole, c, WithShardSize(1<<20)); err != nil {
		t.Fatal(err)
	}
	es, err := os.ReadDir(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) < 4 {
		t.Fatalf("saved %d files, want shards", len(es))
	}
	for _, e := range es {
		x, err1 := os.ReadFile(filepath.Join(a, e.Name()))
		y, err2 := os.ReadFile(filepath.Join(c, e.Name()))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between the streaming and the whole save (%v, %v)", e.Name(), err1, err2)
		}
	}

	if err := m.ResetBlocks(); err != nil {
		t.Fatal(err)
	}
	got, release, err = m.Block(l)
	if err != nil {
		t.Fatal(err)
	}
	sameBlock(t, l, got, &dense.Weights.Blocks[l])
	release()
}
