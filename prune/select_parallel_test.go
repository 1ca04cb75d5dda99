package prune

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestParallelSelectionMatches compares the parallel per-matrix selection
// with its sequential twin, pruneSmallest, on random scores in float32 and
// float64: continuous, heavily tied (a few levels; 60% exact zeros, where
// the bracket is one value), with NaN and ±Inf, sorted and reversed
// (where a strided sample brackets badly), and k at the extremes.
func TestParallelSelectionMatches(t *testing.T) {
	defer func(v int) { parallelMin = v }(parallelMin)
	parallelMin = 1
	rng := rand.New(rand.NewPCG(21, 22))
	for trial := 0; trial < 300; trial++ {
		n := 1 + rng.IntN(5000)
		if trial%10 == 0 {
			n = 100_000 + rng.IntN(100_000) // several samples per chunk
		}
		scores := make([]float64, n)
		kind := trial % 7
		for i := range scores {
			switch kind {
			case 0, 1:
				scores[i] = rng.NormFloat64()
			case 2:
				scores[i] = float64(rng.IntN(3))
			case 3:
				scores[i] = float64(rng.IntN(1000)) / 7
			case 4:
				scores[i] = float64(i) // sorted
			case 5:
				scores[i] = -float64(i / 3) // reversed, tied in threes
			case 6:
				if rng.IntN(10) < 4 { // a matrix already pruned at 60%
					scores[i] = math.Abs(rng.NormFloat64())
				}
			}
		}
		if trial%4 == 1 {
			for range 1 + n/50 {
				scores[rng.IntN(n)] = []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0}[rng.IntN(4)]
			}
		}
		ks := []int{0, 1, n - 1, n, rng.IntN(n + 1), int(float64(n) * 0.6), int(float64(n) * 0.3)}
		for _, k := range ks {
			want := make(Mask, n)
			pruneSmallest(scores, k, want, make([]float64, n))
			got := make(Mask, n)
			for i := range got {
				got[i] = i%3 == 0 // garbage that must be overwritten
			}
			pruneSmallestParallel(scores, k, got)
			same(t, "float64", n, k, kind, got, want)

			s32 := make([]float32, n)
			for i, v := range scores {
				s32[i] = float32(v)
			}
			want32 := make(Mask, n)
			pruneSmallest(s32, k, want32, make([]float32, n))
			got32 := make(Mask, n)
			pruneSmallestParallel(s32, k, got32)
			same(t, "float32", n, k, kind, got32, want32)
		}
	}
}

// TestParallelSelectionBrackets: on a 7B-shaped score matrix whose scale
// varies by column (as ADMM's |B+U| = |W|·‖x_j‖-like scores do), the
// sample brackets the threshold and no selection falls back to the
// sequential one; the result equals the sequential selection.
func TestParallelSelectionBrackets(t *testing.T) {
	const rows, cols = 512, 4096
	rng := rand.New(rand.NewPCG(8, 8))
	scale := make([]float64, cols)
	for j := range scale {
		scale[j] = math.Exp(3 * rng.NormFloat64())
	}
	scores := make([]float32, rows*cols)
	for i := range scores {
		scores[i] = float32(math.Abs(rng.NormFloat64()) * scale[i%cols])
	}
	before := selectFallbacks.Load()
	for _, s := range []float64{0.1, 0.5, 0.6, 0.9} {
		k := PruneCount(len(scores), s)
		got := make(Mask, len(scores))
		pruneSmallestParallel(scores, k, got)
		want := make(Mask, len(scores))
		pruneSmallest(scores, k, want, make([]float32, len(scores)))
		same(t, "column-scaled", len(scores), k, -1, got, want)
	}
	if n := selectFallbacks.Load() - before; n != 0 {
		t.Errorf("%d of 4 selections fell back to the sequential one", n)
	}
}

func same(t *testing.T, typ string, n, k, kind int, got, want Mask) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s n=%d k=%d kind %d: index %d pruned=%v, sequential says %v", typ, n, k, kind, i, got[i], want[i])
		}
	}
}

