package vecmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

// expShiftNaive is the straightforward twin of ExpShift (the forward pass's
// earlier code): the same reduction and polynomial, written with a switch
// and Horner's scheme, one element at a time.
func expShiftNaive(x []float32, shift float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2Hi = 0.693359375
		ln2Lo = -2.12194440e-4
	)
	var s float32
	for i, e := range x {
		v := e - shift
		var y float32
		switch {
		case v > 88.72283:
			y = float32(math.Inf(1))
		case v < -80:
			y = 0
		case v != v:
			y = v
		default:
			z := v * log2e
			var n int32
			if z >= 0 {
				n = int32(z + 0.5)
			} else {
				n = int32(z - 0.5)
			}
			fn := float32(n)
			r := v - fn*ln2Hi - fn*ln2Lo
			p := ((((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+
				1.6666665459e-1)*r+5.0000001201e-1)*r*r + r + 1)
			if n > 127 {
				p, n = 2*p, n-1
			}
			y = p * math.Float32frombits(uint32(n+127)<<23)
		}
		x[i] = y
		s += y
	}
	return s
}

// ulps is how many float32 spacings (at want's magnitude) got is from want.
func ulps(got float32, want float64) float64 {
	w := float32(want)
	spacing := float64(math.Nextafter32(w, float32(math.Inf(1))) - w)
	return math.Abs(float64(got)-want) / spacing
}

// TestExp32Accuracy sweeps [ExpFlush, ExpMax] densely (every 2⁻¹⁰, plus
// every float32 near 0 and near the ends) against math.Exp in float64.
// Cephes documents 2 ulp for this reduction and polynomial; the bound
// allows that, measured in spacings of the rounded exact value.
func TestExp32Accuracy(t *testing.T) {
	var pts []float32
	for x := float64(ExpFlush); x <= ExpMax; x += 1.0 / 1024 {
		pts = append(pts, float32(x))
	}
	for _, c := range []float32{0, ExpFlush, ExpMax, 0.3465736, -0.3465736} {
		v := c
		for range 20000 {
			if v >= ExpFlush {
				pts = append(pts, v)
			}
			v = math.Nextafter32(v, float32(math.Inf(-1)))
		}
		v = c
		for range 20000 {
			if v <= ExpMax {
				pts = append(pts, v)
			}
			v = math.Nextafter32(v, float32(math.Inf(1)))
		}
	}
	forEachPath(t, func(t *testing.T) {
		got := append([]float32(nil), pts...)
		ExpShift(got, 0)
		worst, at := 0.0, float32(0)
		for i, v := range pts {
			if u := ulps(got[i], math.Exp(float64(v))); u > worst {
				worst, at = u, v
			}
		}
		t.Logf("worst error %.3f ulp at %g over %d points", worst, at, len(pts))
		if worst > 2 {
			t.Errorf("worst error %.3f ulp at %g, want ≤ 2", worst, at)
		}
	})
}

// forEachPath runs f with the AVX2 kernels on (where the CPU has them) and
// off, so that both the assembly and the Go loops are checked.
func forEachPath(t *testing.T, f func(t *testing.T)) {
	saved := useAVX2
	defer func() { useAVX2 = saved }()
	if saved {
		t.Run("avx2", f)
	} else {
		t.Log("no AVX2+FMA on this machine: pure Go only")
	}
	useAVX2 = false
	t.Run("go", f)
}

// exp8 is ExpShift on v alone, in a slice of 8 copies so that the AVX2
// kernel (when on) computes it.
func exp8(v float32) float32 {
	x := []float32{v, v, v, v, v, v, v, v}
	ExpShift(x, 0)
	for _, y := range x[1:] {
		if math.Float32bits(y) != math.Float32bits(x[0]) {
			return float32(math.NaN())
		}
	}
	return x[0]
}

func TestExp32Limits(t *testing.T) { forEachPath(t, testExp32Limits) }

