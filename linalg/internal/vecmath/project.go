package vecmath

import "math"

// ProjectSplit is the fused elementwise pass of a scaled-ADMM iteration
// whose state is v = B + U (prune's W layout, pruned[i] true where the
// mask prunes). For each i, with x = v[i], z = x⊙M (x where kept, +0
// where pruned) and u = x − z:
//
//	c[i] = z − u − b[i]  the next product's left side, Z − U − B₀
//	v[i] = b[i] + u      B₀ + U, which the product then accumulates onto
//
// v, b, c and pruned have one length. On amd64 with AVX2 assembly does 8
// entries at a time and the Go loop the last len%8, with the same
// arithmetic, so both give the same bits.
func ProjectSplit(v, b, c []float32, pruned []bool) {
	n := len(v)
	b, c, pruned = b[:n], c[:n], pruned[:n]
	done := projectSplitSIMD(v, b, c, pruned)
	projectSplitGo(v[done:], b[done:], c[done:], pruned[done:])
}

// projectSplitGo is ProjectSplit's Go loop; the slices have one length.
func projectSplitGo(v, b, c []float32, pruned []bool) {
	b, c, pruned = b[:len(v)], c[:len(v)], pruned[:len(v)]
	for i, x := range v {
		z := Projected(x, pruned[i])
		u := x - z
		c[i] = z - u - b[i]
		v[i] = b[i] + u
	}
}

// Projected is v, or +0 where pruned: v⊙M without a branch. Masks are
// random at the bit level (60% pruned, say), and a branch on them
// mispredicts so often that the pass written with one took 3.7× as long
// as projectSplitGo (BenchmarkProjectSplit: 82–84 against 22–23 ms).
func Projected(v float32, pruned bool) float32 {
	var drop uint32
	if pruned {
		drop = 1
	}
	return math.Float32frombits(math.Float32bits(v) & (drop - 1))
}

// AbsTo writes dst[i] = |src[i]| (the sign bit cleared, so NaN stays
// NaN); dst and src have one length.
func AbsTo(dst, src []float32) {
	dst = dst[:len(src)]
	done := absToSIMD(dst, src)
	absToGo(dst[done:], src[done:])
}

func absToGo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, x := range src {
		dst[i] = Abs32(x)
	}
}

// Abs32 is |x| by its sign bit.
func Abs32(x float32) float32 {
	return math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
}
