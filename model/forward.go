package model

import (
	"context"
	"fmt"
	"sync"

	"github.com/prunebench/prunebench/linalg"
)

// Input names the 4 distinct linear inputs of a block (the pruning pipeline's statistics).
type Input int

const (
	AttnIn  Input = iota // after input_layernorm: input of q, k, v (width Dim)
	AttnOut              // concatenated head outputs: input of o (width QDim)
	MLPIn                // after post_attention_layernorm: input of gate, up (width Dim)
	DownIn               // silu(gate)⊙up: input of down (width HiddenDim)
)

// String names the input after the linears that read it.
func (in Input) String() string {
	switch in {
	case AttnIn:
		return "attn_in"
	case AttnOut:
		return "attn_out"
	case MLPIn:
		return "mlp_in"
	case DownIn:
		return "down_in"
	}
	return fmt.Sprintf("Input(%d)", int(in))
}

// Hook observes a linear input: x is rows×cols row-major; it must not keep x.
type Hook func(in Input, x []float32, rows, cols int)

// workspace is one block call's scratch. Buffers are pooled rather than
// owned by the Model so that concurrent Forward calls never share them. They
// only grow, and the pool usually hands the same workspace from one block
// to the next, so a forward pass of L blocks allocates them about once
// (again after a garbage collection has emptied the pool), not L times.
type workspace struct {
	xn, q, k, v, att, gate, up, out []float32
}

var workspaces = sync.Pool{New: func() any { return new(workspace) }}

func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// BlockForward applies block b in place to x, which holds nseq independent sequences of T
// tokens ((nseq·T)×Dim, positions 0..T-1 each, causal). hook may be nil.
func BlockForward(cfg *Config, b *Block, x []float32, nseq, T int, hook Hook) {
	BlockForwardContext(context.Background(), cfg, b, x, nseq, T, hook)
}

// BlockForwardContext is BlockForward that gives up when ctx is done: it
// looks at ctx between the block's stages and between the attention of one
// (sequence, head) pair and the next, so that one call over a whole
// calibration set (minutes on a large model) stops within moments. It then
// returns ctx.Err() and x holds no meaningful values.
func BlockForwardContext(ctx context.Context, cfg *Config, b *Block, x []float32, nseq, T int, hook Hook) error {
	ws := workspaces.Get().(*workspace)
	defer workspaces.Put(ws)
	return blockForward(ctx, cfg, b, x, nseq, T, nil, hook, ws)
}

// Workspace is the scratch of block forwards that a caller keeps from one
// call to the next: the pruning pipeline's calibration chunks need
// gigabytes of it at 7B (32k rows of q, k, v, gate, up…), and a pooled one
// dropped by a garbage collection would be allocated again while the old
// one is not yet freed, doubling the peak.
type Workspace struct{ ws workspace }

// BlockForward is BlockForwardContext with w's buffers (grown as needed,
// never shrunk). A Workspace serves one call at a time.
func (w *Workspace) BlockForward(ctx context.Context, cfg *Config, b *Block, x []float32, nseq, T int, hook Hook) error {
	return blockForward(ctx, cfg, b, x, nseq, T, nil, hook, &w.ws)
}

// kvSlot is where one block keeps the keys and values it attends over when
// generating incrementally: positions 0..pos-1 are filled, the T new tokens
// go to pos..pos+T-1, and blockForward then advances pos past them.
type kvSlot struct {
	k, v []float32 // positions×KVDim each, positions ≤ SeqLen
	pos  int
}

