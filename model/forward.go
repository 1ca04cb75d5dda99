package model

import (
	"context"
	"fmt"
	"math"
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
// owned by the Model so that concurrent Forward calls never share them.
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
	blockForward(context.Background(), cfg, b, x, nseq, T, nil, hook)
}

// BlockForwardContext is BlockForward that gives up when ctx is done: it
// looks at ctx between the block's stages and between the attention of one
// (sequence, head) pair and the next, so that one call over a whole
// calibration set (minutes on a large model) stops within moments. It then
// returns ctx.Err() and x holds no meaningful values.
func BlockForwardContext(ctx context.Context, cfg *Config, b *Block, x []float32, nseq, T int, hook Hook) error {
	return blockForward(ctx, cfg, b, x, nseq, T, nil, hook)
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
func blockForward(ctx context.Context, cfg *Config, b *Block, x []float32, nseq, T int, cache *kvSlot, hook Hook) error {
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

	ws := workspaces.Get().(*workspace)
	defer workspaces.Put(ws)
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

	rmsNorm(ws.xn, x, b.AttnNorm, n, d, cfg.NormEps)
	if hook != nil {
		hook(AttnIn, ws.xn, n, d)
	}
	linalg.MatMulT(ws.q, ws.xn, n, d, b.Q.W, qd)
	linalg.MatMulT(k, ws.xn, n, d, b.K.W, kvd)
	linalg.MatMulT(v, ws.xn, n, d, b.V.W, kvd)
	rope := ropeTable(hd, cfg.RopeBase, keys)
	applyRoPE(ws.q, n, T, pos0, cfg.Heads, hd, rope)
	applyRoPE(k, n, T, pos0, cfg.KVHeads, hd, rope)
	if cache != nil {
		k, v = cache.k[:keys*kvd], cache.v[:keys*kvd]
		cache.pos = keys
	}
	attention(ctx, cfg, ws, k, v, nseq, T, pos0)
	if err := ctx.Err(); err != nil {
		return err
	}
	if hook != nil {
		hook(AttnOut, ws.att, n, qd)
	}
	linalg.MatMulT(ws.out, ws.att, n, qd, b.O.W, d)
	addInPlace(x, ws.out)

	if err := ctx.Err(); err != nil {
		return err
	}
	rmsNorm(ws.xn, x, b.FFNNorm, n, d, cfg.NormEps)
	if hook != nil {
		hook(MLPIn, ws.xn, n, d)
	}
	linalg.MatMulT(ws.gate, ws.xn, n, d, b.Gate.W, cfg.HiddenDim)
	linalg.MatMulT(ws.up, ws.xn, n, d, b.Up.W, cfg.HiddenDim)
	swiGLU(ws.gate, ws.up)
	if hook != nil {
		hook(DownIn, ws.gate, n, cfg.HiddenDim)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	linalg.MatMulT(ws.out, ws.gate, n, cfg.HiddenDim, b.Down.W, d)
	addInPlace(x, ws.out)
	return nil
}

// rmsNorm writes x/sqrt(mean(x²)+eps)·g row by row. The mean of squares is
// accumulated in float64: at widths of several thousand a float32 sum loses
// digits the float64 reference keeps, and the cost is one pass per row.
func rmsNorm(dst, x, g []float32, rows, d int, eps float64) {
	linalg.ParallelFor(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, dr := x[r*d:(r+1)*d], dst[r*d:(r+1)*d]
			var ss float64
			for _, e := range xr {
				ss += float64(e) * float64(e)
			}
			inv := float32(1 / math.Sqrt(ss/float64(d)+eps))
			for i, e := range xr {
				dr[i] = e * inv * g[i]
			}
		}
	})
}

func addInPlace(x, y []float32) {
	linalg.ParallelFor(len(x), func(lo, hi int) {
		xs, ys := x[lo:hi], y[lo:hi]
		for i := range xs {
			xs[i] += ys[i]
		}
	})
}

// swiGLU overwrites gate with silu(gate)⊙up.
func swiGLU(gate, up []float32) {
	linalg.ParallelFor(len(gate), func(lo, hi int) {
		var e [256]float32
		for c := lo; c < hi; c += len(e) {
			g := gate[c:min(c+len(e), hi)]
			u, ec := up[c:], e[:len(g)]
			for i, a := range g {
				ec[i] = -a
			}
			expShift(ec, 0)
			for i, a := range g {
				g[i] = a / (1 + ec[i]) * u[i]
			}
		}
	})
}

