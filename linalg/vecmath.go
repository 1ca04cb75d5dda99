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

// ProjectSplit is the fused elementwise pass of a scaled-ADMM iteration on
// the state v = B + U: with z = v⊙M (+0 where pruned) and u = v − z, it
// writes c = z − u − b and v = b + u, 8 entries at a time with AVX2 on
// amd64 (vecmath.ProjectSplit).
func ProjectSplit(v, b, c []float32, pruned []bool) { vecmath.ProjectSplit(v, b, c, pruned) }

// Projected is v, or +0 where pruned, without a branch.
func Projected(v float32, pruned bool) float32 { return vecmath.Projected(v, pruned) }

// AbsTo writes dst[i] = |src[i]|.
func AbsTo(dst, src []float32) { vecmath.AbsTo(dst, src) }

// Abs32 is |x| by its sign bit.
func Abs32(x float32) float32 { return vecmath.Abs32(x) }
