package vecmath

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// selectCase is a score vector drawn from few values, so that ranks equal
// lo, hi and t often, with NaN and ±Inf among them.
func selectCase(r *rand.Rand, n int) []float32 {
	vals := []float32{float32(math.NaN()), float32(math.Inf(-1)), float32(math.Inf(1)), -2, -0.5, 0, 0.25, 0.5, 1, 3}
	x := make([]float32, n)
	for i := range x {
		if r.IntN(4) == 0 {
			x[i] = float32(r.NormFloat64())
		} else {
			x[i] = vals[r.IntN(len(vals))]
		}
	}
	return x
}

// naiveScan and naiveMask are the scans written as their doc comments
// read, one score at a time.
func naiveScan[F Float](x []F, lo, hi F) (below int, inside []F) {
	for _, v := range x {
		r := v
		if v != v {
			r = F(math.Inf(-1))
		}
		switch {
		case r < lo:
			below++
		case r <= hi:
			inside = append(inside, r)
		}
	}
	return below, inside
}

func naiveMask[F Float](x []F, t F) (mask []bool, equal int) {
	for _, v := range x {
		r := v
		if v != v {
			r = F(math.Inf(-1))
		}
		mask = append(mask, r < t)
		if r == t {
			equal++
		}
	}
	return mask, equal
}

// bounds are the (lo, hi) pairs and thresholds the tests scan with.
var bounds = [][2]float32{
	{-0.5, 0.5}, {0, 0}, {float32(math.Inf(-1)), 0.25}, {0.25, float32(math.Inf(1))},
	{float32(math.Inf(-1)), float32(math.Inf(1))}, {1, -1}, {-1, 1.5},
}

func TestScanBracketMatchesNaive(t *testing.T) { forEachPath(t, testScanBracket) }

func testScanBracket(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 64, 1001, 4096} {
		x := selectCase(r, n)
		x64 := make([]float64, n)
		for i, v := range x {
			x64[i] = float64(v)
		}
		for _, b := range bounds {
			check := func(name string, below, wantBelow int, inside, wantInside []float64) {
				t.Helper()
				slices.Sort(inside)
				slices.Sort(wantInside)
				if below != wantBelow || !slices.Equal(inside, wantInside) {
					t.Errorf("%s n=%d [%g, %g]: below %d, inside %d; want %d, %d", name, n, b[0], b[1], below, len(inside), wantBelow, len(wantInside))
				}
			}
			buf := make([]float32, n)
			below, in := ScanBracket(x, b[0], b[1], buf)
			wb, wi := naiveScan(x, b[0], b[1])
			check("float32", below, wb, widen(buf[:in]), widen(wi))

			buf64 := make([]float64, n)
			below, in = ScanBracket(x64, float64(b[0]), float64(b[1]), buf64)
			wb64, wi64 := naiveScan(x64, float64(b[0]), float64(b[1]))
			check("float64", below, wb64, buf64[:in], wi64)
		}
	}
}

func TestMaskBelowMatchesNaive(t *testing.T) { forEachPath(t, testMaskBelow) }

func testMaskBelow(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 64, 1001, 4096} {
		x := selectCase(r, n)
		for _, b := range bounds {
			th := b[0]
			// A stale mask: every entry must be overwritten.
			mask := make([]bool, n)
			for i := range mask {
				mask[i] = r.IntN(2) == 0
			}
			eq := MaskBelow(x, th, mask)
			want, wantEq := naiveMask(x, th)
			if eq != wantEq || !slices.Equal(mask, want) {
				t.Errorf("n=%d t=%g: %d equal, want %d; masks equal: %v", n, th, eq, wantEq, slices.Equal(mask, want))
			}
		}
	}
}

func widen(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// BenchmarkScans times both scans on a 4096² float32 layer's scores
// (|N(0,1)|, bracket and threshold near the 60% quantile), assembly and
// Go in the same run.
func BenchmarkScans(b *testing.B) {
	const n = 4096 * 4096
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(math.Abs(r.NormFloat64()))
	}
	buf, mask := make([]float32, n), make([]bool, n)
	const lo, hi = 0.83, 0.86
	for _, avx := range []bool{true, false} {
		name := "go"
		if avx {
			if !useAVX2 {
				continue
			}
			name = "avx2"
		}
		saved := useAVX2
		b.Run("scan/"+name, func(b *testing.B) {
			useAVX2 = avx
			defer func() { useAVX2 = saved }()
			for b.Loop() {
				ScanBracket(x, lo, hi, buf)
			}
		})
		b.Run("mask/"+name, func(b *testing.B) {
			useAVX2 = avx
			defer func() { useAVX2 = saved }()
			for b.Loop() {
				MaskBelow(x, lo, mask)
			}
		})
	}
}
