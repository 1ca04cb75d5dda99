package prune

import (
	"math"
	"testing"
)

func TestParsePattern(t *testing.T) {
	cases := []struct {
		in   string
		want Pattern
		ok   bool
	}{
		{"0.5", Pattern{Ratio: 0.5}, true},
		{" 60% ", Pattern{Ratio: 0.6}, true},
		// Exactly the ratio written as a decimal: 70 × 0.01 would not be.
		{"70%", Pattern{Ratio: 0.7}, true},
		{"57 %", Pattern{Ratio: 0.57}, true},
		{"83%", Pattern{Ratio: 0.83}, true},
		{"2:4", Pattern{N: 2, M: 4}, true},
		{"4:8", Pattern{N: 4, M: 8}, true},
		{"1:4", Pattern{N: 1, M: 4}, true},
		{"0", Pattern{}, false},
		{"1", Pattern{}, false},
		{"100%", Pattern{}, false},
		{"-0.2", Pattern{}, false},
		{"NaN", Pattern{}, false},
		{"4:4", Pattern{}, false},
		{"5:4", Pattern{}, false},
		{"0:4", Pattern{}, false},
		{"2:0", Pattern{}, false},
		{"2:x", Pattern{}, false},
		{"1:2147483647", Pattern{N: 1, M: 2147483647}, true},
		{"1:2147483648", Pattern{}, false},
		{"1:100000000000000000", Pattern{}, false}, // 1 − 1e-17 rounds to 1 (found by FuzzParsePattern)
		{"half", Pattern{}, false},
		{"", Pattern{}, false},
	}
	for _, c := range cases {
		got, err := ParsePattern(c.in)
		if (err == nil) != c.ok {
			t.Errorf("ParsePattern(%q): error %v, want ok=%v", c.in, err, c.ok)
			continue
		}
		if c.ok && (got.N != c.want.N || got.M != c.want.M || math.Abs(got.Ratio-c.want.Ratio) > 1e-15) {
			t.Errorf("ParsePattern(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"0.5", "60%", "2:4", "4:8", "1:4", "0.57", "3:2", "1e-3", "inf", "-1:4", ":", "%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePattern(s)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParsePattern(%q) = %+v, which does not validate: %v", s, p, err)
		}
		if sp := p.Sparsity(); !(sp > 0 && sp < 1) {
			t.Fatalf("ParsePattern(%q): sparsity %g outside (0,1)", s, sp)
		}
		// The canonical form must parse back to the same pattern.
		q, err := ParsePattern(p.String())
		if err != nil || q != p {
			t.Fatalf("ParsePattern(%q) = %+v prints %q, which parses to %+v, %v", s, p, p.String(), q, err)
		}
	})
}
