package prune

import (
	"math"
	"math/bits"
	"runtime"

	"github.com/prunebench/prunebench/model"
)

// CalibrationBytes estimates the memory Run allocates for nseq calibration
// windows of T tokens on a model of shape cfg, with chunk sequences per
// block forward (0 = all), so that a caller can refuse a run before
// anything is allocated: a Go out-of-memory error cannot be recovered.
//
// It counts, in bytes:
//   - the calibration tokens: the windows ([][]int, 8 per token plus a
//     slice header per window) and Run's flattened copy (8 per token);
//   - the residual stream kept across blocks: nseq·T·Dim float32;
//   - per chunk of cs = min(chunk, nseq) sequences (cs·T rows): the scratch
//     copy of the block inputs (Dim), the block-forward workspace xn and
//     out (Dim each), q and att (QDim each), k and v (KVDim each), gate and
//     up (HiddenDim each), all float32, and one attention score buffer of
//     min(T, 128)·T float32 per worker (at most GOMAXPROCS);
//   - the statistics: the four Gram matrices (Dim², QDim², Dim², HiddenDim²
//     float64) and the float64 copy Stats.Add makes of one slab of rows.
//
// Weights and the methods' own per-linear work are not counted. The
// arithmetic saturates at math.MaxUint64 rather than overflowing.
func CalibrationBytes(cfg *model.Config, nseq, T, chunk int) uint64 {
	if cfg == nil || nseq <= 0 || T <= 0 {
		return 0
	}
	u := func(n int) uint64 { return uint64(max(n, 0)) }
	cs := nseq
	if chunk > 0 && chunk < nseq {
		cs = chunk
	}
	d, qd, kvd, h := u(cfg.Dim), u(cfg.QDim()), u(cfg.KVDim()), u(cfg.HiddenDim)
	tokens := mulSat(u(nseq), u(T))
	rows := mulSat(u(cs), u(T))

	total := mulSat(tokens, 16)                                                                // windows + flattened copy
	total = addSat(total, mulSat(u(nseq), 24))                                                 // window slice headers
	total = addSat(total, mulSat(tokens, 4*d))                                                 // residual stream
	width := addSat(addSat(mulSat(3, d), mulSat(2, qd)), addSat(mulSat(2, kvd), mulSat(2, h))) // scratch + workspace
	total = addSat(total, mulSat(mulSat(rows, width), 4))
	workers := min(mulSat(u(cs), u(cfg.Heads)), u(runtime.GOMAXPROCS(0)))
	scores := mulSat(u(min(T, 128)), u(T))
	total = addSat(total, mulSat(mulSat(workers, scores), 4))
	for _, w := range [4]uint64{d, qd, d, h} {
		total = addSat(total, mulSat(mulSat(w, w), 8))
	}
	var slab uint64
	for _, w := range [4]uint64{d, qd, d, h} {
		if w == 0 {
			continue
		}
		step := max(64, uint64(chunkBytes)/mulSat(8, w))
		slab = max(slab, mulSat(mulSat(min(step, rows), w), 8))
	}
	return addSat(total, slab)
}

func mulSat(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}

func addSat(a, b uint64) uint64 {
	s, c := bits.Add64(a, b, 0)
	if c != 0 {
		return math.MaxUint64
	}
	return s
}

// InputBytes is the part of CalibrationBytes that PipelineOptions.
// SpillInputs moves to a file: the nseq·T·Dim float32 block inputs.
func InputBytes(cfg *model.Config, nseq, T int) uint64 {
	if cfg == nil || nseq <= 0 || T <= 0 || cfg.Dim <= 0 {
		return 0
	}
	return mulSat(mulSat(uint64(nseq), uint64(T)), 4*uint64(cfg.Dim))
}
