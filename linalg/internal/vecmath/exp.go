package vecmath

import "math"

// Float32 e^x by range reduction (Cephes' expf): x = n·ln2 + r with
// |r| ≤ ln2/2 (a hair more when v·log2e rounds the other way), e^r by a
// degree-7 polynomial, and 2ⁿ added to the result's exponent bits. Within
// 2 ulp of the exact value over the whole normal range.
const (
	expLog2e = 1.44269504088896341
	expLn2Hi = 0.693359375 // ln 2 in two parts, so n·expLn2Hi is exact for |n| < 2¹⁵
	expLn2Lo = -2.12194440e-4
	// expRound is 1.5·2²³: adding it to |z| < 2²² rounds z to an integer
	// (to nearest, in the FPU's mode) that sits in the low mantissa bits.
	expRound     = 12582912
	expRoundBits = 0x4B400000 // math.Float32bits(expRound)

	// ExpMax is the largest v with a finite float32 e^v; above it ExpShift
	// gives +Inf.
	ExpMax = 88.72283
	// ExpFlush is where ExpShift flushes to zero: e^v for v < ExpFlush
	// (≈ 1.8e-35) is 0. Such terms only ever weigh against terms near 1
	// (a softmax's maximum, SwiGLU's 1 + e^−g), and once scaled by a
	// softmax's 1/sum they would be subnormal, which x86 multiplies dozens
	// of times more slowly.
	ExpFlush = -80
)

// ExpShift replaces every x[i] by e^(x[i]−shift) in float32 and returns
// their sum. Each result is within 2 ulp of the exact value; below ExpFlush
// it is 0, above ExpMax +Inf, and NaN stays NaN.
//
// It works on slices so that no call sits in the inner loop (a scalar exp
// is too large for Go to inline), and the loop body has no data-dependent
// branch on its main path: rounding is the add-and-subtract of 1.5·2²³,
// the power of two an integer add into the exponent bits, and the rare
// out-of-range inputs take a branch the predictor learns. Iterations are
// independent but for the sum, so the CPU overlaps several of them. The sum
// is kept in float64: a float32 one drifts by 1e-5 relative over a 32000-
// token vocabulary, and the conversion costs one instruction.
//
// On amd64 with AVX2 and FMA, an assembly loop does the same 8 elements at
// a time (5–10× faster than the scalar Go loop, measured), and the Go
// loop does the last len(x)%8. The two agree within their 2 ulp each.
func ExpShift(x []float32, shift float32) float32 {
	done, sum := expShiftSIMD(x, shift)
	return float32(sum + expShiftGo(x[done:], shift))
}

// expShiftGo is ExpShift in Go, returning the sum in float64.
func expShiftGo(x []float32, shift float32) float64 {
	var sum float64
	for i, e := range x {
		v := e - shift
		if !(v >= ExpFlush && v <= ExpMax) {
			y := expOut(v)
			x[i] = y
			sum += float64(y)
			continue
		}
		z := v*expLog2e + expRound
		nb := math.Float32bits(z) - expRoundBits // n in two's complement
		fn := z - expRound
		r := v - fn*expLn2Hi - fn*expLn2Lo
		r2 := r * r
		// Cephes' coefficients, evaluated in halves (Estrin) so that the
		// dependency chain is shorter than Horner's.
		hi := (1.9875691500e-4*r+1.3981999507e-3)*r2 + (8.3334519073e-3*r + 4.1665795894e-2)
		lo := 1.6666665459e-1*r + 5.0000001201e-1
		p := (hi*r2+lo)*r2 + r + 1
		// p ∈ [0.7, 1.42] and n ∈ [−115, 128]: the sum of exponents stays
		// in the normal range (n = 128 only with r < 0, where p < 1).
		y := math.Float32frombits(math.Float32bits(p) + nb<<23)
		x[i] = y
		sum += float64(y)
	}
	return sum
}

// Exp32 is e^v in float32 with ExpShift's accuracy and limits.
func Exp32(v float32) float32 {
	x := [1]float32{v}
	ExpShift(x[:], 0)
	return x[0]
}

// expOut is exp1 outside [ExpFlush, ExpMax], and NaN.
func expOut(v float32) float32 {
	switch {
	case v > ExpMax:
		return float32(math.Inf(1))
	case v < ExpFlush:
		return 0
	}
	return v // NaN
}

// MaxOf is the largest element of a non-empty x. With a NaN in x the result
// may be NaN or the largest of the other elements.
func MaxOf(x []float32) float32 {
	done, m := maxSIMD(x)
	if done == 0 {
		m = x[0]
	}
	return max(m, maxGo(x[done:], m))
}

// maxGo is the largest of m and the elements of x, with four running maxima
// so that the compares do not wait on each other.
func maxGo(x []float32, m float32) float32 {
	m0, m1, m2, m3 := m, m, m, m
	i := 0
	for ; i+4 <= len(x); i += 4 {
		e := x[i : i+4 : i+4]
		if e[0] > m0 {
			m0 = e[0]
		}
		if e[1] > m1 {
			m1 = e[1]
		}
		if e[2] > m2 {
			m2 = e[2]
		}
		if e[3] > m3 {
			m3 = e[3]
		}
	}
	for ; i < len(x); i++ {
		if x[i] > m0 {
			m0 = x[i]
		}
	}
	return max(m0, m1, m2, m3)
}
