package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/linalg"
)

// byteTokenizer maps each byte of the text to one id in [3, vocab) and
// decodes an id to "<prev>id" so that the test sees both arguments.
type byteTokenizer struct{ vocab int }

func (b byteTokenizer) Encode(text string, bos, eos bool) []int {
	var ids []int
	if bos {
		ids = append(ids, 1)
	}
	for i := range len(text) {
		ids = append(ids, 3+int(text[i])%(b.vocab-3))
	}
	if eos {
		ids = append(ids, 2)
	}
	return ids
}
func (b byteTokenizer) Decode(prev, id int) string { return fmt.Sprintf("%d>%d ", prev, id) }
func (b byteTokenizer) VocabSize() int             { return b.vocab }
func (b byteTokenizer) BOS() int                   { return 1 }
func (b byteTokenizer) EOS() int                   { return 2 }

// greedyByForward is run.c's loop written with full Forward calls over the
// growing prefix and no cache.
func greedyByForward(t *testing.T, m *Model, prompt []int, steps int) string {
	t.Helper()
	var out strings.Builder
	seq := []int{prompt[0]}
	for pos := range steps {
		logits, err := m.Forward(seq, 1, len(seq))
		if err != nil {
			t.Fatal(err)
		}
		next := linalg.Argmax(logits[pos*m.Config.Vocab:])
		if pos < len(prompt)-1 {
			next = prompt[pos+1]
		}
		if next == 1 {
			break
		}
		out.WriteString(m.Tokenizer.Decode(seq[pos], next))
		seq = append(seq, next)
	}
	return out.String()
}

