package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// randomMerges draws n distinct merge texts of 2..4 alphabet units with
// scores from a small set, so that ties (resolved leftmost) are common.
func randomMerges(rng *rand.Rand, n int, taken map[string]bool) []vocabRecord {
	var recs []vocabRecord
	for len(recs) < n {
		s := randomText(rng, testAlphabet, 2+rng.IntN(3))
		if taken[s] {
			continue
		}
		taken[s] = true
		recs = append(recs, vocabRecord{s, -float32(rng.IntN(4))})
	}
	return recs
}

// TestLlama2CMatchesNaive checks the queue-based, split and parallel merge
// against run.c's quadratic loop on random vocabularies and texts.
func TestLlama2CMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for v := range 20 {
		recs := llama2cBase()
		taken := map[string]bool{}
		for _, r := range recs {
			taken[r.text] = true
		}
		// Single units first so that code points are found as entries,
		// except "é", which must take the byte fallback.
		for _, u := range testAlphabet {
			if u != "é" && !taken[u] {
				taken[u] = true
				recs = append(recs, vocabRecord{u, -5})
			}
		}
		recs = append(recs, randomMerges(rng, 60, taken)...)
		// A merge run.c never makes: its score is not above -1e10.
		recs = append(recs, vocabRecord{"dd", -1e10})
		tok := mustLlama2C(t, recs)
		for range 200 {
			text := randomText(rng, testAlphabet, rng.IntN(40))
			got := tok.Encode(text, false, false)
			if want := naiveRunC(tok, text); !slices.Equal(got, want) {
				t.Fatalf("vocab %d, text %q:\n got %v\nwant %v", v, text, got, want)
			}
		}
	}
}

func TestSentencePieceMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for v := range 20 {
		ps := spBase()
		taken := map[string]bool{}
		for _, p := range ps {
			taken[p.text] = true
		}
		for _, u := range []string{"a", "b", "c", "▁", "中", "<", ">"} {
			taken[u] = true
			ps = append(ps, spPiece{u, -10, typeNormal})
		}
		types := []int32{typeNormal, typeNormal, typeUserDefined, typeControl, typeUnused}
		for _, r := range randomMerges(rng, 60, taken) {
			ps = append(ps, spPiece{r.text, r.score, types[rng.IntN(len(types))]})
		}
		trainer := bpeTrainer
		if v%2 == 1 {
			trainer = pbBytes(2, pbInt(3, modelBPE)) // byte fallback off
		}
		tok := mustSP(t, spModel(ps, trainer, llamaNormalizer))
		for range 200 {
			text := randomText(rng, testAlphabet, rng.IntN(40))
			got := tok.Encode(text, false, false)
			if want := naiveSP(tok, text); !slices.Equal(got, want) {
				t.Fatalf("vocab %d, text %q:\n got %v\nwant %v", v, text, got, want)
			}
		}
	}
}

// TestMergeSplitting checks that cutting a long text into independent
// stretches and merging them on all cores, or chunk by chunk as Encode
// streams them, gives what one queue over the whole text gives (the latter
// is checked against the quadratic loop above).
func TestMergeSplitting(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	recs := llama2cBase()
	taken := map[string]bool{}
	for _, r := range recs {
		taken[r.text] = true
	}
	for _, u := range testAlphabet {
		taken[u] = true
		recs = append(recs, vocabRecord{u, -5})
	}
	recs = append(recs, randomMerges(rng, 200, taken)...)
	tok := mustLlama2C(t, recs)
	text := randomText(rng, testAlphabet, 3*streamChunk)
	var syms []symbol
	tok.symbols(text, func(s symbol) { syms = append(syms, s) })
	var ws workspace
	want := slices.Clone(ws.merge(tok.merger, slices.Clone(syms)))
	if len(want) == len(syms) {
		t.Fatal("no merges happened; the test exercises nothing")
	}
	// Streamed: merged chunk by chunk up to the last uncrossable boundary.
	var streamed []symbol
	sm := streamMerger{m: tok.merger, emit: func(s symbol) { streamed = append(streamed, s) }}
	for _, s := range syms {
		sm.add(s)
	}
	sm.flush(true)
	if !slices.Equal(streamed, want) {
		t.Fatalf("streamed merge differs from one queue: %d vs %d symbols", len(streamed), len(want))
	}
	got := tok.merger.merge(syms)
	if !slices.Equal(got, want) {
		t.Fatalf("split merge differs from one queue: %d vs %d symbols", len(got), len(want))
	}
}

// TestStreamMergeWithoutBoundary: a text no boundary cuts (a run of one
// letter that merges with itself) streams in linear work: a look for a
// boundary that finds none waits for the buffer to double. Before, every
// symbol past streamChunk rescanned the whole buffer, so this text of
// 8·streamChunk symbols took tens of minutes (the package's test timeout)
// instead of a fraction of a second. The result is one queue's.
func TestStreamMergeWithoutBoundary(t *testing.T) {
	tok := mustLlama2C(t, append(llama2cBase(), vocabRecord{" ", -1}, vocabRecord{"a", -1}, vocabRecord{"aa", -2}, vocabRecord{"aaaa", -3}))
	var syms []symbol
	tok.symbols(strings.Repeat("a", 8*streamChunk), func(s symbol) { syms = append(syms, s) })
	if tok.merger.separable("a", "a") {
		t.Fatal("a|a is a boundary; the test exercises nothing")
	}
	var streamed []symbol
	sm := streamMerger{m: tok.merger, emit: func(s symbol) { streamed = append(streamed, s) }}
	for _, s := range syms {
		sm.add(s)
	}
	sm.flush(true)
	var ws workspace
	if want := ws.merge(tok.merger, slices.Clone(syms)); !slices.Equal(streamed, want) {
		t.Fatalf("streamed merge differs from one queue: %d vs %d symbols", len(streamed), len(want))
	}
}

func TestSeparable(t *testing.T) {
	recs := append(llama2cBase(), vocabRecord{" ", -1}, vocabRecord{"a", -1}, vocabRecord{"b", -1},
		vocabRecord{"ab", -2}, vocabRecord{" é", -3}, vocabRecord{"x", -1e10}, vocabRecord{"xa", -1e10})
	m := mustLlama2C(t, recs).merger
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"a", "b", false},          // inside "ab"
		{"b", "a", true},           // no entry has "ba"
		{"<0xC3>", "a", true},      // '>' then 'a' occurs nowhere
		{"<0xC3>", "<0xA9>", true}, // no entry has "><"
		{" ", "é", false},
		{"x", "a", true},     // "xa" is never a merge result (score -1e10)
		{"a", "\x80", false}, // malformed edge
		{"", "a", false},
	} {
		if got := m.separable(c.a, c.b); got != c.want {
			t.Errorf("separable(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
