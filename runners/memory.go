package runners

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// The memory budget sizes what a run allocates beyond the weights: the
// calibration chunk (sequences per block forward), the perplexity and KLD
// batches and the zero-shot batch, so that logits and activations never
// exceed their share however large the vocabulary or the evaluation.

// defaultBudgetShare is the fraction of the memory available when a run
// starts that its work may take by default: the rest is headroom for the
// garbage collector and the system.
const defaultBudgetShare = 0.75

// memoryBudget is maxMemory when set, else defaultBudgetShare of what the
// process can allocate (sysmem.Available; no bound means no limit).
func memoryBudget(maxMemory uint64) uint64 {
	if maxMemory > 0 {
		return maxMemory
	}
	avail, what := availableMemory()
	if what == "" {
		return math.MaxUint64
	}
	return uint64(float64(avail) * defaultBudgetShare)
}

// Evaluation batches gain little speed past a few windows (stories260K's
// 200-window llama.cpp-protocol perplexity, `ppl --model stories260K
// --max-windows 200 --protocol llamacpp --seqlen 512 --max-memory M` under
// /usr/bin/time: 3.05 s in 59 MB peak with 16 MiB, 2.68 s in 104 MB with
// 64 MiB), so by default they get a
// share sized like the model rather than the machine: a quarter of the
// float32 weights, at least evalMinBytes, as llama.cpp's perplexity tool
// stays near the size of its weights. An explicit --max-memory is used
// whole.
const evalMinBytes = 16 << 20

// evalBudget is the bytes an evaluation's logits and activations may take.
func evalBudget(c *model.Config, maxMemory uint64) uint64 {
	if maxMemory > 0 {
		return maxMemory
	}
	params, _ := c.Params()
	return min(memoryBudget(0), max(evalMinBytes, uint64(params)))
}

// activationBytesPerToken is what one token costs in a forward pass
// besides its logits: the activations of one block (residual, normalised
// copy, q/k/v, attention output, the MLP's gate, up and product), in
// float32.
func activationBytesPerToken(c *model.Config) uint64 {
	return 4 * uint64(4*c.Dim+2*c.QDim()+2*c.KVDim()+3*c.HiddenDim)
}

// forwardBytesPerToken is a token's activations and its logits.
func forwardBytesPerToken(c *model.Config) uint64 {
	return activationBytesPerToken(c) + 4*uint64(c.Vocab)
}

// maxBatchTokens is the evaluation batch in tokens, whole windows of T,
// that fits in share bytes when each window keeps the logits of its
// positions from..T−1 (eval.LogitsFrom): at most eval's default of 64k
// tokens, at least one window.
func maxBatchTokens(c *model.Config, T, from int, share uint64) int {
	per := uint64(T)*activationBytesPerToken(c) + uint64(T-from)*4*uint64(c.Vocab)
	windows := min(share/max(per, 1), uint64((1<<16)/max(T, 1)))
	return max(int(windows), 1) * T
}

// zeroShotMaxBatch is the sequences of at most contextLen tokens one
// zero-shot forward call may take in share bytes, at least one.
func zeroShotMaxBatch(c *model.Config, contextLen int, share uint64) int {
	per := forwardBytesPerToken(c) * uint64(max(contextLen, 1))
	return int(max(min(share/max(per, 1), 1<<10), 1))
}

// calibrationNeed is what a calibration of nseq windows of T tokens takes
// in memory with chunk sequences per block forward, with a quarter more
// for the garbage the collector has not reclaimed yet; spilled inputs
// (prune.InputBytes) are not counted.
func calibrationNeed(c *model.Config, nseq, T, chunk int, spill bool) uint64 {
	need := prune.CalibrationBytes(c, nseq, T, chunk)
	if spill {
		need -= prune.InputBytes(c, nseq, T)
	}
	need += methodBytes(c)
	return need + need/4
}

// methodBytes bounds what the heaviest methods (SparseGPT, ADMM) allocate
// for one linear beside its statistics, on the widest input n (down_proj's
// HiddenDim) and its m outputs: a float64 n×n inverse or factorisation and
// its float32 copy, and four m×n float32 buffers (weights, masks, dual and
// update). For LLaMA-7B that is 2.2 GB.
func methodBytes(c *model.Config) uint64 {
	n := uint64(max(c.Dim, c.QDim(), c.HiddenDim))
	m := uint64(c.Dim)
	if n == uint64(c.Dim) {
		m = uint64(max(c.HiddenDim, c.QDim()))
	}
	return n*n*12 + 4*m*n*4
}

// autoChunk picks the calibration sequences per block forward and whether
// the block inputs spill to a file: all sequences in memory when they fit
// in budget, else the most sequences that fit with the inputs in memory,
// else (a one-sequence chunk does not fit beside the inputs) the most
// that fit with the inputs spilled (at least one; checkMemory then judges).
func autoChunk(c *model.Config, nseq, T int, budget uint64) (chunk int, spill bool) {
	if calibrationNeed(c, nseq, T, 0, false) <= budget {
		return 0, false
	}
	spill = calibrationNeed(c, nseq, T, 1, false) > budget
	fits := func(chunk int) bool { return calibrationNeed(c, nseq, T, chunk, spill) <= budget }
	if spill && fits(0) {
		return 0, true
	}
	lo, hi := 1, nseq-1 // fits(lo) assumed; the largest chunk that fits
	if !fits(lo) {
		return 1, spill
	}
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, spill
}

// reportChunk tells on progress how autoChunk fitted the calibration to
// the memory budget, when it had to.
func reportChunk(progress io.Writer, chunk int, spill bool, nseq int) {
	if chunk > 0 {
		fmt.Fprintf(progress, "prune: %d of %d calibration sequences per block forward, to fit the memory budget\n", chunk, nseq)
	}
	if spill {
		fmt.Fprintf(progress, "prune: the block inputs are kept in a temporary file in %s, to fit the memory budget\n", os.TempDir())
	}
}

// ParseMemory reads a memory size: a number of bytes with an optional
// unit, decimal (kB, MB, GB, TB) or binary (KiB, MiB, GiB, TiB); a bare
// K, M, G or T is binary, as in ulimit and Slurm's --mem.
func ParseMemory(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') && t[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.ToLower(strings.TrimSpace(t[i:]))
	scale, ok := map[string]float64{
		"": 1, "b": 1,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || v <= 0 || math.IsInf(v*scale, 0) || v*scale >= math.MaxUint64 {
		return 0, fmt.Errorf("memory size %q: want a positive number of bytes with an optional unit, e.g. 24GB, 16GiB or 512M", s)
	}
	return uint64(v * scale), nil
}
