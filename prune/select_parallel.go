package prune

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prunebench/prunebench/linalg"
)

// parallelMin is the number of scores below which a per-matrix selection
// stays sequential: goroutines and the sample cost more than they save.
// A variable so that tests can run the parallel path on small inputs.
var parallelMin = 1 << 16

// selectChunks is how many contiguous pieces the parallel selection cuts
// the scores into. It is fixed, not the core count, so that the work (and
// the result, which is unique anyway) does not depend on GOMAXPROCS.
const selectChunks = 256

// sampleSize is how many evenly spaced scores bracket the k-th smallest.
const sampleSize = 1 << 14

// pruneSmallestParallel is pruneSmallest on all cores, writing all of mask:
// the same k smallest, ties by index (what TestParallelSelectionMatches
// checks against the sequential twin). A sorted sample of the scores
// brackets the k-th smallest in [lo, hi]; one parallel pass counts the
// scores below lo and gathers those inside the bracket, whose quickselect
// gives the threshold t; a second pass prunes every score below t and
// counts those equal to t per chunk, and the first k−below of the equal
// ones, in index order, are pruned last. When the sample misses (the k-th
// smallest is outside the bracket), the sequential selection runs.
//
// A bracket of one value (lo = hi) means the k-th smallest very probably
// ties with a large share of the scores (a matrix already pruned, scored
// again: 60% exact zeros), and gathering them all cost 5× a selection
// without ties; then t = lo and the second pass also counts the scores
// below it, which is how the bracket is checked there.
func pruneSmallestParallel[F Float](scores []F, k int, mask Mask) {
	n := len(scores)
	k = min(k, n)
	if k <= 0 || k == n || n < parallelMin || runtime.GOMAXPROCS(0) == 1 {
		clear(mask[:n])
		if k == n {
			for i := range mask[:n] {
				mask[i] = true
			}
			return
		}
		if k > 0 {
			pruneSmallest(scores, k, mask, make([]F, n))
		}
		return
	}
	lo, hi := bracket(scores, k)
	chunk := (n + selectChunks - 1) / selectChunks
	nc := (n + chunk - 1) / chunk
	t, nLess := lo, 0
	if lo != hi {
		var ok bool
		if t, nLess, ok = thresholdInBracket(scores, k, lo, hi, chunk, nc); !ok {
			selectFallback(scores, k, mask)
			return
		}
	}

	// Pass 2: prune below t, count the ties per chunk (and, at a one-value
	// bracket, the scores below t).
	var equal, below [selectChunks]int
	linalg.ParallelFor(nc, func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			end := min((c+1)*chunk, n)
			equal[c] = linalg.MaskBelow(scores[c*chunk:end], t, mask[c*chunk:end])
			if lo == hi {
				for _, m := range mask[c*chunk : end] {
					below[c] += b2i(m)
				}
			}
		}
	})
	if lo == hi {
		nEqual := 0
		for c := 0; c < nc; c++ {
			nLess += below[c]
			nEqual += equal[c]
		}
		if nLess > k-1 || nLess+nEqual <= k-1 {
			selectFallback(scores, k, mask)
			return
		}
	}
	// The ties in index order: chunk c takes quota[c] of them.
	// They fill a prefix of the chunks, which is all this pass walks:
	// with many ties, a pass over every chunk left one core all the work.
	var quota [selectChunks]int
	ties := k - nLess
	withQuota := 0
	for ; withQuota < nc && ties > 0; withQuota++ {
		quota[withQuota] = min(equal[withQuota], ties)
		ties -= quota[withQuota]
	}
	linalg.ParallelFor(withQuota, func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			q := quota[c]
			base := c * chunk
			for i := base; q > 0 && i < min(base+chunk, n); i++ {
				if rank(scores[i]) == t {
					mask[i] = true
					q--
				}
			}
		}
	})
}

// thresholdInBracket is the first pass: per chunk, the scores below lo,
// and those inside [lo, hi] gathered in any order (only their k-th
// smallest matters), whose rank gives the threshold t and the count of
// scores below it. ok is false when the k-th smallest is outside the
// bracket.
func thresholdInBracket[F Float](scores []F, k int, lo, hi F, chunk, nc int) (t F, nLess int, ok bool) {
	n := len(scores)
	var below [selectChunks]int
	var mu sync.Mutex
	var parts [][]F
	linalg.ParallelFor(nc, func(c0, c1 int) {
		var local []F
		buf := make([]F, chunk)
		for c := c0; c < c1; c++ {
			b, in := linalg.ScanBracket(scores[c*chunk:min((c+1)*chunk, n)], lo, hi, buf)
			below[c] = b
			local = append(local, buf[:in]...)
		}
		mu.Lock()
		parts = append(parts, local)
		mu.Unlock()
	})
	nBelow := 0
	for c := 0; c < nc; c++ {
		nBelow += below[c]
	}
	inside := 0
	for _, p := range parts {
		inside += len(p)
	}
	if nBelow > k-1 || nBelow+inside <= k-1 {
		return t, 0, false
	}
	t, less := kthOfParts(parts, k-1-nBelow, lo, hi)
	return t, nBelow + less, true
}

