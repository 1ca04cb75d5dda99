package memtest

import "runtime"

// Allocated returns the bytes fn allocates in all, an upper bound of the
// memory it needs at its peak. Allocations by other goroutines running at
// the same time are counted too, so callers keep their bounds generous.
func Allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
