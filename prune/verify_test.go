package prune

import (
	"strings"
	"testing"

	"github.com/prunebench/prunebench/model"
)

func TestVerify(t *testing.T) {
	// A 2×8 weight; '1' = pruned in the masks below.
	w := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	parse := func(s string) Mask {
		m := make(Mask, len(s))
		for i := range s {
			m[i] = s[i] == '1'
		}
		return m
	}
	cases := []struct {
		name    string
		mask    string
		pattern Pattern
		perRow  bool
		zero    bool // apply the mask to the weight first
		wantErr string
	}{
		{"matrix ok", "1111111100000000", Pattern{Ratio: 0.5}, false, true, ""},
		{"matrix one short", "1111111000000000", Pattern{Ratio: 0.5}, false, true, "7 of 16 pruned"},
		{"matrix one over", "1111111110000000", Pattern{Ratio: 0.5}, false, true, "9 of 16 pruned"},
		{"row ok", "1111000011110000", Pattern{Ratio: 0.5}, true, true, ""},
		{"row unbalanced", "1111111100000000", Pattern{Ratio: 0.5}, true, true, "row 0: 8 of 8"},
		{"masked but non-zero", "1111111100000000", Pattern{Ratio: 0.5}, false, false, "masked but 1"},
		{"2:4 ok", "1100011010100101", Pattern{N: 2, M: 4}, false, true, ""},
		{"2:4 group off", "1110001010100101", Pattern{N: 2, M: 4}, false, true, "columns 0..3: 3 pruned"},
		{"4:8 ok", "1111000000001111", Pattern{N: 4, M: 8}, false, true, ""},
		{"1:4 ok", "1110111001111011", Pattern{N: 1, M: 4}, false, true, ""},
		{"3:4 needs 1 per group", "1000010000100011", Pattern{N: 3, M: 4}, false, true, "row 1, columns 4..7: 2 pruned"},
		{"M does not divide", "1111000011110000", Pattern{N: 1, M: 3}, false, true, "does not divide"},
		{"bad ratio", "1111000011110000", Pattern{Ratio: 1.5}, false, true, "(0,1)"},
		{"short mask", "111100001111000", Pattern{Ratio: 0.5}, false, false, "15 entries"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := &model.Linear{Out: 2, In: 8, W: append([]float32(nil), w...)}
			m := parse(c.mask)
			if c.zero {
				m.Apply(l.W)
			}
			err := Verify(m, l, c.pattern, c.perRow)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatal(err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

func TestVerifyAllowsExtraZeros(t *testing.T) {
	l := &model.Linear{Out: 1, In: 4, W: []float32{0, 0, 0, 5}}
	if err := Verify(Mask{true, true, false, false}, l, Pattern{Ratio: 0.5}, false); err != nil {
		t.Fatal(err)
	}
}
