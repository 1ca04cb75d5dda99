package vecmath

// AVX2 kernels (select_amd64.s) for ScanBracket and MaskBelow on float32,
// used under exp_amd64.go's useAVX2.

//go:noescape
func scanBracketAVX2(x *float32, n int, lo, hi float32, buf *float32) (below, inside int)

//go:noescape
func maskBelowAVX2(x *float32, n int, t float32, mask *bool) (equal int)

// simdPiece bounds one kernel call: the kernels count in int32 lanes.
const simdPiece = 1 << 30

func scanBracketSIMD(x []float32, lo, hi float32, buf []float32) (done, below, inside int) {
	if !useAVX2 {
		return 0, 0, 0
	}
	for len(x)-done >= 8 {
		n := min(len(x)-done, simdPiece) &^ 7
		b := buf[inside : inside+n] // the kernel writes at most n ranks
		bl, in := scanBracketAVX2(&x[done], n, lo, hi, &b[0])
		done, below, inside = done+n, below+bl, inside+in
	}
	return done, below, inside
}

func maskBelowSIMD(x []float32, t float32, mask []bool) (done, equal int) {
	if !useAVX2 {
		return 0, 0
	}
	for len(x)-done >= 8 {
		n := min(len(x)-done, simdPiece) &^ 7
		m := mask[done : done+n]
		equal += maskBelowAVX2(&x[done], n, t, &m[0])
		done += n
	}
	return done, equal
}
