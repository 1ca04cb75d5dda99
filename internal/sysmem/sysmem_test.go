package sysmem

import (
	"math"
	"testing"
)

func TestAvailable(t *testing.T) {
	none := func() (uint64, bool) { return 0, false }
	val := func(n uint64) func() (uint64, bool) { return func() (uint64, bool) { return n, true } }
	for _, c := range []struct {
		name     string
		mem, as  func() (uint64, bool)
		want     uint64
		wantWhat string
	}{
		{"nothing", none, none, math.MaxUint64, ""},
		{"meminfo only", val(8 << 30), none, 8 << 30, WhatMemAvailable},
		{"limit only", none, val(4 << 30), 4<<30 - Reserve, WhatAddressSpace},
		{"limit smaller", val(8 << 30), val(4 << 30), 4<<30 - Reserve, WhatAddressSpace},
		{"meminfo smaller", val(1 << 30), val(4 << 30), 1 << 30, WhatMemAvailable},
		{"limit below reserve", val(1 << 30), val(100 << 20), 0, WhatAddressSpace},
	} {
		got, what := available(c.mem, c.as)
		if got != c.want || what != c.wantWhat {
			t.Errorf("%s: %d %q, want %d %q", c.name, got, what, c.want, c.wantWhat)
		}
	}
	if n, what := Available(); n == 0 || (what == "") != (n == math.MaxUint64) {
		t.Errorf("Available() = %d, %q", n, what)
	}
}

func TestParseMemAvailable(t *testing.T) {
	in := "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    2000000 kB\n"
	if n, ok := parseMemAvailable([]byte(in)); !ok || n != 2000000*1024 {
		t.Errorf("got %d %v", n, ok)
	}
	for _, bad := range []string{"", "MemFree: 1 kB\n", "MemAvailable: x kB\n", "MemAvailable: 99999999999999999999 kB\n"} {
		if n, ok := parseMemAvailable([]byte(bad)); ok {
			t.Errorf("%q: got %d", bad, n)
		}
	}
}