// TestSelectIntoOverwrites: the Into variants leave nothing of the mask's
// previous contents.
func TestSelectIntoOverwrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	rows, cols := 6, 16
	scores := make([]float32, rows*cols)
	for i := range scores {
		scores[i] = rng.Float32()
	}
	for _, c := range []struct {
		p      Pattern
		perRow bool
	}{{Pattern{Ratio: 0.5}, false}, {Pattern{Ratio: 0.5}, true}, {Pattern{N: 2, M: 4}, false}} {
		want, err := Select(scores, rows, cols, c.p, c.perRow)
		if err != nil {
			t.Fatal(err)
		}
		got := make(Mask, len(scores))
		for i := range got {
			got[i] = true
		}
		if err := SelectInto(got, scores, rows, cols, c.p, c.perRow); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s perRow=%v: index %d differs", c.p, c.perRow, i)
			}
		}
	}
}

// BenchmarkSelectPerMatrix times one 7B-sized (4096×4096) layer-global
// selection, sequential and parallel.
func BenchmarkSelectPerMatrix(b *testing.B) {
	const n = 4096 * 4096
	rng := rand.New(rand.NewPCG(1, 1))
	scores := make([]float32, n)
	for i := range scores {
		scores[i] = float32(math.Abs(rng.NormFloat64()))
	}
	k := PruneCount(n, 0.6)
	mask := make(Mask, n)
	b.Run("sequential", func(b *testing.B) {
		buf := make([]float32, n)
		for b.Loop() {
			clear(mask)
			pruneSmallest(scores, k, mask, buf)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		for b.Loop() {
			pruneSmallestParallel(scores, k, mask)
		}
	})
}

// TestKthOfParts compares the bucketed selection with the quickselect of
// the concatenation, for every rank, on parts with ties, a bracket that
// is exactly the parts' range, one wider, and one with an infinite end.
func TestKthOfParts(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, tc := range []struct {
		name   string
		lo, hi float32
	}{{"exact", 0, 1}, {"wider", -0.5, 3}, {"infinite", float32(math.Inf(-1)), 1}, {"point", 0.5, 0.5}} {
		parts := [][]float32{make([]float32, 300), make([]float32, 257)}
		for _, p := range parts {
			for i := range p {
				switch {
				case tc.name == "point":
					p[i] = 0.5
				case rng.IntN(5) == 0:
					p[i] = float32(rng.IntN(4)) / 3 // ties, and both ends exactly
				default:
					p[i] = rng.Float32()
				}
			}
		}
		all := slices.Concat(parts...)
		slices.Sort(all)
		for r := range all {
			got, less := kthOfParts(parts, r, tc.lo, tc.hi)
			wantLess, _ := slices.BinarySearch(all, all[r])
			if got != all[r] || less != wantLess {
				t.Fatalf("%s rank %d: %g with %d smaller, want %g with %d", tc.name, r, got, less, all[r], wantLess)
			}
		}
	}
}

// TestParallelSelectionTiedBracket: scores of a matrix already pruned at
// 60% (exact zeros) scored again put the k-th smallest inside the tie
// for k < 60%; the sample's bracket is then the one value 0, the
// selection takes its counting path without falling back, and the result
// equals the sequential selection.
func TestParallelSelectionTiedBracket(t *testing.T) {
	const n = 1 << 20
	rng := rand.New(rand.NewPCG(9, 9))
	scores := make([]float32, n)
	for i := range scores {
		if rng.IntN(10) < 4 {
			scores[i] = float32(math.Abs(rng.NormFloat64()))
		}
	}
	for _, frac := range []float64{0.1, 0.3, 0.5} {
		k := int(frac * n)
		if lo, hi := bracket(scores, k); lo != 0 || hi != 0 {
			t.Fatalf("k=%d: bracket [%g, %g], want the one value 0 (test set-up)", k, lo, hi)
		}
		before := selectFallbacks.Load()
		got := make(Mask, n)
		pruneSmallestParallel(scores, k, got)
		if d := selectFallbacks.Load() - before; d != 0 {
			t.Errorf("k=%d: %d fallbacks to the sequential selection, want 0", k, d)
		}
		want := make(Mask, n)
		pruneSmallest(scores, k, want, make([]float32, n))
		same(t, "float32", n, k, 6, got, want)
	}
}