// blockForward is BlockForward with an optional KV cache. Without one the keys
// and values come from x itself and every sequence starts at position 0;
// with one there is a single sequence whose tokens start at cache.pos.
func blockForward(ctx context.Context, cfg *Config, b *Block, x []float32, nseq, T int, cache *kvSlot, hook Hook, ws *workspace) error {
	// The projections before the first look inside attention take seconds
	// on a large model: do not start them once cancelled.
	if err := ctx.Err(); err != nil {
		return err
	}
	d, qd, kvd, hd := cfg.Dim, cfg.QDim(), cfg.KVDim(), cfg.HeadDim
	n := nseq * T
	pos0, keys := 0, T
	if cache != nil {
		pos0, keys = cache.pos, cache.pos+T
	}

	ws.xn = grow(ws.xn, n*d)
	ws.q = grow(ws.q, n*qd)
	ws.att = grow(ws.att, n*qd)
	ws.out = grow(ws.out, n*d)
	ws.gate = grow(ws.gate, n*cfg.HiddenDim)
	ws.up = grow(ws.up, n*cfg.HiddenDim)
	var k, v []float32
	if cache != nil {
		k = cache.k[pos0*kvd : keys*kvd]
		v = cache.v[pos0*kvd : keys*kvd]
	} else {
		ws.k = grow(ws.k, n*kvd)
		ws.v = grow(ws.v, n*kvd)
		k, v = ws.k, ws.v
	}

	// Attention. x (n,d) -> xn (n,d)
	rmsNorm(ws.xn, x, b.AttnNorm, n, d, cfg.NormEps)
	if hook != nil {
		hook(AttnIn, ws.xn, n, d)
	}
	// xn (n,d) @ Wq (qd,d)ᵀ -> q (n,qd); Wk, Wv (kvd,d) -> k, v (n,kvd)
	linalg.MatMulT(ws.q, ws.xn, n, d, b.Q.W, qd)
	linalg.MatMulT(k, ws.xn, n, d, b.K.W, kvd)
	linalg.MatMulT(v, ws.xn, n, d, b.V.W, kvd)
	if cfg.QKVBias() {
		// q (n,qd) += bq (qd,); k, v (n,kvd) += bk, bv (kvd,)
		addBias(ws.q, b.QBias, n)
		addBias(k, b.KBias, n)
		addBias(v, b.VBias, n)
	}
	if cfg.QKNorm() {
		// Each head is its own RMSNorm row: q (n·heads,hd), k (n·kvheads,hd).
		rmsNorm(ws.q, ws.q, b.QNorm, n*cfg.Heads, hd, cfg.NormEps)
		rmsNorm(k, k, b.KNorm, n*cfg.KVHeads, hd, cfg.NormEps)
	}
	rope := ropeTable(hd, cfg.RopeBase, b.RopeFreqs, keys)
	applyRoPE(ws.q, n, T, pos0, cfg.Heads, hd, rope)
	applyRoPE(k, n, T, pos0, cfg.KVHeads, hd, rope)
	if cache != nil {
		k, v = cache.k[:keys*kvd], cache.v[:keys*kvd]
		cache.pos = keys
	}
	// q (n,qd), k, v (keys,kvd) -> att (n,qd)
	attention(ctx, cfg, ws.q, ws.att, k, v, nseq, T, pos0)
	if err := ctx.Err(); err != nil {
		return err
	}
	if hook != nil {
		hook(AttnOut, ws.att, n, qd)
	}
	// att (n,qd) @ Wo (d,qd)ᵀ -> out (n,d); x += out
	linalg.MatMulT(ws.out, ws.att, n, qd, b.O.W, d)
	addInPlace(x, ws.out)

	if err := ctx.Err(); err != nil {
		return err
	}
	// MLP. x (n,d) -> xn (n,d)
	rmsNorm(ws.xn, x, b.FFNNorm, n, d, cfg.NormEps)
	if hook != nil {
		hook(MLPIn, ws.xn, n, d)
	}
	// xn (n,d) @ Wgate, Wup (h,d)ᵀ -> gate, up (n,h); gate = silu(gate)⊙up
	linalg.MatMulT(ws.gate, ws.xn, n, d, b.Gate.W, cfg.HiddenDim)
	linalg.MatMulT(ws.up, ws.xn, n, d, b.Up.W, cfg.HiddenDim)
	swiGLU(ws.gate, ws.up)
	if hook != nil {
		hook(DownIn, ws.gate, n, cfg.HiddenDim)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// gate (n,h) @ Wdown (d,h)ᵀ -> out (n,d); x += out
	linalg.MatMulT(ws.out, ws.gate, n, cfg.HiddenDim, b.Down.W, d)
	addInPlace(x, ws.out)
	return nil
}

// Embed returns the embeddings of tokens ((len)×Dim); an out-of-range id is an error.
func (m *Model) Embed(tokens []int) ([]float32, error) {
	x := make([]float32, len(tokens)*m.Config.Dim)
	if err := m.EmbedInto(x, tokens); err != nil {
		return nil, err
	}
	return x, nil
}

// EmbedInto is Embed into x, which must hold len(tokens)×Dim values.
func (m *Model) EmbedInto(x []float32, tokens []int) error {
	d, vocab := m.Config.Dim, m.Config.Vocab
	if len(m.Weights.Embed) != vocab*d {
		return fmt.Errorf("embed: table has %d floats, want vocab %d × dim %d", len(m.Weights.Embed), vocab, d)
	}
	if len(x) != len(tokens)*d {
		return fmt.Errorf("embed: %d values for %d tokens × dim %d", len(x), len(tokens), d)
	}
	return m.embedInto(x, tokens)
}

// embedInto is Embed into x (len(tokens)×Dim) for a table already checked.
func (m *Model) embedInto(x []float32, tokens []int) error {
	d, vocab := m.Config.Dim, m.Config.Vocab
	for i, t := range tokens {
		if t < 0 || t >= vocab {
			return fmt.Errorf("embed: token %d at position %d: id out of range [0, %d)", t, i, vocab)
		}
		copy(x[i*d:(i+1)*d], m.Weights.Embed[t*d:(t+1)*d])
	}
	return nil
}

// Head applies the final norm and the classifier to rows hidden states: rows×Vocab logits.
func (m *Model) Head(x []float32, rows int) []float32 {
	logits := make([]float32, rows*m.Config.Vocab)
	m.headInto(logits, x, rows)
	return logits
}

// headInto is Head into logits (rows×Vocab), with the normalised states in
// a pooled buffer: x (rows,d) -> xn (rows,d); xn @ Wcls (V,d)ᵀ -> logits (rows,V).
func (m *Model) headInto(logits, x []float32, rows int) {
	d := m.Config.Dim
	buf := stateBuffers.Get().(*[]float32)
	defer stateBuffers.Put(buf)
	*buf = grow(*buf, rows*d)
	xn := *buf
	rmsNorm(xn, x, m.Weights.FinalNorm, rows, d, m.Config.NormEps)
	linalg.MatMulT(logits, xn, rows, d, m.Weights.Classifier, m.Config.Vocab)
}

// stateBuffers holds (rows,d) scratch for the residual stream and the final
// norm between Forward calls (a sync.Pool, so concurrent calls never share).
var stateBuffers = sync.Pool{New: func() any { return new([]float32) }}

// Forward: logits ((nseq·T)×Vocab) of nseq equal-length sequences given flat tokens (nseq·T).
// Errors: len(tokens) != nseq·T, T > Config.SeqLen, bad ids.
func (m *Model) Forward(tokens []int, nseq, T int) ([]float32, error) {
	return m.ForwardContext(context.Background(), tokens, nseq, T)
}

// ForwardContext is Forward that gives up when ctx is done, returning
// ctx.Err(): one call over a full window of a large model takes minutes, so
// ctx is looked at inside every block (as in BlockForwardContext) and before
// the classifier, and a cancelled evaluation stops within moments.
func (m *Model) ForwardContext(ctx context.Context, tokens []int, nseq, T int) ([]float32, error) {
	return m.ForwardFrom(ctx, tokens, nseq, T, 0)
}

// ForwardFrom is ForwardContext returning the logits of positions from..T−1
// of each sequence only ((nseq·(T−from))×Vocab, sequence after sequence):
// llama.cpp's perplexity protocol scores the second half of each window,
// and the classifier over the first half (a quarter of a small model's
// flops at a 32k vocabulary) and its logits would be thrown away.
func (m *Model) ForwardFrom(ctx context.Context, tokens []int, nseq, T, from int) ([]float32, error) {
	if from < 0 || from >= max(T, 1) {
		return nil, fmt.Errorf("forward: logits from position %d of %d-token sequences", from, T)
	}
	// A weight shorter than the config implies would be read out of range
	// inside BLAS, a longer one silently misread.
	if err := m.checkWeights(); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	switch {
	case nseq <= 0 || T <= 0:
		return nil, fmt.Errorf("forward: %d sequences of %d tokens: both must be positive", nseq, T)
	case len(tokens) != nseq*T:
		return nil, fmt.Errorf("forward: %d tokens, want %d sequences × %d = %d", len(tokens), nseq, T, nseq*T)
	case T > m.Config.SeqLen:
		return nil, fmt.Errorf("forward: sequence length %d exceeds the context length %d", T, m.Config.SeqLen)
	}
	// The residual stream x (n,d) is scratch: only the logits leave.
	buf := stateBuffers.Get().(*[]float32)
	defer stateBuffers.Put(buf)
	*buf = grow(*buf, nseq*T*m.Config.Dim)
	x := *buf
	if err := m.embedInto(x, tokens); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	for l := range m.Weights.Blocks {
		b, release, err := m.Block(l)
		if err != nil {
			return nil, fmt.Errorf("forward: %w", err)
		}
		err = BlockForwardContext(ctx, &m.Config, b, x, nseq, T, nil)
		release()
		if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if from > 0 {
		// Rows from..T−1 of each sequence to the front of x, in order: a
		// row only ever moves to a lower index.
		d, kept := m.Config.Dim, T-from
		for k := 0; k < nseq; k++ {
			copy(x[k*kept*d:(k+1)*kept*d], x[(k*T+from)*d:(k+1)*T*d])
		}
	}
	return m.Head(x, nseq*(T-from)), nil
}
