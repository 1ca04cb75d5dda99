package linalg

import "github.com/prunebench/prunebench/linalg/internal/vecmath"

// ScanBracket returns how many scores rank below lo and writes the ranks
// inside [lo, hi] to the front of buf (len(buf) ≥ len(scores)), in no
// particular order, returning their count. A score ranks as itself, or
// −Inf when it is NaN. The two passes of a parallel k-smallest selection
// are this and MaskBelow, each over a chunk; float32 runs 8 scores at a
// time with AVX2 on amd64.
func ScanBracket[F vecmath.Float](scores []F, lo, hi F, buf []F) (below, inside int) {
	return vecmath.ScanBracket(scores, lo, hi, buf)
}

// MaskBelow writes mask[i] = rank(scores[i]) < t, ranked as ScanBracket
// ranks, and returns how many ranks equal t.
func MaskBelow[F vecmath.Float](scores []F, t F, mask []bool) (equal int) {
	return vecmath.MaskBelow(scores, t, mask)
}
