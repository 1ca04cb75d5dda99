package runners

import (
	"fmt"
	"math"
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

// forwardBytesPerToken is what one token costs in a forward pass: its
// logits and the activations of one block (residual, normalised copy,
// q/k/v, attention output, the MLP's gate, up and product), in float32.
func forwardBytesPerToken(c *model.Config) uint64 {
	return 4 * uint64(c.Vocab+4*c.Dim+2*c.QDim()+2*c.KVDim()+3*c.HiddenDim)
}

// maxBatchTokens is the evaluation batch in tokens that fits in share
// bytes: at most eval's default of 64k, at least one window of T.
func maxBatchTokens(c *model.Config, T int, share uint64) int {
	n := share / max(forwardBytesPerToken(c), 1)
	n = min(n, 1<<16)
	return max(int(n)/T*T, T)
}

// zeroShotMaxBatch is the sequences of at most contextLen tokens one
// zero-shot forward call may take in share bytes, at least one.
func zeroShotMaxBatch(c *model.Config, contextLen int, share uint64) int {
	per := forwardBytesPerToken(c) * uint64(max(contextLen, 1))
	return int(max(min(share/max(per, 1), 1<<10), 1))
}

// autoChunk picks the calibration sequences per block forward: all of them
// when their activations fit in budget, else the most that fit (at least
// one; checkMemory then judges the rest).
func autoChunk(c *model.Config, nseq, T int, budget uint64) int {
	fits := func(chunk int) bool {
		need := prune.CalibrationBytes(c, nseq, T, chunk)
		return need+need/4 <= budget
	}
	if fits(0) {
		return 0
	}
	lo, hi := 1, nseq-1 // fits(lo) assumed; the largest chunk that fits
	if !fits(lo) {
		return 1
	}
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
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
