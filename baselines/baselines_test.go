package baselines

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// layer is a random out×in weight with correlated inputs: x = z·(I + 0.3·N).
func layer(seed uint64, out, in, rows int) (*model.Linear, *prune.Stats) {
	rng := rand.New(rand.NewPCG(seed, 99))
	w := &model.Linear{Out: out, In: in, W: make([]float32, out*in)}
	for i := range w.W {
		w.W[i] = float32(rng.NormFloat64() / math.Sqrt(float64(in)))
	}
	mix := make([]float64, in*in)
	for i := range mix {
		mix[i] = 0.3 * rng.NormFloat64()
	}
	for j := 0; j < in; j++ {
		mix[j*in+j]++
	}
	x := make([]float32, rows*in)
	z := make([]float64, in)
	for r := 0; r < rows; r++ {
		for j := range z {
			z[j] = rng.NormFloat64()
		}
		for j := 0; j < in; j++ {
			var s float64
			for k := 0; k < in; k++ {
				s += z[k] * mix[k*in+j]
			}
			x[r*in+j] = float32(s)
		}
	}
	st := prune.NewStats(in)
	if err := st.Add(x, rows, max(1, rows/64)); err != nil {
		panic(err)
	}
	return w, st
}

func clone(w *model.Linear) *model.Linear {
	return &model.Linear{Out: w.Out, In: w.In, W: append([]float32(nil), w.W...)}
}

var methods = []prune.Method{Magnitude{}, Wanda{}, DefaultSparseGPT(), SparseGPT{BlockSize: 8, PercDamp: 0.01}}

