package baselines

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// TestSparseGPTSharedFactor: linears reading one Stats (q, k, v) share
// SparseGPT's U from the Stats' cache, with masks and weights bit-identical
// to pruning each with its own copy of the statistics, including a dead
// input and N:M.
func TestSparseGPTSharedFactor(t *testing.T) {
	_, st := layer(7, 8, 32, 200)
	for i := 0; i < st.In; i++ {
		st.Gram[3*st.In+i], st.Gram[i*st.In+3] = 0, 0
	}
	copyStats := func() *prune.Stats {
		c := *st
		c.Gram = slices.Clone(st.Gram)
		return &c
	}
	for _, p := range []prune.Pattern{{Ratio: 0.5}, {N: 2, M: 4}} {
		for seed := uint64(30); seed < 33; seed++ {
			w, _ := layer(seed, 8, 32, 1)
			shared := &model.Linear{Out: w.Out, In: w.In, W: slices.Clone(w.W)}
			alone := &model.Linear{Out: w.Out, In: w.In, W: slices.Clone(w.W)}
			m1, r1, err := DefaultSparseGPT().Prune(context.Background(), shared, st, p)
			if err != nil {
				t.Fatal(err)
			}
			m2, r2, err := DefaultSparseGPT().Prune(context.Background(), alone, copyStats(), p)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m1, m2) || !slices.Equal(r1.Notes, r2.Notes) {
				t.Fatalf("%s linear %d: masks or notes differ (%q, %q)", p, seed, r1.Notes, r2.Notes)
			}
			if _, err := st.Memo(invCholKey{DefaultSparseGPT().PercDamp}, func() (any, error) {
				t.Fatal("U was not cached on the shared statistics")
				return nil, nil
			}); err != nil {
				t.Fatal(err)
			}
			for i := range shared.W {
				if math.Float32bits(shared.W[i]) != math.Float32bits(alone.W[i]) {
					t.Fatalf("%s linear %d: weight %d is %g shared, %g alone", p, seed, i, shared.W[i], alone.W[i])
				}
			}
		}
	}
}
