package model

import (
	"context"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/prunebench/prunebench/linalg"
)

// The forward pass's kernels other than the linear layers' GEMMs. Each one
// shares its rows (or its (sequence, head) pairs) among the cores with
// linalg.ParallelFor, reuses pooled scratch rather than allocating, and has
// a naive twin in kernels_test.go that the tests compare it with.
//
// Shapes are written as in llama2.c's run.c: "W (d,n) @ x (n,) -> xout (d,)";
// n is the number of rows in a batch (nseq·T), d the model width.

// rmsNorm writes x/sqrt(mean(x²)+eps)·g row by row:
// x (rows,d), g (d,) -> dst (rows,d). The mean of squares is accumulated in
// float64: at widths of several thousand a float32 sum loses digits the
// float64 reference keeps, and the cost is one pass per row. Four partial
// sums keep the adds from waiting on each other.
func rmsNorm(dst, x, g []float32, rows, d int, eps float64) {
	g = g[:d]
	linalg.ParallelFor(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, dr := x[r*d:(r+1)*d], dst[r*d:(r+1)*d]
			var s0, s1, s2, s3 float64
			i := 0
			for ; i+4 <= d; i += 4 {
				e := xr[i : i+4 : i+4]
				s0 += float64(e[0]) * float64(e[0])
				s1 += float64(e[1]) * float64(e[1])
				s2 += float64(e[2]) * float64(e[2])
				s3 += float64(e[3]) * float64(e[3])
			}
			for ; i < d; i++ {
				s0 += float64(xr[i]) * float64(xr[i])
			}
			ss := (s0 + s1) + (s2 + s3)
			inv := float32(1 / math.Sqrt(ss/float64(d)+eps))
			for i, e := range xr {
				dr[i] = e * inv * g[i]
			}
		}
	})
}

// addInPlace is the residual connection: x (n,d) += y (n,d).
func addInPlace(x, y []float32) {
	y = y[:len(x)]
	linalg.ParallelFor(len(x), func(lo, hi int) {
		xs, ys := x[lo:hi], y[lo:hi:hi]
		for i := range xs {
			xs[i] += ys[i]
		}
	})
}

// swiGLU overwrites gate with silu(gate)⊙up = gate·up/(1+e^−gate):
// gate (n,h), up (n,h) -> gate (n,h). The exponentials go through
// linalg.ExpShift a stack chunk at a time.
func swiGLU(gate, up []float32) {
	up = up[:len(gate)]
	linalg.ParallelFor(len(gate), func(lo, hi int) {
		var e [256]float32
		for c := lo; c < hi; c += len(e) {
			g := gate[c:min(c+len(e), hi)]
			u, ec := up[c:c+len(g)], e[:len(g)]
			for i, a := range g {
				ec[i] = -a
			}
			linalg.ExpShift(ec, 0)
			for i, a := range g {
				g[i] = a / (1 + ec[i]) * u[i]
			}
		}
	})
}

// addBias adds bias to every row: x (rows, len(bias)) += bias.
func addBias(x, bias []float32, rows int) {
	w := len(bias)
	linalg.ParallelFor(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := x[r*w : (r+1)*w : (r+1)*w]
			for i, b := range bias {
				row[i] += b
			}
		}
	})
}

// applyRoPE rotates the adjacent pairs (x[2i], x[2i+1]) of every head of
// every row: x (rows, heads·hd) in place, row r holding token r%T of its
// sequence at position pos0+r%T, with tab from ropeTable.
func applyRoPE(x []float32, rows, T, pos0, heads, hd int, tab []float32) {
	width := heads * hd
	linalg.ParallelFor(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			p := pos0 + r%T
			cs := tab[p*hd : (p+1)*hd : (p+1)*hd]
			row := x[r*width : (r+1)*width]
			for h := 0; h < width; h += hd {
				head := row[h : h+hd : h+hd]
				for i := 0; i+1 < len(cs); i += 2 {
					c, s := cs[i], cs[i+1]
					x0, x1 := head[i], head[i+1]
					head[i] = x0*c - x1*s
					head[i+1] = x0*s + x1*c
				}
			}
		}
	})
}

// ropeShape and the divisors' bytes identify a RoPE table; tables depend
// on nothing else.
type ropeShape struct {
	hd   int
	base float64
}

var (
	ropeMu sync.Mutex
	// ropeTables holds per shape the tables by their divisors' bytes
	// ("" for none), so that a lookup, made at every block forward,
	// converts no key: m[string(b)] does not allocate.
	ropeTables = map[ropeShape]map[string][]float32{}
)

// ropeTable returns cos and sin of pos·θ_i, θ_i = base^(−2i/hd)/freqs[i]
// (freqs nil: no divisors), interleaved as [pos][i][cos, sin] for at least
// npos positions. The angles are formed in float64 and only the results
// rounded, so position 4000 is as accurate as position 1. A table is
// replaced, never written, when it must grow, so callers may keep the slice
// they got.
//
// The table covers the positions actually used, never the declared context
// length: a config may claim 10⁸ positions while the work needs 64. It grows
// to at least twice its old size, so decoding one position at a time costs
// O(log n) rebuilds rather than n.
func ropeTable(hd int, base float64, freqs []float32, npos int) []float32 {
	// The divisors' memory as bytes, not a copy.
	key := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(freqs))), 4*len(freqs))
	shape := ropeShape{hd, base}
	half := hd / 2
	ropeMu.Lock()
	defer ropeMu.Unlock()
	byFreqs := ropeTables[shape]
	old := byFreqs[string(key)]
	if len(old) >= npos*hd {
		return old
	}
	npos = max(npos, 2*len(old)/hd)
	t := make([]float32, npos*hd)
	for i := range half {
		theta := math.Pow(base, -2*float64(i)/float64(hd))
		if freqs != nil {
			theta /= float64(freqs[i])
		}
		for p := range npos {
			s, c := math.Sincos(float64(p) * theta)
			t[(p*half+i)*2] = float32(c)
			t[(p*half+i)*2+1] = float32(s)
		}
	}
	if byFreqs == nil {
		byFreqs = map[string][]float32{}
		ropeTables[shape] = byFreqs
	}
	byFreqs[string(key)] = t
	return t
}

