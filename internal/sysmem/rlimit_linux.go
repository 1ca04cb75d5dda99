package sysmem

import (
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// addressSpaceLimit returns the soft RLIMIT_AS, less the address space the
// process has mapped (/proc/self/statm), when a limit is set (RLIM_INFINITY
// is all ones).
func addressSpaceLimit() (uint64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &r); err != nil || uint64(r.Cur) == math.MaxUint64 {
		return 0, false
	}
	lim := uint64(r.Cur)
	// Address space already mapped (the Go runtime reserves much more than
	// its heap) is not available again.
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if pages, err := strconv.ParseUint(f[0], 10, 64); err == nil {
				used := pages * uint64(os.Getpagesize())
				lim = max(lim, used) - used
			}
		}
	}
	return lim, true
}
