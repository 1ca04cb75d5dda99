package spillmem

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// resident is the process's resident set in bytes (/proc/self/statm).
func resident(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm")
	}
	pages, err := strconv.ParseInt(strings.Fields(string(b))[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// TestFloatsKeepValuesAcrossDrop: Drop takes a written spilled buffer out
// of the resident set, its values read back the same after (the pages come
// back from the file), and the file leaves nothing in TMPDIR.
func TestFloatsKeepValuesAcrossDrop(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	const n = 3<<20 + 17 // several pages, not a whole number of them
	v, free, err := Floats(n)
	if err != nil {
		t.Fatal(err)
	}
	defer free()
	if es, _ := os.ReadDir(tmp); len(es) != 0 {
		t.Errorf("TMPDIR holds %v; the spill file is unlinked", es)
	}
	for i := range v {
		v[i] = float32(i%1000) * 0.5
	}
	before := resident(t)
	Drop(v[5:])
	Drop(v[:0])
	if after := resident(t); before-after < 8<<20 {
		t.Errorf("resident set %d → %d bytes after dropping 12 MiB", before, after)
	}
	for i := range v {
		if want := float32(i%1000) * 0.5; v[i] != want {
			t.Fatalf("v[%d] = %g after Drop, want %g", i, v[i], want)
		}
	}
	// Anonymous memory would lose its values to MADV_DONTNEED.
	heap := make([]float32, 1<<20)
	for i := range heap {
		heap[i] = 7
	}
	Drop(heap)
	for i, x := range heap {
		if x != 7 {
			t.Fatalf("Drop changed heap[%d], a slice it did not map, to %g", i, x)
		}
	}
	if _, _, err := Floats(0); err == nil {
		t.Error("Floats(0): no error")
	}
}
