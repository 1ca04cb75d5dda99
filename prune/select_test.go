package prune

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/prunebench/prunebench/model"
)

// applyTo returns a copy of w with mask applied, as a method would leave it.
func applyTo(w []float32, out, in int, mask Mask) *model.Linear {
	l := &model.Linear{Out: out, In: in, W: append([]float32(nil), w...)}
	mask.Apply(l.W)
	return l
}

func TestSelectExactCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	shapes := [][2]int{{1, 8}, {3, 16}, {10, 10}, {7, 24}, {64, 172}, {5, 40}}
	patterns := []string{"0.5", "0.57", "0.1", "0.9", "0.333", "2:4", "1:4", "3:4", "4:8", "1:2", "2:8"}
	for _, sh := range shapes {
		out, in := sh[0], sh[1]
		w := randMatrix(rng, out*in)
		// Quantised scores create many ties; selection must still be exact.
		scores := make([]float64, out*in)
		for i := range scores {
			scores[i] = float64(rng.IntN(3))
		}
		for _, ps := range patterns {
			p, err := ParsePattern(ps)
			if err != nil {
				t.Fatal(err)
			}
			for _, perRow := range []bool{false, true} {
				mask, err := Select(scores, out, in, p, perRow)
				if fitErr := p.Fits(in); fitErr != nil {
					if err == nil {
						t.Errorf("%d×%d %s: pattern does not fit but Select accepted it", out, in, p)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%d×%d %s: %v", out, in, p, err)
				}
				if err := Verify(mask, applyTo(w, out, in, mask), p, perRow); err != nil {
					t.Errorf("%d×%d %s perRow=%v: %v", out, in, p, perRow, err)
				}
			}
		}
	}
}

func TestPruneCountFloatArtefact(t *testing.T) {
	// 100·0.57 is 56.99999999999999 in float64: the references prune 56.
	if k := PruneCount(100, 0.57); k != 56 {
		t.Fatalf("PruneCount(100, 0.57) = %d, want 56", k)
	}
	scores := make([]float64, 100)
	for i := range scores {
		scores[i] = float64(100 - i)
	}
	p, _ := ParsePattern("0.57")
	m, err := Select(scores, 10, 10, p, false)
	if err != nil {
		t.Fatal(err)
	}
	if m.Count() != 56 {
		t.Fatalf("pruned %d, want 56", m.Count())
	}
}

func TestSelectTiesByFlatIndex(t *testing.T) {
	scores := []float64{
		1, 0, 1, 1,
		1, 1, 0, 1,
	}
	cases := []struct {
		p      Pattern
		perRow bool
		want   string
	}{
		// Zeros first, then the earliest ones.
		{Pattern{Ratio: 0.5}, false, "11100010"},
		{Pattern{Ratio: 0.5}, true, "11001010"},
		{Pattern{N: 2, M: 4}, false, "11001010"},
		{Pattern{N: 3, M: 4}, false, "01000010"},
		{Pattern{N: 1, M: 2}, false, "01101010"},
	}
	for _, c := range cases {
		m, err := Select(scores, 2, 4, c.p, c.perRow)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(m))
		for i, v := range m {
			got[i] = '0'
			if v {
				got[i] = '1'
			}
		}
		if string(got) != c.want {
			t.Errorf("%s perRow=%v: mask %s, want %s", c.p, c.perRow, got, c.want)
		}
	}
}

func TestSelectRejects(t *testing.T) {
	scores := make([]float64, 2*6)
	for _, c := range []struct {
		p    Pattern
		rows int
	}{
		{Pattern{N: 2, M: 4}, 2},      // 4 does not divide 6
		{Pattern{Ratio: 0.5}, 3},      // wrong score count
		{Pattern{N: 1, M: 4}, 2},      // 4 does not divide 6
		{Pattern{N: 4, M: 8}, 2},      // 8 does not divide 6
		{Pattern{Ratio: 0.5}, 1},      // wrong score count
		{Pattern{N: 1, M: 3}, 2 * 10}, // wrong score count
	} {
		if _, err := Select(scores, c.rows, 6, c.p, false); err == nil {
			t.Errorf("Select(%d×6, %s) accepted", c.rows, c.p)
		}
	}
}

// TestPruneSmallestMatchesStableSort checks the linear-time selection
// against its definition, the first k of a stable ascending sort, on sizes
// around the quickselect cut-off and on heavily tied scores.
func TestPruneSmallestMatchesStableSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	for trial := 0; trial < 400; trial++ {
		n := 1 + rng.IntN(200)
		levels := []int{2, 5, 1000}[trial%3]
		scores := make([]float64, n)
		for i := range scores {
			scores[i] = float64(rng.IntN(levels)) - 1
		}
		if trial%7 == 0 {
			scores[rng.IntN(n)] = math.NaN()
		}
		k := rng.IntN(n + 1)
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return rank(scores[idx[a]]) < rank(scores[idx[b]]) })
		want := make(Mask, n)
		for _, i := range idx[:k] {
			want[i] = true
		}
		got := SelectPerMatrix(scores, k)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("n=%d k=%d levels=%d: index %d pruned=%v, stable sort says %v", n, k, levels, i, got[i], want[i])
			}
		}
	}
}
