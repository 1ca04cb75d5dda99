package prune

import (
	"math"
	"runtime"
	"testing"

	"github.com/prunebench/prunebench/model"
)

func TestCalibrationBytes(t *testing.T) {
	// dim 8, 2 heads of 4, 1 kv head, hidden 16.
	cfg := &model.Config{Dim: 8, HiddenDim: 16, Layers: 1, Heads: 2, KVHeads: 1, HeadDim: 4, SeqLen: 16}
	nseq, T := 10, 4
	workers := func(cs int) uint64 { return uint64(min(cs*2, runtime.GOMAXPROCS(0))) }
	gram := uint64(8 * (64 + 64 + 64 + 256))
	hand := func(cs int) uint64 {
		tok := uint64(nseq * T)
		rows := uint64(cs * T)
		b := tok*16 + uint64(nseq)*24 // windows, flat copy, headers
		b += tok * 8 * 4              // residual
		// scratch 8 + xn 8 + out 8 + q 8 + att 8 + k 4 + v 4 + gate 16 + up 16 = 80
		b += rows * 80 * 4
		b += workers(cs) * 4 * 4 * 4 // scores min(T,128)·T
		b += gram
		b += rows * 16 * 8 // Stats.Add slab of the widest input
		return b
	}
	for _, chunk := range []int{0, 3, 10, 20} {
		cs := nseq
		if chunk > 0 && chunk < nseq {
			cs = chunk
		}
		if got, want := CalibrationBytes(cfg, nseq, T, chunk), hand(cs); got != want {
			t.Errorf("chunk %d: %d bytes, want %d", chunk, got, want)
		}
	}
	if got := CalibrationBytes(cfg, 0, T, 0); got != 0 {
		t.Errorf("no samples: %d", got)
	}
	if got := CalibrationBytes(cfg, math.MaxInt, math.MaxInt, 0); got != math.MaxUint64 {
		t.Errorf("overflow: %d, want saturation", got)
	}
}