func TestExactCounts(t *testing.T) {
	shapes := [][2]int{{10, 10}, {4, 24}, {7, 40}, {12, 172}, {3, 136}}
	patterns := []string{"0.5", "0.57", "0.3", "0.9", "2:4", "1:4", "3:4", "4:8", "1:2"}
	for si, sh := range shapes {
		w0, st := layer(uint64(si), sh[0], sh[1], 80)
		for _, ps := range patterns {
			p, err := prune.ParsePattern(ps)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range methods {
				w := clone(w0)
				mask, rep, err := m.Prune(context.Background(), w, st, p)
				if p.Fits(w.In) != nil {
					if err == nil || !strings.Contains(err.Error(), "does not divide") {
						t.Errorf("%s %d×%d %s: error %v, want M does not divide", m.Name(), w.Out, w.In, p, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s %d×%d %s: %v", m.Name(), w.Out, w.In, p, err)
				}
				if err := prune.Verify(mask, w, p, m.Name() == "wanda"); err != nil {
					t.Errorf("%s %d×%d %s: %v", m.Name(), w.Out, w.In, p, err)
				}
				if want := float64(prune.Zeros(w.W)) / float64(len(w.W)); rep.Sparsity != want {
					t.Errorf("%s: reported sparsity %g, weight has %g", m.Name(), rep.Sparsity, want)
				}
			}
		}
	}
}

func TestRejectsBadInput(t *testing.T) {
	w0, st := layer(1, 8, 16, 40)
	half := prune.Pattern{Ratio: 0.5}
	nan := clone(w0)
	nan.W[37] = float32(math.NaN())
	inf := clone(w0)
	inf.W[3] = float32(math.Inf(1))
	for _, m := range methods {
		for _, c := range []struct {
			name string
			w    *model.Linear
			p    prune.Pattern
			want string
		}{
			{"NaN weight", nan, half, "[2,5]"},
			{"Inf weight", inf, half, "[0,3]"},
			{"ratio 0", w0, prune.Pattern{Ratio: 0}, "(0,1)"},
			{"ratio 1", w0, prune.Pattern{Ratio: 1}, "(0,1)"},
			{"N = M", w0, prune.Pattern{N: 4, M: 4}, "0 < N < M"},
			{"N > M", w0, prune.Pattern{N: 5, M: 4}, "0 < N < M"},
			{"M does not divide", w0, prune.Pattern{N: 1, M: 3}, "does not divide"},
		} {
			w := clone(c.w)
			_, _, err := m.Prune(context.Background(), w, st, c.p)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s, %s: error %v, want one containing %q", m.Name(), c.name, err, c.want)
			}
		}
	}
	for _, m := range []prune.Method{Wanda{}, DefaultSparseGPT()} {
		if _, _, err := m.Prune(context.Background(), clone(w0), nil, half); err == nil {
			t.Errorf("%s accepted nil statistics", m.Name())
		}
		if _, _, err := m.Prune(context.Background(), clone(w0), prune.NewStats(16), half); err == nil {
			t.Errorf("%s accepted empty statistics", m.Name())
		}
		_, wide := layer(2, 8, 32, 40)
		if _, _, err := m.Prune(context.Background(), clone(w0), wide, half); err == nil {
			t.Errorf("%s accepted statistics of the wrong width", m.Name())
		}
	}
}

// TestSparseGPTOptions checks each option's range by the full message,
// from Validate and from both entry points: the options are used as given,
// so 0 is an error rather than the default.
func TestSparseGPTOptions(t *testing.T) {
	w0, st := layer(1, 8, 16, 40)
	mask := make(prune.Mask, len(w0.W))
	for _, c := range []struct {
		name string
		sg   SparseGPT
		p    prune.Pattern
		want string // the whole message; "" = valid
	}{
		{"defaults", SparseGPT{BlockSize: 128, PercDamp: 0.01}, prune.Pattern{Ratio: 0.5}, ""},
		{"block size 1", SparseGPT{BlockSize: 1, PercDamp: 1}, prune.Pattern{Ratio: 0.5}, ""},
		{"block size above the width", SparseGPT{BlockSize: 1 << 40, PercDamp: 0.01}, prune.Pattern{Ratio: 0.5}, ""},
		{"zero value", SparseGPT{}, prune.Pattern{Ratio: 0.5}, "sparsegpt: --blocksize 0: must be ≥ 1"},
		{"blocksize 0", SparseGPT{BlockSize: 0, PercDamp: 0.01}, prune.Pattern{Ratio: 0.5}, "sparsegpt: --blocksize 0: must be ≥ 1"},
		{"blocksize -1", SparseGPT{BlockSize: -1, PercDamp: 0.01}, prune.Pattern{Ratio: 0.5}, "sparsegpt: --blocksize -1: must be ≥ 1"},
		{"percdamp 0", SparseGPT{BlockSize: 128}, prune.Pattern{Ratio: 0.5}, "sparsegpt: --percdamp 0: must be > 0 and finite"},
		{"percdamp -0.01", SparseGPT{BlockSize: 128, PercDamp: -0.01}, prune.Pattern{Ratio: 0.5}, "sparsegpt: --percdamp -0.01: must be > 0 and finite"},
		{"percdamp NaN", SparseGPT{BlockSize: 128, PercDamp: math.NaN()}, prune.Pattern{Ratio: 0.5}, "sparsegpt: --percdamp NaN: must be > 0 and finite"},
		{"percdamp +Inf", SparseGPT{BlockSize: 128, PercDamp: math.Inf(1)}, prune.Pattern{Ratio: 0.5}, "sparsegpt: --percdamp +Inf: must be > 0 and finite"},
	} {
		t.Run(c.name, func(t *testing.T) {
			errs := []error{c.sg.Validate()}
			_, _, err := c.sg.Prune(context.Background(), clone(w0), st, c.p)
			errs = append(errs, err)
			_, err = c.sg.PruneWithMask(context.Background(), clone(w0), st, mask)
			errs = append(errs, err)
			for i, err := range errs {
				if c.want == "" && err != nil || c.want != "" && (err == nil || err.Error() != c.want) {
					t.Errorf("call %d: error %v, want %q", i, err, c.want)
				}
			}
		})
	}
	_, _, err := SparseGPT{BlockSize: 6, PercDamp: 0.01}.Prune(context.Background(), clone(w0), st, prune.Pattern{N: 2, M: 4})
	if want := "sparsegpt: --blocksize 6: must be a multiple of M=4 for 2:4, so that N:M groups do not straddle blocks"; err == nil || err.Error() != want {
		t.Errorf("block size 6 for 2:4: error %v, want %q", err, want)
	}
	// Above the width (16) the sweep is one block of the whole width.
	if _, _, err := (SparseGPT{BlockSize: 130, PercDamp: 0.01}).Prune(context.Background(), clone(w0), st, prune.Pattern{N: 2, M: 4}); err != nil {
		t.Errorf("block size 130 for 2:4 on width 16: %v", err)
	}
}

// TestSparseGPTBlockSizeInvariance: on a fixed mask, lazy batching is exact
// algebra, so the block size must not change the result.
func TestSparseGPTBlockSizeInvariance(t *testing.T) {
	w0, st := layer(3, 12, 50, 200)
	ref := clone(w0)
	mask, _, err := Wanda{}.Prune(context.Background(), clone(w0), st, prune.Pattern{Ratio: 0.6})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DefaultSparseGPT().PruneWithMask(context.Background(), ref, st, mask); err != nil {
		t.Fatal(err)
	}
	for _, bs := range []int{1, 3, 16, 49} {
		w := clone(w0)
		if _, err := (SparseGPT{BlockSize: bs, PercDamp: 0.01}).PruneWithMask(context.Background(), w, st, mask); err != nil {
			t.Fatal(err)
		}
		for i := range w.W {
			if math.Abs(float64(w.W[i]-ref.W[i])) > 1e-5 {
				t.Fatalf("block size %d: W[%d] = %g, block size 128 gives %g", bs, i, w.W[i], ref.W[i])
			}
		}
	}
}

// TestSparseGPTUpdateHelps: the OBS update on a mask must beat zeroing the
// same weights, for Wanda's mask and for SparseGPT's own, and SparseGPT
// must beat magnitude (on a layer wide enough for several 128-column
// blocks; a single block chooses its whole mask before any update).
func TestSparseGPTUpdateHelps(t *testing.T) {
	w0, st := layer(4, 48, 256, 1000)
	for _, p := range []prune.Pattern{{Ratio: 0.5}, {Ratio: 0.7}, {N: 2, M: 4}} {
		wanda := clone(w0)
		mask, _, err := Wanda{}.Prune(context.Background(), wanda, st, p)
		if err != nil {
			t.Fatal(err)
		}
		upd := clone(w0)
		if _, err := DefaultSparseGPT().PruneWithMask(context.Background(), upd, st, mask); err != nil {
			t.Fatal(err)
		}
		if err := prune.Verify(mask, upd, p, true); err != nil {
			t.Fatal(err)
		}
		eZero := prune.RelError(w0.W, wanda.W, w0.Out, w0.In, st)
		eUpd := prune.RelError(w0.W, upd.W, w0.Out, w0.In, st)
		if !(eUpd < 0.9*eZero) {
			t.Errorf("%s: OBS update on Wanda's mask gives error %g, zeroing gives %g", p, eUpd, eZero)
		}
		mag, sg := clone(w0), clone(w0)
		if _, _, err := (Magnitude{}).Prune(context.Background(), mag, nil, p); err != nil {
			t.Fatal(err)
		}
		sgMask, _, err := DefaultSparseGPT().Prune(context.Background(), sg, st, p)
		if err != nil {
			t.Fatal(err)
		}
		zeroed := clone(w0)
		sgMask.Apply(zeroed.W)
		eMag := prune.RelError(w0.W, mag.W, w0.Out, w0.In, st)
		eSG := prune.RelError(w0.W, sg.W, w0.Out, w0.In, st)
		eSGZero := prune.RelError(w0.W, zeroed.W, w0.Out, w0.In, st)
		if !(eSG < eMag && eSG < 0.9*eSGZero) {
			t.Errorf("%s: SparseGPT error %g, magnitude %g, SparseGPT's mask without the update %g", p, eSG, eMag, eSGZero)
		}
		t.Logf("%s: magnitude %.4g, wanda %.4g, wanda+OBS %.4g, sparsegpt %.4g (its mask zeroed %.4g)", p, eMag, eZero, eUpd, eSG, eSGZero)
	}
}

// TestSparseGPTDampingRetry: an indefinite Gram fails Cholesky at 1%
// damping and must succeed after retries, saying so in the notes.
func TestSparseGPTDampingRetry(t *testing.T) {
	st := &prune.Stats{In: 2, Gram: []float64{1, 2, 2, 1}, Tokens: 1, Seqs: 1}
	w := &model.Linear{Out: 2, In: 2, W: []float32{1, -2, 3, 0.5}}
	mask, rep, err := DefaultSparseGPT().Prune(context.Background(), w, st, prune.Pattern{Ratio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if err := prune.Verify(mask, w, prune.Pattern{Ratio: 0.5}, false); err != nil {
		t.Fatal(err)
	}
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "Cholesky failed at percdamp 0.01") {
		t.Errorf("notes %q, want one about the Cholesky retry", rep.Notes)
	}
	// Damping cannot rescue a Gram this indefinite within the retries.
	hopeless := &prune.Stats{In: 2, Gram: []float64{1, 1e6, 1e6, 1}, Tokens: 1, Seqs: 1}
	if _, _, err := DefaultSparseGPT().Prune(context.Background(), &model.Linear{Out: 2, In: 2, W: []float32{1, 2, 3, 4}}, hopeless, prune.Pattern{Ratio: 0.5}); err == nil || !strings.Contains(err.Error(), "Cholesky") {
		t.Errorf("error %v, want a Cholesky failure", err)
	}
}

// TestSparseGPTDeadColumns: an input that is always zero has its weights
// dropped and does not disturb the rest.
func TestSparseGPTDeadColumns(t *testing.T) {
	w0, st := layer(5, 8, 16, 100)
	dead := 5
	for i := 0; i < st.In; i++ {
		st.Gram[dead*st.In+i], st.Gram[i*st.In+dead] = 0, 0
	}
	w := clone(w0)
	_, rep, err := DefaultSparseGPT().Prune(context.Background(), w, st, prune.Pattern{N: 2, M: 4})
	if err != nil {
		t.Fatal(err)
	}
	for r := 0; r < w.Out; r++ {
		if w.W[r*w.In+dead] != 0 {
			t.Fatalf("row %d keeps weight %g on the dead input", r, w.W[r*w.In+dead])
		}
	}
	if len(rep.Notes) == 0 || !strings.Contains(rep.Notes[0], "dead") {
		t.Errorf("notes %q, want the dead column mentioned", rep.Notes)
	}
}

func TestPruneWithMaskRejectsShape(t *testing.T) {
	w, st := layer(6, 4, 8, 20)
	if _, err := DefaultSparseGPT().PruneWithMask(context.Background(), w, st, make(prune.Mask, 31)); err == nil {
		t.Error("mask of the wrong size accepted")
	}
}