func testExp32Limits(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	lo, hi := float32(ExpFlush), float32(ExpMax)
	for _, tc := range []struct{ v, want float32 }{
		{0, 1}, {1, float32(math.E)}, {-1e-30, 1}, {1e-30, 1},
		{lo, float32(math.Exp(float64(lo)))},
		{math.Nextafter32(lo, -100), 0}, {-100, 0}, {-1e30, 0}, {float32(math.Inf(-1)), 0},
		{hi, float32(math.Exp(float64(hi)))},
		{math.Nextafter32(hi, 100), inf}, {89, inf}, {1e30, inf}, {inf, inf},
	} {
		got := exp8(tc.v)
		if got1 := Exp32(tc.v); math.Float32bits(got1) != math.Float32bits(got) && !(got != got && got1 != got1) && ulps(got1, float64(got)) > 2 {
			t.Errorf("Exp32(%g) = %g, ExpShift on 8 copies %g", tc.v, got1, got)
		}
		if got != tc.want && ulps(got, float64(tc.want)) > 2 {
			t.Errorf("Exp32(%g) = %g, want %g", tc.v, got, tc.want)
		}
		if math.IsInf(float64(tc.want), 0) != math.IsInf(float64(got), 0) || (tc.want == 0) != (got == 0) {
			t.Errorf("Exp32(%g) = %g, want exactly %g", tc.v, got, tc.want)
		}
	}
	if got := exp8(nan); got == got {
		t.Errorf("Exp32(NaN) = %g, want NaN", got)
	}
	// ExpMax is the last float32 with a finite e^v.
	if e := math.Exp(float64(hi)); e > math.MaxFloat32 {
		t.Errorf("e^ExpMax = %g overflows float32", e)
	}
	if e := math.Exp(float64(math.Nextafter32(hi, 100))); e <= math.MaxFloat32*(1+0x1p-25) {
		t.Errorf("e^next(ExpMax) = %g is still finite in float32", e)
	}
}

// TestExpShiftMatchesNaive compares ExpShift with its naive twin on random
// slices of every length up to 40 (values and sums), over a range that
// crosses both limits and holds NaNs and infinities. Both use the same
// polynomial in a different evaluation order, so values agree within the
// exp's own 2 ulp twice over (4 ulp); the sums, accumulated in a different
// order, within 1e-6 relative.
func TestExpShiftMatchesNaive(t *testing.T) { forEachPath(t, testExpShiftMatchesNaive) }

func testExpShiftMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 200, -200}
	for n := range 41 {
		for rep := range 30 {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(rng.Float64()*200 - 120)
				if rep%3 == 0 {
					x[i] = float32(rng.Float64()*10 - 9) // the softmax range
				}
				if rep%5 == 1 && rng.IntN(8) == 0 {
					x[i] = specials[rng.IntN(len(specials))]
				}
			}
			shift := float32(rng.Float64()*4 - 2)
			got, want := append([]float32(nil), x...), append([]float32(nil), x...)
			gs, ws := ExpShift(got, shift), expShiftNaive(want, shift)
			for i := range got {
				g, w := got[i], want[i]
				switch {
				case w != w:
					if g == g {
						t.Fatalf("n %d: e^(%g−%g) = %g, want NaN", n, x[i], shift, g)
					}
				case math.IsInf(float64(w), 0) || w == 0:
					if g != w {
						t.Fatalf("n %d: e^(%g−%g) = %g, want %g", n, x[i], shift, g, w)
					}
				case ulps(g, float64(w)) > 4:
					t.Fatalf("n %d: e^(%g−%g) = %g, naive %g", n, x[i], shift, g, w)
				}
			}
			if gs != ws && !(math.Abs(float64(gs-ws)) <= 1e-6*math.Abs(float64(ws))) && !(gs != gs && ws != ws) {
				t.Fatalf("n %d: sum %g, naive %g", n, gs, ws)
			}
		}
	}
}

func TestMaxOf(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		for n := 1; n <= 70; n++ {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * 10)
			}
			if n%3 == 0 {
				x[rng.IntN(n)] = float32(math.Inf(1))
			}
			want := x[0]
			for _, e := range x {
				want = max(want, e)
			}
			if got := MaxOf(x); got != want {
				t.Fatalf("n %d: MaxOf %g, want %g", n, got, want)
			}
		}
	})
}

func BenchmarkExpShift(b *testing.B) {
	x := make([]float32, 4096)
	src := make([]float32, len(x))
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range src {
		src[i] = float32(-rng.Float64() * 12)
	}
	for _, bc := range []struct {
		name string
		fn   func([]float32, float32) float32
	}{{"fast", ExpShift}, {"go", func(x []float32, s float32) float32 { return float32(expShiftGo(x, s)) }}, {"naive", expShiftNaive}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				copy(x, src)
				bc.fn(x, 0)
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N*len(x)), "ns/exp")
		})
	}
}
