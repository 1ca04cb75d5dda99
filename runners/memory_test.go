package runners

import (
	"math"
	"testing"

	"github.com/prunebench/prunebench/internal/sysmem"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

func TestParseMemory(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
	}{
		{"1024", 1024}, {"16GB", 16e9}, {"16 GiB", 16 << 30}, {"512M", 512 << 20}, {"1.5g", 3 << 29},
		{"24gb", 24e9}, {"2TiB", 2 << 40}, {"100kB", 100e3}, {"8b", 8},
	} {
		got, err := ParseMemory(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "GB", "-1GB", "0", "12 parsecs", "1e30TB", "NaN", "inf"} {
		if v, err := ParseMemory(bad); err == nil {
			t.Errorf("ParseMemory(%q) = %d, want an error", bad, v)
		}
	}
}

// TestBatchSizes: an evaluation batch's logits and activations stay in
// their share, down to one window, and a zero-shot batch to one sequence.
func TestBatchSizes(t *testing.T) {
	c := model.LLaMA7B
	per := forwardBytesPerToken(&c)
	for _, share := range []uint64{0, 1 << 20, 1 << 30, 8 << 30, 1 << 40, math.MaxUint64} {
		n := maxBatchTokens(&c, 2048, 0, share)
		if n%2048 != 0 || n < 2048 || n > 1<<16 {
			t.Errorf("share %d: %d tokens: want whole windows of 2048, 1 to 32 of them", share, n)
		}
		if n > 2048 && uint64(n)*per > share {
			t.Errorf("share %d: %d tokens need %d bytes", share, n, uint64(n)*per)
		}
		if b := zeroShotMaxBatch(&c, 2048, share); b < 1 || b > 1 && uint64(b)*2048*per > share {
			t.Errorf("share %d: zero-shot batch %d", share, b)
		}
	}
	// A LLaMA-7B token costs 391 kB (128 kB of logits): 8 GB holds 9
	// windows of 2048, not the default 64k tokens (25 GB).
	if n := maxBatchTokens(&c, 2048, 0, 8e9); n != 9*2048 {
		t.Errorf("7B in 8 GB: %d tokens, want %d", n, 9*2048)
	}
	// With the logits of the second half only (llama.cpp's protocol), a
	// window costs 2048·263 kB + 1024·128 kB = 670 MB: 11 windows.
	if n := maxBatchTokens(&c, 2048, 1024, 8e9); n != 11*2048 {
		t.Errorf("7B in 8 GB, logits from 1024: %d tokens, want %d", n, 11*2048)
	}
}

// TestAutoChunk compares the chunk and the spill decision with a search
// over every chunk size: the inputs stay in memory while a one-sequence
// chunk fits beside them.
func TestAutoChunk(t *testing.T) {
	c := model.LLaMA7B
	inputs := prune.InputBytes(&c, 128, 2048)
	if inputs != 128*2048*4096*4 {
		t.Fatalf("InputBytes %d", inputs)
	}
	for _, budget := range []uint64{1 << 30, 3 << 30, 6 << 30, 12 << 30, 40 << 30, 1 << 50} {
		got, spill := autoChunk(&c, 128, 2048, budget)
		work := uint64(11008*11008*12 + 4*4096*11008*4) // methodBytes of LLaMA-7B
		need := func(k int) uint64 {
			n := prune.CalibrationBytes(&c, 128, 2048, k) + work
			if spill {
				n -= inputs
			}
			return n + n/4
		}
		wantSpill := (prune.CalibrationBytes(&c, 128, 2048, 1)+work)*5/4 > budget && (prune.CalibrationBytes(&c, 128, 2048, 0)+work)*5/4 > budget
		want := 1
		if need(0) <= budget {
			want = 0
		} else {
			for k := 1; k < 128; k++ {
				if need(k) <= budget {
					want = k
				}
			}
		}
		if got != want || spill != wantSpill {
			t.Errorf("budget %d: chunk %d spill %v, want %d and %v", budget, got, spill, want, wantSpill)
		}
		t.Logf("budget %d GiB: chunk %d, spill %v", budget>>30, got, spill)
	}
}

// TestEvalBudget: evaluation gets a quarter of the float32 weights (at
// least 16 MiB, at most the run's budget), or --max-memory when given.
func TestEvalBudget(t *testing.T) {
	defer SetAvailableMemory(20e9, sysmem.WhatMemAvailable)()
	c := model.LLaMA7B
	params, _ := c.Params()
	tiny := model.Config{Dim: 64, HiddenDim: 172, Layers: 5, Heads: 8, KVHeads: 4, HeadDim: 8, Vocab: 512, SeqLen: 512, NormEps: 1e-5, RopeBase: 10000}
	for _, tc := range []struct {
		c         model.Config
		maxMemory uint64
		want      uint64
	}{
		{c, 0, uint64(params)}, // 6.7 GB: a quarter of 27 GB
		{c, 2e9, 2e9},          // --max-memory wins
		{tiny, 0, 16 << 20},    // the floor
		{model.Config{Dim: 8192, HiddenDim: 28672, Layers: 80, Heads: 64, KVHeads: 8, HeadDim: 128, Vocab: 32000, SeqLen: 4096, NormEps: 1e-5, RopeBase: 10000}, 0, 15e9}, // 70B: 3/4 of the 20 GB available
	} {
		if got := evalBudget(&tc.c, tc.maxMemory); got != tc.want {
			t.Errorf("dim %d, --max-memory %d: %d bytes, want %d", tc.c.Dim, tc.maxMemory, got, tc.want)
		}
	}
}
