package prune

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Pattern is a sparsity target: an unstructured ratio in (0,1) when M == 0,
// otherwise N kept of every M consecutive inputs of each output row.
type Pattern struct {
	Ratio float64
	N, M  int
}

// ParsePattern reads "0.6", "60%" or "2:4".
func ParsePattern(s string) (Pattern, error) {
	t := strings.TrimSpace(s)
	if a, b, ok := strings.Cut(t, ":"); ok {
		n, err1 := strconv.Atoi(strings.TrimSpace(a))
		m, err2 := strconv.Atoi(strings.TrimSpace(b))
		if err1 != nil || err2 != nil {
			return Pattern{}, fmt.Errorf("sparsity %q: want N:M with integers, e.g. 2:4", s)
		}
		p := Pattern{N: n, M: m}
		return p, p.Validate()
	}
	// A percentage is divided by 100, not multiplied by 0.01, whose
	// rounding makes "70%" 0.7000000000000001: another pattern than 0.7,
	// with another run ID.
	divisor := 1.0
	if strings.HasSuffix(t, "%") {
		t, divisor = strings.TrimSpace(strings.TrimSuffix(t, "%")), 100
	}
	r, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return Pattern{}, fmt.Errorf("sparsity %q: want a ratio in (0,1), a percentage or N:M", s)
	}
	p := Pattern{Ratio: r / divisor}
	return p, p.Validate()
}

// Validate checks the pattern on its own (not against a layer).
func (p Pattern) Validate() error {
	if p.M == 0 && p.N == 0 {
		if !(p.Ratio > 0 && p.Ratio < 1) || math.IsNaN(p.Ratio) {
			return fmt.Errorf("sparsity %g: must be in (0,1)", p.Ratio)
		}
		return nil
	}
	if p.N <= 0 || p.M <= 0 || p.N >= p.M {
		return fmt.Errorf("sparsity %d:%d: N:M needs 0 < N < M (N kept of every M)", p.N, p.M)
	}
	if p.M > MaxGroup {
		// M must divide a layer's width anyway; beyond float64's integers
		// 1 − N/M would even round to a sparsity of 1.
		return fmt.Errorf("sparsity %d:%d: M must be at most %d, the widest layer a model may have", p.N, p.M, MaxGroup)
	}
	return nil
}

// MaxGroup bounds M of an N:M pattern: the largest layer width a model
// config admits (2³¹−1).
const MaxGroup = math.MaxInt32

// Structured reports whether the pattern is N:M.
func (p Pattern) Structured() bool { return p.M > 0 }

// Sparsity is the fraction of pruned weights the pattern asks for.
func (p Pattern) Sparsity() float64 {
	if p.Structured() {
		return 1 - float64(p.N)/float64(p.M)
	}
	return p.Ratio
}

// Fits checks the pattern against a layer's input width.
func (p Pattern) Fits(in int) error {
	if p.Structured() && in%p.M != 0 {
		return fmt.Errorf("pattern %s: M=%d does not divide the layer's input width %d", p, p.M, in)
	}
	return nil
}

func (p Pattern) String() string {
	if p.Structured() {
		return fmt.Sprintf("%d:%d", p.N, p.M)
	}
	return strconv.FormatFloat(p.Ratio, 'g', -1, 64)
}

// PruneCount is how many of numel weights a ratio s prunes: int(numel·s),
// exactly as the reference code computes it (float artefacts included).
func PruneCount(numel int, s float64) int { return int(float64(numel) * s) }
