//go:build unix

package spillmem

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// mapped holds the address ranges of the live buffers, so that Drop never
// advises anonymous memory, whose values MADV_DONTNEED would discard.
var mapped = struct {
	sync.Mutex
	ranges map[uintptr]uintptr // start → end
}{ranges: map[uintptr]uintptr{}}

func spilled(lo, hi uintptr) bool {
	mapped.Lock()
	defer mapped.Unlock()
	for start, end := range mapped.ranges {
		if lo >= start && hi <= end {
			return true
		}
	}
	return false
}

// Floats returns n float32 values, zero, backed by an unlinked file in
// os.TempDir (TMPDIR), and the function that unmaps them. n must be
// positive.
func Floats(n int) ([]float32, func() error, error) {
	if n <= 0 {
		return nil, nil, fmt.Errorf("spill of %d values: must be positive", n)
	}
	f, err := os.CreateTemp("", "prunebench-activations-")
	if err != nil {
		return nil, nil, fmt.Errorf("spill file for the activations: %w", err)
	}
	defer f.Close() // the mapping keeps the file
	if err := os.Remove(f.Name()); err != nil {
		return nil, nil, fmt.Errorf("spill file for the activations: %w", err)
	}
	size := int64(n) * 4
	if err := f.Truncate(size); err != nil {
		return nil, nil, fmt.Errorf("spill file for the activations in %s: %w", os.TempDir(), err)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("mapping the activations' spill file: %w", err)
	}
	v := unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
	start := uintptr(unsafe.Pointer(&b[0]))
	mapped.Lock()
	mapped.ranges[start] = start + uintptr(size)
	mapped.Unlock()
	free := func() error {
		mapped.Lock()
		delete(mapped.ranges, start)
		mapped.Unlock()
		return syscall.Munmap(b)
	}
	return v, free, nil
}

// Drop takes the whole pages inside v, part of a buffer from Floats, out
// of the resident set; their values stay and are read back when used. It
// does nothing to any other slice.
func Drop(v []float32) {
	if len(v) == 0 {
		return
	}
	if lo := uintptr(unsafe.Pointer(&v[0])); !spilled(lo, lo+uintptr(len(v))*4) {
		return
	}
	page := uintptr(os.Getpagesize())
	// The mapping starts on a page, so every page boundary falls between
	// two float32 values.
	skip := int((page - uintptr(unsafe.Pointer(&v[0]))%page) % page / 4)
	perPage := int(page / 4)
	whole := (len(v) - skip) / perPage * perPage
	if skip >= len(v) || whole <= 0 {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&v[skip])), whole*4)
	syscall.Madvise(b, syscall.MADV_DONTNEED)
}
