package vecmath

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// naiveProjectSplit is ProjectSplit as its doc comment reads, with a
// branch on the mask.
func naiveProjectSplit(v, b, c []float32, pruned []bool) {
	for i, x := range v {
		var z float32
		if !pruned[i] {
			z = x
		}
		u := x - z
		c[i] = z - u - b[i]
		v[i] = b[i] + u
	}
}

// sameBits reports whether a and b hold the same float32s bit for bit,
// any NaN matching any NaN, and the first index where they differ.
func sameBits(a, b []float32) (int, bool) {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			return i, false
		}
	}
	return 0, true
}

func TestProjectSplitMatchesNaive(t *testing.T) { forEachPath(t, testProjectSplit) }

func testProjectSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 7, 8, 9, 16, 31, 64, 1000, 1027} {
		v, b := selectCase(r, n), selectCase(r, n)
		pruned := make([]bool, n)
		for i := range pruned {
			pruned[i] = r.IntN(10) < 6
		}
		if n > 2 {
			v[0], v[1] = float32(math.Copysign(0, -1)), 0 // ±0 kept or pruned
		}
		wantV, wantC := slices.Clone(v), make([]float32, n)
		naiveProjectSplit(wantV, b, wantC, pruned)
		gotV, gotC := slices.Clone(v), make([]float32, n)
		ProjectSplit(gotV, b, gotC, pruned)
		if i, ok := sameBits(gotV, wantV); !ok {
			t.Errorf("n=%d: v[%d] = %g (x %g, b %g, pruned %v), want %g", n, i, gotV[i], v[i], b[i], pruned[i], wantV[i])
		}
		if i, ok := sameBits(gotC, wantC); !ok {
			t.Errorf("n=%d: c[%d] = %g (x %g, b %g, pruned %v), want %g", n, i, gotC[i], v[i], b[i], pruned[i], wantC[i])
		}
	}
}

func TestAbsToMatchesNaive(t *testing.T) { forEachPath(t, testAbsTo) }

func testAbsTo(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 7, 8, 9, 33, 1000} {
		src := selectCase(r, n)
		want := make([]float32, n)
		for i, x := range src {
			want[i] = float32(math.Abs(float64(x)))
		}
		got := make([]float32, n)
		AbsTo(got, src)
		if i, ok := sameBits(got, want); !ok {
			t.Errorf("n=%d: |%g| = %g, want %g", n, src[i], got[i], want[i])
		}
	}
}

// BenchmarkProjectSplit times the kernel on one core's share of a 4096²
// layer at 60% against its Go loop and the naive loop, whose branch on
// the mask is the one Projected avoids.
func BenchmarkProjectSplit(b *testing.B) {
	const n = 4096 * 4096 / 2
	r := rand.New(rand.NewPCG(1, 2))
	v, bb, c := make([]float32, n), make([]float32, n), make([]float32, n)
	pruned := make([]bool, n)
	for i := range v {
		v[i], bb[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
		pruned[i] = r.IntN(10) < 6
	}
	b.Run("kernel", func(b *testing.B) {
		for b.Loop() {
			ProjectSplit(v, bb, c, pruned)
		}
	})
	b.Run("go", func(b *testing.B) {
		for b.Loop() {
			projectSplitGo(v, bb, c, pruned)
		}
	})
	b.Run("naive", func(b *testing.B) {
		for b.Loop() {
			naiveProjectSplit(v, bb, c, pruned)
		}
	})
}