// ropeKey identifies a RoPE table; tables depend on nothing else.
type ropeKey struct {
	hd   int
	base float64
}

var (
	ropeMu     sync.Mutex
	ropeTables = map[ropeKey][]float32{}
)

// ropeTable returns cos and sin of pos·θ_i, θ_i = base^(−2i/hd), interleaved
// as [pos][i][cos, sin] for at least npos positions. The angles are formed in
// float64 and only the results rounded, so position 4000 is as accurate as
// position 1. A table is replaced, never written, when it must grow, so
// callers may keep the slice they got.
//
// The table covers the positions actually used, never the declared context
// length: a config may claim 10⁸ positions while the work needs 64. It grows
// to at least twice its old size, so decoding one position at a time costs
// O(log n) rebuilds rather than n.
func ropeTable(hd int, base float64, npos int) []float32 {
	key := ropeKey{hd, base}
	half := hd / 2
	ropeMu.Lock()
	defer ropeMu.Unlock()
	old := ropeTables[key]
	if len(old) >= npos*hd {
		return old
	}
	npos = max(npos, 2*len(old)/hd)
	t := make([]float32, npos*hd)
	for i := range half {
		theta := math.Pow(base, -2*float64(i)/float64(hd))
		for p := range npos {
			s, c := math.Sincos(float64(p) * theta)
			t[(p*half+i)*2] = float32(c)
			t[(p*half+i)*2+1] = float32(s)
		}
	}
	ropeTables[key] = t
	return t
}

// applyRoPE rotates the adjacent pairs (x[2i], x[2i+1]) of every head of
// every row; row r holds token r%T of its sequence, at position pos0+r%T.
func applyRoPE(x []float32, rows, T, pos0, heads, hd int, tab []float32) {
	width := heads * hd
	linalg.ParallelFor(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			cs := tab[(pos0+r%T)*hd : (pos0+r%T+1)*hd]
			row := x[r*width : (r+1)*width]
			for h := 0; h < width; h += hd {
				head := row[h : h+hd]
				for i := 0; i < hd; i += 2 {
					c, s := cs[i], cs[i+1]
					x0, x1 := head[i], head[i+1]
					head[i] = x0*c - x1*s
					head[i+1] = x0*s + x1*c
				}
			}
		}
	})
}

// attnBlock is how many query rows share one score product. Row block
// [r0, r1) sees only keys 0..pos0+r1−1, so blocking skips most of the
// causally masked half of the T×T scores, and it bounds each score buffer to
// attnBlock×keys.
const attnBlock = 128

// attention fills ws.att (rows × QDim) from the rotated queries ws.q and the
// keys and values k, v. The (sequence, head) pairs are shared among the
// cores; each runs its row blocks with its own score buffer.
func attention(ctx context.Context, cfg *Config, ws *workspace, k, v []float32, nseq, T, pos0 int) {
	qd, kvd, hd := cfg.QDim(), cfg.KVDim(), cfg.HeadDim
	group := cfg.Heads / cfg.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	linalg.ParallelFor(nseq*cfg.Heads, func(lo, hi int) {
		buf := scoreBuffers.Get().(*[]float32)
		defer scoreBuffers.Put(buf)
		*buf = grow(*buf, min(T, attnBlock)*(pos0+T))
		s := *buf
		for u := lo; u < hi; u++ {
			if ctx.Err() != nil {
				return // the caller reports it
			}
			seq, h := u/cfg.Heads, u%cfg.Heads
			kh := k[seq*T*kvd+(h/group)*hd:]
			vh := v[seq*T*kvd+(h/group)*hd:]
			for r0 := 0; r0 < T; r0 += attnBlock {
				rows := min(attnBlock, T-r0)
				keys := pos0 + r0 + rows
				q := ws.q[(seq*T+r0)*qd+h*hd:]
				linalg.Sgemm(false, true, rows, keys, hd, scale, q, qd, kh, kvd, 0, s, keys)
				// Row t sees keys up to its own position, pos0+r0+t; the rest
				// are zeroed so the product with V ignores them.
				for t := range rows {
					row := s[t*keys : (t+1)*keys]
					softmax(row[:pos0+r0+t+1])
					clear(row[pos0+r0+t+1:])
				}
				linalg.Sgemm(false, false, rows, hd, keys, 1, s, keys, vh, kvd, 0, ws.att[(seq*T+r0)*qd+h*hd:], qd)
			}
		}
	})
}

