package vecmath

import "math"

// Float is the element type of the selection scans.
type Float interface{ float32 | float64 }

// The selection scans below are the two passes of a parallel k-smallest
// selection (prune's per-matrix mask), over one chunk of scores each.
// Both rank a score as itself, or −Inf when it is NaN: a NaN score is
// pruned first, as the sequential selection orders it.
//
// The Go loops walk the two halves of their chunk in step: two streams of
// loads in flight instead of one took a 4096² selection from 60 to 44 ms
// (prune's BenchmarkSelectPerMatrix); they have no call and no data-
// dependent branch inside. On amd64 with AVX2, assembly does the float32
// scans 8 scores at a time and the Go loop the last len%8.

// ScanBracket returns how many of the scores rank below lo, and writes the
// ranks inside [lo, hi] to the front of buf (len(buf) ≥ len(scores)), in no
// particular order, returning their count.
func ScanBracket[F Float](scores []F, lo, hi F, buf []F) (below, inside int) {
	if s, ok := any(scores).([]float32); ok {
		done, b, in := scanBracketSIMD(s, float32(lo), float32(hi), any(buf).([]float32))
		below, inside = b, in
		scores = scores[done:]
	}
	b, in := scanBracketGo(scores, lo, hi, buf[inside:])
	return below + b, inside + in
}

// scanBracketGo is ScanBracket's Go loop. The copy is unconditional and
// only the count moves: r < lo and r > hi each hold for a random part of
// the scores, so a branch on them would mispredict often.
func scanBracketGo[F Float](scores []F, lo, hi F, buf []F) (below, inside int) {
	h := len(scores) / 2
	a, b := scores[:h], scores[h:2*h]
	buf = buf[:len(scores)]
	for i := range a {
		ra, rb := rank(a[i]), rank(b[i])
		ba, bb := b2i(ra < lo), b2i(rb < lo)
		below += ba + bb
		buf[inside] = ra
		inside += 1 - (ba | b2i(ra > hi))
		buf[inside] = rb
		inside += 1 - (bb | b2i(rb > hi))
	}
	if len(scores)%2 == 1 {
		r := rank(scores[len(scores)-1])
		bl := b2i(r < lo)
		below += bl
		buf[inside] = r
		inside += 1 - (bl | b2i(r > hi))
	}
	return below, inside
}

// MaskBelow writes mask[i] = rank(scores[i]) < t and returns how many
// ranks equal t.
func MaskBelow[F Float](scores []F, t F, mask []bool) (equal int) {
	if s, ok := any(scores).([]float32); ok {
		done, eq := maskBelowSIMD(s, float32(t), mask)
		equal = eq
		scores, mask = scores[done:], mask[done:]
	}
	return equal + maskBelowGo(scores, t, mask)
}

// maskBelowGo is MaskBelow's Go loop.
func maskBelowGo[F Float](scores []F, t F, mask []bool) (equal int) {
	h := len(scores) / 2
	a, b := scores[:h], scores[h:2*h]
	ma, mb := mask[:h], mask[h:2*h]
	for i := range a {
		ra, rb := rank(a[i]), rank(b[i])
		ma[i], mb[i] = ra < t, rb < t
		equal += b2i(ra == t) + b2i(rb == t)
	}
	if len(scores)%2 == 1 {
		r := rank(scores[len(scores)-1])
		mask[len(scores)-1] = r < t
		equal += b2i(r == t)
	}
	return equal
}

// rank is s, or −Inf for NaN.
func rank[F Float](s F) F {
	if s != s {
		return F(math.Inf(-1))
	}
	return s
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
