package linalg

import "github.com/prunebench/prunebench/linalg/internal/vecmath"

// Limits of ExpShift: e^v is +Inf above ExpMax and 0 below ExpFlush.
const (
	ExpMax   = vecmath.ExpMax
	ExpFlush = vecmath.ExpFlush
)

// ExpShift replaces every x[i] by e^(x[i]−shift) in float32 and returns
// their sum (accumulated in float64). Each result is within 2 ulp of the
// exact value; below ExpFlush (−80) it is 0, above ExpMax +Inf, and NaN
// stays NaN. Eight elements at a time with AVX2 and FMA on amd64, a scalar
// Go loop elsewhere.
func ExpShift(x []float32, shift float32) float32 { return vecmath.ExpShift(x, shift) }

// Exp32 is e^v in float32 with ExpShift's accuracy and limits.
func Exp32(v float32) float32 { return vecmath.Exp32(v) }

// MaxOf is the largest element of a non-empty x. With a NaN in x the result
// may be NaN or the largest of the other elements.
func MaxOf(x []float32) float32 { return vecmath.MaxOf(x) }