func generate(t *testing.T, m *Model, prompt string, steps int, temp float64, seed uint64) string {
	t.Helper()
	var out strings.Builder
	if err := Generate(context.Background(), m, prompt, steps, temp, seed, func(p string) { out.WriteString(p) }); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestGenerateGreedyMatchesForward(t *testing.T) {
	cfg := synthConfig()
	m := randomModel(cfg, 21)
	m.Tokenizer = byteTokenizer{cfg.Vocab}
	for _, prompt := range []string{"", "hello"} {
		got := generate(t, m, prompt, 40, 0, 0)
		want := greedyByForward(t, m, append([]int{1}, m.Tokenizer.Encode(prompt, false, false)...), 40)
		if got != want {
			t.Errorf("prompt %q:\ncached  %s\nforward %s", prompt, got, want)
		}
		if n := strings.Count(got, ">"); n < 10 {
			t.Errorf("prompt %q: only %d tokens before BOS; pick a model seed that generates longer", prompt, n)
		}
	}
}

// noBOSTokenizer is byteTokenizer for a vocabulary whose texts start
// without BOS, as Qwen's do.
type noBOSTokenizer struct{ byteTokenizer }

func (noBOSTokenizer) AddBOS() bool { return false }

// TestGenerateWithoutBOS: with a vocabulary that does not start texts with
// BOS (Model.AddBOS false), generation starts from the prompt's first token,
// through a sliding window shorter than the generated text (the KV cache
// positions before it are ignored); an empty prompt is refused.
func TestGenerateWithoutBOS(t *testing.T) {
	cfg := synthConfig()
	cfg.Arch, cfg.SlidingWindow = ArchMistral, 7
	m := randomModel(cfg, 21)
	m.Tokenizer = noBOSTokenizer{byteTokenizer{cfg.Vocab}}
	got := generate(t, m, "hello", 30, 0, 0)
	if want := greedyByForward(t, m, m.Tokenizer.Encode("hello", false, false), 30); got != want {
		t.Errorf("cached  %s\nforward %s", got, want)
	}
	if n := strings.Count(got, ">"); n < 20 {
		t.Errorf("only %d tokens, too few to pass the window of 7; pick a model seed that generates longer", n)
	}
	if err := Generate(context.Background(), m, "", 5, 0, 0, func(string) {}); err == nil || !strings.Contains(err.Error(), "empty prompt") {
		t.Errorf("empty prompt without BOS: %v", err)
	}
}

func TestGenerateStopsAtBOS(t *testing.T) {
	cfg := synthConfig()
	m := randomModel(cfg, 22)
	m.Tokenizer = byteTokenizer{cfg.Vocab}
	// Without attention and MLP outputs the last hidden state is the current
	// token's embedding, so a classifier row for BOS that doubles the row of
	// the prompt's last token ("b" = 7) predicts BOS right after the prompt.
	for l := range m.Weights.Blocks {
		clear(m.Weights.Blocks[l].O.W)
		clear(m.Weights.Blocks[l].Down.W)
	}
	m.Weights.Classifier = append([]float32(nil), m.Weights.Embed...)
	for i := range cfg.Dim {
		m.Weights.Classifier[cfg.Dim+i] = 2 * m.Weights.Embed[7*cfg.Dim+i]
	}
	const want = "1>6 6>7 "
	if got := generate(t, m, "ab", 30, 0, 0); got != want {
		t.Errorf("emitted %q, want the prompt %q and then a stop", got, want)
	}
	m.Weights.Classifier = m.Weights.Embed
	if got := generate(t, m, "ab", 30, 0, 0); !strings.HasPrefix(got, want) || len(got) == len(want) {
		t.Errorf("without the BOS row: emitted %q, want the prompt %q and more", got, want)
	}
}

func TestGenerateSampling(t *testing.T) {
	cfg := synthConfig()
	m := randomModel(cfg, 23)
	m.Tokenizer = byteTokenizer{cfg.Vocab}
	a, b := generate(t, m, "x", 40, 1, 42), generate(t, m, "x", 40, 1, 42)
	if a != b {
		t.Errorf("same seed, different text:\n%s\n%s", a, b)
	}
	if c := generate(t, m, "x", 40, 1, 43); c == a {
		t.Errorf("seeds 42 and 43 gave the same 40 tokens: %s", a)
	}
	// A vanishing temperature concentrates all mass on the argmax.
	if cold, greedy := generate(t, m, "x", 40, 1e-6, 7), generate(t, m, "x", 40, 0, 0); cold != greedy {
		t.Errorf("temperature 1e-6 differs from greedy:\n%s\n%s", cold, greedy)
	}
}

func TestSample(t *testing.T) {
	logits := func() []float32 {
		return []float32{float32(math.Log(0.2)), float32(math.Log(0.3)), float32(math.Log(0.5))}
	}
	for _, tc := range []struct {
		coin float32
		want int
	}{{0, 0}, {0.19, 0}, {0.21, 1}, {0.49, 1}, {0.51, 2}, {0.9999999, 2}} {
		if got := sample(logits(), 1, tc.coin); got != tc.want {
			t.Errorf("coin %g: token %d, want %d", tc.coin, got, tc.want)
		}
	}
	// Temperature 2 flattens to ∝ sqrt(p): 0.2627, 0.3218, 0.4155.
	for _, tc := range []struct {
		coin float32
		want int
	}{{0.26, 0}, {0.27, 1}, {0.58, 1}, {0.59, 2}} {
		if got := sample(logits(), 2, tc.coin); got != tc.want {
			t.Errorf("temperature 2, coin %g: token %d, want %d", tc.coin, got, tc.want)
		}
	}
	// Temperatures at which logit/temperature overflows float32, or that
	// are 0 in float32, sample the argmax (the limit), never NaN.
	for _, temp := range []float32{1e-38, 1e-45, float32(1e-50)} {
		for _, coin := range []float32{0, 0.5, 0.9999999} {
			if got := sample(logits(), temp, coin); got != 2 {
				t.Errorf("temperature %g, coin %g: token %d, want the argmax 2", temp, coin, got)
			}
		}
	}
}

// TestXorshift checks run.c's generator against values computed from its C
// source (state 42).
func TestXorshift(t *testing.T) {
	s := xorshift(42)
	for i, want := range []uint32{1456360119, 3359763283, 3393612768} {
		if got := s.uint32(); got != want {
			t.Errorf("draw %d: %d, want %d", i, got, want)
		}
	}
	s = xorshift(42)
	if got := s.float32(); got != 0.3390852212905884 {
		t.Errorf("first random_f32 = %.17g, want 0.3390852212905884", got)
	}
}

func TestGenerateErrors(t *testing.T) {
	cfg := synthConfig()
	m := randomModel(cfg, 24)
	m.Tokenizer = byteTokenizer{cfg.Vocab}
	noTok := randomModel(cfg, 24)
	tests := []struct {
		name  string
		m     *Model
		steps int
		temp  float64
		seed  uint64
		want  string
	}{
		{"no tokenizer", noTok, 5, 0, 0, "no tokenizer"},
		{"zero steps", m, 0, 0, 0, "steps 0: want 1..64"},
		{"too many steps", m, 65, 0, 0, "steps 65: want 1..64"},
		{"negative temperature", m, 5, -1, 1, "temperature -1"},
		{"nan temperature", m, 5, math.NaN(), 1, "temperature NaN"},
		{"zero seed", m, 5, 0.8, 0, "seed 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Generate(context.Background(), tc.m, "hi", tc.steps, tc.temp, tc.seed, func(string) { t.Error("emitted despite the error") })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// A prompt longer than the context is cut by steps, as in run.c.
	if got := generate(t, m, strings.Repeat("z", 100), 64, 0, 0); strings.Count(got, ">") != 64 {
		t.Errorf("long prompt: %d tokens emitted, want 64", strings.Count(got, ">"))
	}
}

// TestHugeContextAllocatesByWork checks that a declared context of 10⁸
// positions sizes neither the RoPE table nor the KV cache: both follow the
// positions the call uses.
func TestHugeContextAllocatesByWork(t *testing.T) {
	cfg := synthConfig()
	cfg.SeqLen = 100_000_000
	cfg.RopeBase = 12345 // a RoPE table no other test has grown
	m := randomModel(cfg, 31)
	m.Tokenizer = byteTokenizer{cfg.Vocab}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := m.Forward(randomTokens(64, cfg.Vocab, 32), 1, 64); err != nil {
		t.Fatal(err)
	}
	generate(t, m, "hi", 16, 0, 0)
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 8<<20 {
		t.Errorf("forward of 64 tokens and 16 generated steps allocated %d bytes with a 10⁸-position context", d)
	}
}

// TestGenerateCancelled checks that generation stops at the next position
// once its context is done.
func TestGenerateCancelled(t *testing.T) {
	cfg := synthConfig()
	m := randomModel(cfg, 5)
	m.Tokenizer = byteTokenizer{cfg.Vocab}
	ctx, cancel := context.WithCancel(context.Background())
	emitted := 0
	err := Generate(ctx, m, "", 8, 0, 0, func(string) {
		if emitted++; emitted == 3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || emitted != 3 {
		t.Errorf("got %v after %d tokens, want context.Canceled after 3", err, emitted)
	}
}
