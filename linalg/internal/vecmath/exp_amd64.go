package vecmath

// AVX2 kernels (exp_amd64.s) for ExpShift and MaxOf, used when the CPU has
// AVX2 and FMA and the OS saves the YMM registers; the pure Go loops
// otherwise, and for the tails shorter than 8.

//go:noescape
func expShiftAVX2(x *float32, n int, shift float32) float64

//go:noescape
func maxAVX2(x *float32, n int) float32

func cpuid(leaf, sub uint32) (a, b, c, d uint32)

func xgetbv0() uint32

// useAVX2 is whether the AVX2 kernels run; tests switch it off to check
// the pure Go path on the same machine.
var useAVX2 = hasAVX2FMA()

func hasAVX2FMA() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, c, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if c&fma == 0 || c&osxsave == 0 || c&avx == 0 {
		return false
	}
	if xgetbv0()&6 != 6 { // the OS saves XMM and YMM state
		return false
	}
	_, b, _, _ := cpuid(7, 0)
	return b&(1<<5) != 0
}

func expShiftSIMD(x []float32, shift float32) (done int, sum float64) {
	if !useAVX2 || len(x) < 8 {
		return 0, 0
	}
	n := len(x) &^ 7
	return n, expShiftAVX2(&x[0], n, shift)
}

func maxSIMD(x []float32) (done int, m float32) {
	if !useAVX2 || len(x) < 8 {
		return 0, 0
	}
	n := len(x) &^ 7
	return n, maxAVX2(&x[0], n)
}
