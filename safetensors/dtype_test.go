package safetensors

import (
	"math"
	"math/rand/v2"
	"testing"
)

// halfValue is the textbook value of a binary16 bit pattern, computed with
// float64 arithmetic instead of bit manipulation.
func halfValue(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0x1f:
		if m != 0 {
			return math.NaN()
		}
		return math.Inf(int(sign))
	case 0:
		return sign * math.Ldexp(m, -24)
	}
	return sign * math.Ldexp(1+m/1024, e-15)
}

func TestHalfExhaustive(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		got := HalfToFloat32(h)
		want := halfValue(h)
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) {
				t.Fatalf("%#04x: got %v, want NaN", h, got)
			}
			if !math.IsNaN(float64(HalfToFloat32(Float32ToHalf(got)))) {
				t.Fatalf("%#04x: NaN did not survive a round trip", h)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(want) {
			t.Fatalf("%#04x: got %v, want %v", h, got, want)
		}
		if back := Float32ToHalf(got); back != h {
			t.Fatalf("%#04x: round trip gave %#04x", h, back)
		}
	}
}

// nearestHalf finds the correctly rounded half of f by search over all
// finite halves of the same sign (ties to the even bit pattern).
func nearestHalf(f float32) uint16 {
	x := math.Abs(float64(f))
	var sign uint16
	if math.Signbit(float64(f)) {
		sign = 0x8000
	}
	best, bestErr := uint16(0), math.Inf(1)
	for h := uint16(0); h < 0x7c00; h++ {
		d := math.Abs(halfValue(h) - x)
		if d < bestErr || (d == bestErr && h&1 == 0) {
			best, bestErr = h, d
		}
	}
	// Beyond the largest half by at least half an ulp (2^4 at the top) is inf.
	if x >= 65520 {
		best = 0x7c00
	}
	return sign | best
}

func TestFloat32ToHalfRounding(t *testing.T) {
	cases := []float32{0, 1, -1, 65504, 65519.99, 65520, 1e10, 5.960464477539063e-08,
		2.9802322387695312e-08, 2.98023224e-08 * 1.0000001, 1.4901161e-08, 6.1035156e-05,
		6.0975552e-05, 1.0009765625 / 2 * 2, 1 + 1.0/2048, 1 + 3.0/2048, -0.1, 0.3333333}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		cases = append(cases, float32(math.Ldexp(r.Float64()*2-1, r.IntN(44)-28)))
	}
	for _, f := range cases {
		if got, want := Float32ToHalf(f), nearestHalf(f); got != want {
			t.Errorf("Float32ToHalf(%g) = %#04x (%g), want %#04x (%g)", f, got, HalfToFloat32(got), want, HalfToFloat32(want))
		}
	}
	if h := Float32ToHalf(float32(math.Inf(-1))); h != 0xfc00 {
		t.Errorf("-inf gave %#04x", h)
	}
	if h := Float32ToHalf(float32(math.NaN())); !math.IsNaN(float64(HalfToFloat32(h))) {
		t.Errorf("NaN gave %#04x", h)
	}
}

func TestBF16(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := BF16ToFloat32(h)
		if math.Float32bits(f)>>16 != uint32(h) {
			t.Fatalf("%#04x: got bits %#08x", h, math.Float32bits(f))
		}
		if math.IsNaN(float64(f)) {
			if !math.IsNaN(float64(BF16ToFloat32(Float32ToBF16(f)))) {
				t.Fatalf("%#04x: NaN lost", h)
			}
		} else if back := Float32ToBF16(f); back != h {
			t.Fatalf("%#04x: round trip gave %#04x", h, back)
		}
	}
	for _, c := range []struct {
		bits uint32
		want uint16
	}{
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up
		{0x3f808001, 0x3f81}, // above the tie
		{0x7f7fffff, 0x7f80}, // max float rounds to inf
	} {
		if got := Float32ToBF16(math.Float32frombits(c.bits)); got != c.want {
			t.Errorf("Float32ToBF16(%#08x) = %#04x, want %#04x", c.bits, got, c.want)
		}
	}
}