// attnBlock is how many query rows share one score product. Row block
// [r0, r1) sees only keys 0..pos0+r1−1, so blocking skips most of the
// causally masked half of the T×T scores, and it bounds each score buffer to
// attnBlock×keys.
const attnBlock = 128

// attention fills att (rows × QDim) from the rotated queries q (rows × QDim)
// and the keys and values k, v (positions × KVDim). A query at position p
// sees the keys at p−W+1..p with a sliding window W (Config.SlidingWindow),
// else 0..p; a row block's products cover only the keys some row of it
// sees. The (sequence, head)
// pairs are shared among the cores; each core runs its pairs one after the
// other, looking at ctx before each, with its own score buffer and its
// products on itself (linalg.SgemmSerial). Per pair and
// block of query rows:
//
//	S (rows,keys) = Q_h (rows,hd) @ K_h (keys,hd)ᵀ / sqrt(hd)
//	P (rows,keys) = exp(S − rowmax S), causal part only, rest 0
//	O_h (rows,hd) = P @ V_h (keys,hd), then row t scaled by 1/Σ_j P[t,j]
//
// Normalising the hd outputs of a row rather than its keys probabilities
// saves one pass over the scores; it rounds differently from normalising P
// first, at the level of one float32 rounding per output.
func attention(ctx context.Context, cfg *Config, q, att, k, v []float32, nseq, T, pos0 int) {
	qd, kvd, hd := cfg.QDim(), cfg.KVDim(), cfg.HeadDim
	group := cfg.Heads / cfg.KVHeads
	window := cfg.SlidingWindow
	scale := float32(1 / math.Sqrt(float64(hd)))
	// With a pair per core or more, each core's products run on that core
	// alone: split again across cores, they would put more BLAS threads
	// than cores to work.
	gemm := linalg.Sgemm
	if nseq*cfg.Heads > 1 && runtime.GOMAXPROCS(0) > 1 {
		gemm = linalg.SgemmSerial
	}
	linalg.ParallelFor(nseq*cfg.Heads, func(lo, hi int) {
		buf := scoreBuffers.Get().(*[]float32)
		defer scoreBuffers.Put(buf)
		*buf = grow(*buf, min(T, attnBlock)*(pos0+T))
		s := *buf
		var inv [attnBlock]float32
		for u := lo; u < hi; u++ {
			if ctx.Err() != nil {
				return // the caller reports it
			}
			seq, h := u/cfg.Heads, u%cfg.Heads
			kh := k[seq*T*kvd+(h/group)*hd:]
			vh := v[seq*T*kvd+(h/group)*hd:]
			for r0 := 0; r0 < T; r0 += attnBlock {
				rows := min(attnBlock, T-r0)
				// Keys k0..end-1: from the first key row 0 sees to row
				// rows−1's own position.
				k0, end := firstKey(pos0+r0, window), pos0+r0+rows
				keys := end - k0
				qh := q[(seq*T+r0)*qd+h*hd:]
				oh := att[(seq*T+r0)*qd+h*hd:]
				// S (rows,keys) = scale · Q_h (rows,hd) @ K_h[k0:end] (keys,hd)ᵀ
				gemm(false, true, rows, keys, hd, scale, qh, qd, kh[k0*kvd:], kvd, 0, s, keys)
				// Row t sees the keys from firstKey of its position to the
				// position itself, pos0+r0+t; the rest are zeroed so the
				// product with V ignores them.
				for t := range rows {
					row := s[t*keys : (t+1)*keys]
					lo, hi := firstKey(pos0+r0+t, window)-k0, pos0+r0+t+1-k0
					seen := row[lo:hi]
					inv[t] = 1 / linalg.ExpShift(seen, maxOf(seen))
					clear(row[:lo])
					clear(row[hi:])
				}
				// O_h (rows,hd) = P (rows,keys) @ V_h[k0:end] (keys,hd)
				gemm(false, false, rows, hd, keys, 1, s, keys, vh[k0*kvd:], kvd, 0, oh, qd)
				for t := range rows {
					o := oh[t*qd : t*qd+hd]
					for i := range o {
						o[i] *= inv[t]
					}
				}
			}
		}
	})
}

// firstKey is the first key position a query at position p sees with a
// sliding window (0: none): transformers' kv > p − window.
func firstKey(p, window int) int {
	if window <= 0 {
		return 0
	}
	return max(0, p-window+1)
}

var scoreBuffers = sync.Pool{New: func() any { return new([]float32) }}

// maxOf is linalg.MaxOf: the largest element of a non-empty x.
func maxOf(x []float32) float32 { return linalg.MaxOf(x) }

// softmax normalises x in place, shifting by the maximum for stability.
func softmax(x []float32) {
	inv := 1 / linalg.ExpShift(x, maxOf(x))
	for i := range x {
		x[i] *= inv
	}
}

// expShift replaces every x[i] by e^(x[i]−shift) and returns their sum:
// linalg.ExpShift (within 2 ulp; 0 below e⁻⁸⁰, +Inf past float32's range).
func expShift(x []float32, shift float32) float32 { return linalg.ExpShift(x, shift) }
