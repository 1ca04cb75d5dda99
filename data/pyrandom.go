package data

import (
	"fmt"
	"math"
	"math/bits"
)

const (
	mtN = 624
	mtM = 397
)

// PyRandom reproduces CPython's random.Random (MT19937) bit for bit for the
// operations the papers' scripts use: seeding with a non-negative int,
// getrandbits, randbelow, randint and shuffle. Matching CPython is what makes
// the C4 calibration set (EVALUATION.md §2.1) and lm-eval's Random(42)
// document shuffle (§3.7) reproducible.
type PyRandom struct {
	mt  [mtN]uint32
	idx int
}

// NewPyRandom returns a generator in the state of random.Random(seed).
func NewPyRandom(seed uint64) *PyRandom {
	r := &PyRandom{}
	r.Seed(seed)
	return r
}

// Seed is random.seed(seed) for a non-negative int: init_by_array over the
// 32-bit chunks of seed, least significant first, and [0] for 0.
func (r *PyRandom) Seed(seed uint64) {
	key := []uint32{uint32(seed)}
	if hi := uint32(seed >> 32); hi != 0 {
		key = append(key, hi)
	}
	r.initByArray(key)
}

func (r *PyRandom) initGenrand(s uint32) {
	r.mt[0] = s
	for i := 1; i < mtN; i++ {
		r.mt[i] = 1812433253*(r.mt[i-1]^(r.mt[i-1]>>30)) + uint32(i)
	}
	r.idx = mtN
}

func (r *PyRandom) initByArray(key []uint32) {
	r.initGenrand(19650218)
	i, j := 1, 0
	for k := max(mtN, len(key)); k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * 1664525)) + key[j] + uint32(j)
		i++
		j++
		if i >= mtN {
			r.mt[0] = r.mt[mtN-1]
			i = 1
		}
		if j >= len(key) {
			j = 0
		}
	}
	for k := mtN - 1; k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * 1566083941)) - uint32(i)
		i++
		if i >= mtN {
			r.mt[0] = r.mt[mtN-1]
			i = 1
		}
	}
	r.mt[0] = 0x80000000
}

// Uint32 is genrand_uint32, the generator's 32-bit output.
func (r *PyRandom) Uint32() uint32 {
	if r.idx >= mtN {
		r.twist()
	}
	y := r.mt[r.idx]
	r.idx++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

func (r *PyRandom) twist() {
	const upper, lower, matrixA = 0x80000000, 0x7fffffff, 0x9908b0df
	for k := 0; k < mtN; k++ {
		y := (r.mt[k] & upper) | (r.mt[(k+1)%mtN] & lower)
		v := r.mt[(k+mtM)%mtN] ^ (y >> 1)
		if y&1 != 0 {
			v ^= matrixA
		}
		r.mt[k] = v
	}
	r.idx = 0
}

// Getrandbits is random.getrandbits(k) for 0 ≤ k ≤ 64. CPython fills the
// result 32 bits at a time from the least significant word, and the last
// word keeps the top bits of its draw.
func (r *PyRandom) Getrandbits(k int) (uint64, error) {
	if k < 0 || k > 64 {
		return 0, fmt.Errorf("getrandbits(%d): k must be in [0, 64]", k)
	}
	return r.bits(k), nil
}

func (r *PyRandom) bits(k int) uint64 {
	if k == 0 {
		return 0
	}
	if k <= 32 {
		return uint64(r.Uint32() >> (32 - k))
	}
	lo := uint64(r.Uint32())
	hi := uint64(r.Uint32() >> (64 - k))
	return hi<<32 | lo
}

// Randbelow is random._randbelow(n) for n ≥ 1: rejection sampling of
// getrandbits(bit_length(n)).
func (r *PyRandom) Randbelow(n uint64) (uint64, error) {
	if n == 0 {
		return 0, fmt.Errorf("randbelow(0): empty range")
	}
	return r.below(n), nil
}

func (r *PyRandom) below(n uint64) uint64 {
	k := bits.Len64(n)
	for {
		if v := r.bits(k); v < n {
			return v
		}
	}
}

// Randint is random.randint(a, b): a uniform integer in [a, b].
func (r *PyRandom) Randint(a, b int) (int, error) {
	if b < a {
		return 0, fmt.Errorf("randint(%d, %d): empty range", a, b)
	}
	span := uint64(b - a) // exact even when b−a overflows int
	if span == math.MaxUint64 {
		return 0, fmt.Errorf("randint(%d, %d): range wider than 2^64-1", a, b)
	}
	return a + int(r.below(span+1)), nil
}

// Shuffle is random.shuffle on a sequence of length n: for i from n−1 down
// to 1 it swaps elements i and randbelow(i+1). Lengths below 2 draw nothing.
func (r *PyRandom) Shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, int(r.below(uint64(i)+1)))
	}
}
