package prune

import (
	"errors"
	"testing"
)

// TestMemo: one computation per key; errors are not cached; Add, a reset
// of Tokens/Seqs (the pipeline's between blocks), a replaced Gram and
// ReleaseCache empty the cache; a copied Stats does not see the original's
// entries.
func TestMemo(t *testing.T) {
	st := NewStats(2)
	if err := st.Add([]float32{1, 2, 3, 4}, 2, 1); err != nil {
		t.Fatal(err)
	}
	calls := 0
	get := func(s *Stats, key any) any {
		v, err := s.Memo(key, func() (any, error) { calls++; return calls, nil })
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if get(st, "a") != 1 || get(st, "a") != 1 || get(st, "b") != 2 || st.cached() != 2 {
		t.Fatalf("first computations: %d calls, %d cached", calls, st.cached())
	}
	if _, err := st.Memo("c", func() (any, error) { return nil, errors.New("boom") }); err == nil || st.cached() != 2 {
		t.Fatalf("an error was cached or lost: %v", err)
	}
	cp := *st
	if get(&cp, "a") != 3 || get(st, "a") != 1 {
		t.Error("a copied Stats shares the original's entries")
	}
	if err := st.Add([]float32{1, 1}, 1, 1); err != nil {
		t.Fatal(err)
	}
	if st.cached() != 0 || get(st, "a") != 4 {
		t.Error("Add did not empty the cache")
	}
	clear(st.Gram)
	st.Tokens, st.Seqs = 0, 0
	if get(st, "a") != 5 {
		t.Error("a reset of Tokens and Seqs did not empty the cache")
	}
	st.Gram = make([]float64, 4)
	if get(st, "a") != 6 {
		t.Error("a replaced Gram did not empty the cache")
	}
	st.ReleaseCache()
	if st.cached() != 0 || st.cache != nil || get(st, "a") != 7 {
		t.Error("ReleaseCache did not empty the cache")
	}
}
