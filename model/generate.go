package model

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/prunebench/prunebench/linalg"
)

// kvCache holds every block's keys and values for one sequence decoded
// incrementally, as run.c's RunState does.
type kvCache struct {
	slots []kvSlot
	ws    workspace
}

// newKVCache makes room for the given number of positions (at most the
// context length): as many as the work asks for, never the declared context,
// which a config can set to 10⁸ while generation asks for 256 steps.
func newKVCache(cfg *Config, positions int) *kvCache {
	positions = min(positions, cfg.SeqLen)
	c := &kvCache{slots: make([]kvSlot, cfg.Layers)}
	n := positions * cfg.KVDim()
	for l := range c.slots {
		c.slots[l] = kvSlot{k: make([]float32, n), v: make([]float32, n)}
	}
	return c
}

// step runs tokens through the model at the cache's next positions, caches
// their keys and values, and returns their logits (len(tokens)×Vocab). The
// model's shapes must have been checked.
func (m *Model) step(c *kvCache, tokens []int) ([]float32, error) {
	pos := c.slots[0].pos
	if pos+len(tokens) > m.Config.SeqLen {
		return nil, fmt.Errorf("decode: position %d exceeds the context length %d", pos+len(tokens), m.Config.SeqLen)
	}
	if n := len(c.slots[0].k) / m.Config.KVDim(); pos+len(tokens) > n {
		return nil, fmt.Errorf("decode: position %d exceeds the %d positions the cache was made for", pos+len(tokens), n)
	}
	x, err := m.Embed(tokens)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	for l := range m.Weights.Blocks {
		b, release, err := m.Block(l)
		if err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		blockForward(context.Background(), &m.Config, b, x, 1, len(tokens), &c.slots[l], nil, &c.ws)
		release()
	}
	return m.Head(x, len(tokens)), nil
}

// Generate continues prompt for at most steps positions with run.c's loop:
// the tokens are BOS (when the model's texts start with it, Model.AddBOS)
// followed by the encoded prompt; at each position one
// token goes through the model with a KV cache; while the prompt lasts the
// next token is the prompt's, afterwards it is the argmax of the logits
// (temperature 0) or a sample from softmax(logits/temperature). Generation
// stops early when the next token is BOS. Each new token's text,
// Tokenizer.Decode(previous, next), goes to emit.
//
// Sampling reproduces run.c with top-p disabled: its xorshift64* generator
// (state seed; random_f32 = (u32 >> 8) / 2²⁴) draws one coin per token, and
// the token is the first whose cumulative probability exceeds the coin. The
// seed must be non-zero when sampling because 0 is xorshift's fixed point.
// ctx is looked at before every position.
func Generate(ctx context.Context, m *Model, prompt string, steps int, temperature float64, seed uint64, emit func(piece string)) error {
	if m.Tokenizer == nil {
		return errors.New("generate: model has no tokenizer")
	}
	if err := m.checkWeights(); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	switch {
	case steps <= 0 || steps > m.Config.SeqLen:
		return fmt.Errorf("generate: steps %d: want 1..%d (the context length)", steps, m.Config.SeqLen)
	case !(temperature >= 0) || math.IsInf(temperature, 1):
		return fmt.Errorf("generate: temperature %g: want a finite value ≥ 0", temperature)
	case temperature > 0 && seed == 0:
		return errors.New("generate: seed 0 cannot drive xorshift sampling; pass a non-zero seed")
	}
	bos := m.Tokenizer.BOS()
	tokens := m.Tokenizer.Encode(prompt, false, false)
	if m.AddBOS() && bos >= 0 {
		tokens = append([]int{bos}, tokens...)
	}
	if len(tokens) == 0 {
		return errors.New("generate: an empty prompt needs a vocabulary that starts texts with BOS")
	}
	cache := newKVCache(&m.Config, steps)
	rng := xorshift(seed)
	token := tokens[0]
	for pos := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		logits, err := m.step(cache, []int{token})
		if err != nil {
			return fmt.Errorf("generate: position %d: %w", pos, err)
		}
		var next int
		switch {
		case pos < len(tokens)-1:
			next = tokens[pos+1]
		case temperature == 0:
			next = linalg.Argmax(logits)
		default:
			next = sample(logits, float32(temperature), rng.float32())
		}
		if next == bos {
			break
		}
		emit(m.Tokenizer.Decode(token, next))
		token = next
	}
	return nil
}

// sample draws from softmax(logits/temperature) by inverting the cumulative
// distribution at coin ∈ [0,1); rounding can leave the sum short of coin, in
// which case the last token is taken (run.c's sample_mult). logits is
// overwritten.
func sample(logits []float32, temperature, coin float32) int {
	// A temperature so small that a logit divided by it overflows float32
	// (or one that is 0 in float32) would give NaN probabilities; sampling
	// then tends to the argmax, which is what it returns.
	for _, l := range logits {
		if q := l / temperature; math.IsInf(float64(q), 0) || math.IsNaN(float64(q)) {
			return linalg.Argmax(logits)
		}
	}
	for i := range logits {
		logits[i] /= temperature
	}
	softmax(logits)
	var cdf float32
	for i, p := range logits {
		cdf += p
		if coin < cdf {
			return i
		}
	}
	return len(logits) - 1
}

// xorshift is run.c's xorshift64* generator.
type xorshift uint64

func (s *xorshift) uint32() uint32 {
	*s ^= *s >> 12
	*s ^= *s << 25
	*s ^= *s >> 27
	return uint32((uint64(*s) * 0x2545F4914F6CDD1D) >> 32)
}

func (s *xorshift) float32() float32 { return float32(s.uint32()>>8) / 16777216 }
