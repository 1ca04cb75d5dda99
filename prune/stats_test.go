package prune

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func randMatrix(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// naiveGram is Σ xᵀx by definition.
func naiveGram(x []float32, rows, in int) []float64 {
	g := make([]float64, in*in)
	for r := 0; r < rows; r++ {
		for i := 0; i < in; i++ {
			for j := 0; j < in; j++ {
				g[i*in+j] += float64(x[r*in+i]) * float64(x[r*in+j])
			}
		}
	}
	return g
}

func TestStatsAdd(t *testing.T) {
	orig := chunkBytes
	defer func() { chunkBytes = orig }()
	// Width 150 spans several mirror tiles; small chunks (64 rows) make Add
	// cross chunk boundaries.
	for _, in := range []int{7, 150} {
		for _, chunk := range []int{orig, 1} {
			chunkBytes = chunk
			rng := rand.New(rand.NewPCG(1, uint64(in)))
			x := randMatrix(rng, 300*in)
			st := NewStats(in)
			// Uneven calls: 130 rows from 2 sequences, then 170 from 3.
			if err := st.Add(x[:130*in], 130, 2); err != nil {
				t.Fatal(err)
			}
			if err := st.Add(x[130*in:], 170, 3); err != nil {
				t.Fatal(err)
			}
			if st.Tokens != 300 || st.Seqs != 5 {
				t.Fatalf("tokens %d seqs %d, want 300 and 5", st.Tokens, st.Seqs)
			}
			want := naiveGram(x, 300, in)
			for i := range want {
				if math.Abs(st.Gram[i]-want[i]) > 1e-9*math.Abs(want[i])+1e-9 {
					t.Fatalf("width %d, chunk bytes %d: Gram[%d,%d] = %g, want %g", in, chunk, i/in, i%in, st.Gram[i], want[i])
				}
			}
			for j, d := range st.Diag() {
				if d != st.Gram[j*in+j] {
					t.Fatalf("Diag[%d] = %g, Gram has %g", j, d, st.Gram[j*in+j])
				}
			}
		}
	}
}

func TestStatsAddRejects(t *testing.T) {
	st := NewStats(3)
	good := []float32{1, 2, 3, 4, 5, 6}
	if err := st.Add(good, 2, 1); err != nil {
		t.Fatal(err)
	}
	before := append([]float64(nil), st.Gram...)
	for _, c := range []struct {
		name string
		x    []float32
		rows int
		want string
	}{
		{"NaN", []float32{1, 2, 3, 4, float32(math.NaN()), 6}, 2, "[1,1]"},
		{"Inf", []float32{float32(math.Inf(-1)), 2, 3}, 1, "[0,0]"},
		{"short", []float32{1, 2}, 1, "2 activations"},
		{"negative rows", nil, -1, "-1 rows"},
	} {
		err := st.Add(c.x, c.rows, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	if st.Tokens != 2 || st.Seqs != 1 {
		t.Errorf("rejected adds changed the counts: %d tokens %d seqs", st.Tokens, st.Seqs)
	}
	for i := range before {
		if st.Gram[i] != before[i] {
			t.Fatalf("rejected adds changed Gram[%d]", i)
		}
	}
}

func TestStatsCheck(t *testing.T) {
	var none *Stats
	if err := none.Check(3); err == nil {
		t.Error("nil statistics accepted")
	}
	st := NewStats(3)
	if err := st.Check(3); err == nil {
		t.Error("empty statistics accepted")
	}
	if err := st.Add([]float32{1, 2, 3}, 1, 1); err != nil {
		t.Fatal(err)
	}
	if err := st.Check(4); err == nil {
		t.Error("width 3 statistics accepted for 4 inputs")
	}
	if err := st.Check(3); err != nil {
		t.Error(err)
	}
}

func TestRelError(t *testing.T) {
	defer func(c int) { chunkBytes = c }(chunkBytes)
	chunkBytes = 16 * 9 * 4 // slabs of 4 rows: several slabs and a partial one
	rng := rand.New(rand.NewPCG(3, 4))
	const rows, in, out = 50, 9, 11
	x := randMatrix(rng, rows*in)
	w := randMatrix(rng, out*in)
	p := append([]float32(nil), w...)
	for i := range p {
		if rng.IntN(2) == 0 {
			p[i] = 0
		} else {
			p[i] += float32(0.1 * rng.NormFloat64())
		}
	}
	st := NewStats(in)
	if err := st.Add(x, rows, 1); err != nil {
		t.Fatal(err)
	}
	// ‖XWᵀ − XŴᵀ‖² / ‖XWᵀ‖² by definition.
	var num, den float64
	for r := 0; r < rows; r++ {
		for o := 0; o < out; o++ {
			var y, yp float64
			for j := 0; j < in; j++ {
				y += float64(x[r*in+j]) * float64(w[o*in+j])
				yp += float64(x[r*in+j]) * float64(p[o*in+j])
			}
			num += (y - yp) * (y - yp)
			den += y * y
		}
	}
	got := RelError(w, p, out, in, st)
	if want := num / den; math.Abs(got-want) > 1e-10*want {
		t.Fatalf("RelError = %.15g, by definition %.15g", got, want)
	}
	if e := RelError(w, w, out, in, st); e != 0 {
		t.Errorf("RelError of an unchanged weight = %g", e)
	}
	if e := RelError(w, p[:5], out, in, st); !math.IsNaN(e) {
		t.Errorf("RelError with a short weight = %g, want NaN", e)
	}
}