// selectFallback is the sequential selection, run when a bracket missed.
func selectFallback[F Float](scores []F, k int, mask Mask) {
	selectFallbacks.Add(1)
	clear(mask[:len(scores)])
	pruneSmallest(scores, k, mask, make([]F, len(scores)))
}

// histogramBuckets is how many linear buckets kthOfParts spreads the
// bracketed scores over: a few hundred scores a bucket at 4096².
const histogramBuckets = 1 << 12

// kthOfParts returns the r-th smallest (0-based) of the scores in parts,
// all inside [lo, hi], and how many of them are smaller, on all cores: a
// histogram over linear buckets between lo and hi (a score's bucket is
// monotone in the score) finds the bucket holding rank r, and only that
// bucket's scores are then selected among. The sequential quickselect of
// all of them was a third of a 4096² selection (BenchmarkSelectPerMatrix).
// With an infinite bound the buckets are undefined, and the quickselect
// runs.
func kthOfParts[F Float](parts [][]F, r int, lo, hi F) (t F, less int) {
	flo, fhi := float64(lo), float64(hi)
	if math.IsInf(flo, 0) || math.IsInf(fhi, 0) || !(fhi > flo) {
		cand := slices.Concat(parts...)
		t = kthSmallest(cand, r)
		for _, v := range cand {
			less += b2i(v < t)
		}
		return t, less
	}
	scale := histogramBuckets / (fhi - flo)
	bucket := func(v F) int {
		return min(max(int((float64(v)-flo)*scale), 0), histogramBuckets-1)
	}
	counts := make([][histogramBuckets]int, len(parts))
	linalg.ParallelFor(len(parts), func(p0, p1 int) {
		for p := p0; p < p1; p++ {
			for _, v := range parts[p] {
				counts[p][bucket(v)]++
			}
		}
	})
	b, before := 0, 0
	for ; b < histogramBuckets; b++ {
		c := 0
		for p := range parts {
			c += counts[p][b]
		}
		if before+c > r {
			break
		}
		before += c
	}
	var in []F
	for _, part := range parts {
		for _, v := range part {
			if bucket(v) == b {
				in = append(in, v)
			}
		}
	}
	t = kthSmallest(in, r-before)
	less = before
	for _, v := range in {
		less += b2i(v < t)
	}
	return t, less
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// selectFallbacks counts the parallel selections whose bracket missed and
// that ran sequentially (tests).
var selectFallbacks atomic.Int64

// bracket returns ranks lo ≤ hi between which the k-th smallest score
// (1-based) very probably lies, from a sorted sample of the scores: the
// sample quantile k/n widened by 4 binomial standard deviations and a
// margin, −Inf or +Inf past the sample's ends. Sample i is taken at a
// pseudo-random (but fixed) offset inside the i-th of s equal strides:
// evenly spaced samples would see only a few columns of a matrix whose
// width divides the stride, and ADMM's scores scale by column.
func bracket[F Float](scores []F, k int) (lo, hi F) {
	n := len(scores)
	s := min(n, sampleSize)
	sample := make([]F, s)
	for i := range sample {
		a, b := int64(i)*int64(n)/int64(s), int64(i+1)*int64(n)/int64(s)
		sample[i] = rank(scores[a+int64(splitmix(uint64(i))%uint64(b-a))])
	}
	slices.Sort(sample)
	q := float64(k) / float64(n)
	pos := q * float64(s)
	d := 4*math.Sqrt(float64(s)*q*(1-q)) + 16
	lo, hi = F(math.Inf(-1)), F(math.Inf(1))
	if i := int(math.Floor(pos - d)); i >= 0 {
		lo = sample[i]
	}
	if i := int(math.Ceil(pos + d)); i < s {
		hi = sample[i]
	}
	return lo, hi
}

// splitmix is SplitMix64's output function: a fixed pseudo-random offset.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
