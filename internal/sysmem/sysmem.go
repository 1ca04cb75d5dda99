package sysmem

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"strconv"
)

// Reserve is subtracted from the address-space limit: the Go runtime maps
// more address space than the heap it hands out (arenas, stacks, metadata),
// so an allocation can fail well before the limit is reached.
const Reserve = 256 << 20

// What each bound is called in Available's second result.
const (
	WhatMemAvailable = "of memory available"
	WhatAddressSpace = "left under the address-space limit"
)

// Available returns the bytes the process may still allocate and which
// bound gave it (WhatMemAvailable or WhatAddressSpace); with no readable
// bound it returns math.MaxUint64 and "".
func Available() (bytes uint64, what string) {
	return available(readMemAvailable, addressSpaceLimit)
}

func available(mem, as func() (uint64, bool)) (uint64, string) {
	best, what := uint64(math.MaxUint64), ""
	if n, ok := mem(); ok && n < best {
		best, what = n, WhatMemAvailable
	}
	if n, ok := as(); ok {
		n = max(n, Reserve) - Reserve
		if n < best {
			best, what = n, WhatAddressSpace
		}
	}
	return best, what
}

// readMemAvailable reads MemAvailable (kB) from /proc/meminfo.
func readMemAvailable() (uint64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	return parseMemAvailable(b)
}

func parseMemAvailable(b []byte) (uint64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 2 || string(f[0]) != "MemAvailable:" {
			continue
		}
		kb, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil || kb > math.MaxUint64/1024 {
			return 0, false
		}
		if len(f) >= 3 && string(f[2]) != "kB" {
			return 0, false
		}
		return kb * 1024, true
	}
	return 0, false
}