var scoreBuffers = sync.Pool{New: func() any { return new([]float32) }}

// softmax normalises x in place, shifting by the maximum for stability.
func softmax(x []float32) {
	m := x[0]
	for _, e := range x[1:] {
		m = max(m, e)
	}
	inv := 1 / expShift(x, m)
	for i := range x {
		x[i] *= inv
	}
}

// expShift replaces every x[i] by e^(x[i]−shift) in float32 and returns
// their sum (Cephes' expf: x = n·ln2 + r with |r| ≤ ln2/2, a degree-7
// polynomial for e^r, n put in the exponent bits), within 2 ulp of the exact
// value. Softmax and SwiGLU spend most of the forward's non-BLAS time here,
// so it works on slices: a scalar function is too large for Go to inline,
// and the call in the inner loop cost a third of the softmax. Results below
// e⁻⁸⁰ are flushed to zero: they only ever weigh against terms near 1, and
// once scaled by a softmax's 1/sum they would be subnormal, which x86
// multiplies dozens of times more slowly.
func expShift(x []float32, shift float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2Hi = 0.693359375 // ln 2 in two parts, so n·ln2Hi is exact
		ln2Lo = -2.12194440e-4
	)
	var s0, s1 float32 // two chains, so consecutive adds need not wait
	for i, e := range x {
		v := e - shift
		var y float32
		switch {
		case v > 88.72283:
			y = float32(math.Inf(1))
		case v < -80:
			y = 0
		case v != v: // NaN
			y = v
		default:
			// Round v·log2e to nearest by truncating a value shifted half
			// a unit away from zero (math.Floor goes through float64).
			z := v * log2e
			var n int32
			if z >= 0 {
				n = int32(z + 0.5)
			} else {
				n = int32(z - 0.5)
			}
			fn := float32(n)
			r := v - fn*ln2Hi - fn*ln2Lo
			p := ((((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+
				1.6666665459e-1)*r+5.0000001201e-1)*r*r + r + 1)
			// n spans −115..128, and 2¹²⁸ is not a float32.
			if n > 127 {
				p, n = 2*p, n-1
			}
			y = p * pow2(n)
		}
		x[i] = y
		if i&1 == 0 {
			s0 += y
		} else {
			s1 += y
		}
	}
	return s0 + s1
}

// pow2 is 2^n for a normal-range exponent n.
func pow2(n int32) float32 { return math.Float32frombits(uint32(n+127) << 23) }

// Embed returns the embeddings of tokens ((len)×Dim); an out-of-range id is an error.
func (m *Model) Embed(tokens []int) ([]float32, error) {
	d, vocab := m.Config.Dim, m.Config.Vocab
	if len(m.Weights.Embed) != vocab*d {
		return nil, fmt.Errorf("embed: table has %d floats, want vocab %d × dim %d", len(m.Weights.Embed), vocab, d)
	}
	x := make([]float32, len(tokens)*d)
	for i, t := range tokens {
		if t < 0 || t >= vocab {
			return nil, fmt.Errorf("embed: token %d at position %d: id out of range [0, %d)", t, i, vocab)
		}
		copy(x[i*d:(i+1)*d], m.Weights.Embed[t*d:(t+1)*d])
	}
	return x, nil
}

// Head applies the final norm and the classifier to rows hidden states: rows×Vocab logits.
func (m *Model) Head(x []float32, rows int) []float32 {
	d := m.Config.Dim
	xn := make([]float32, rows*d)
	rmsNorm(xn, x, m.Weights.FinalNorm, rows, d, m.Config.NormEps)
	logits := make([]float32, rows*m.Config.Vocab)
	linalg.MatMulT(logits, xn, rows, d, m.Weights.Classifier, m.Config.Vocab)
	return logits
}

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
	// A weight shorter than the config implies would be read out of range
	// inside BLAS, a longer one silently misread.
	if err := checkWeights(&m.Config, &m.Weights); err != nil {
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
	x, err := m.Embed(tokens)
	if err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	for l := range m.Weights.Blocks {
		if err := blockForward(ctx, &m.Config, &m.Weights.Blocks[l], x, nseq, T, nil, nil); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.Head(x, nseq*T), nil
}
