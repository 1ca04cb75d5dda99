package linalg

import (
	"strings"
	"testing"
)

func TestBetterCore(t *testing.T) {
	for _, c := range []struct {
		detected string
		have     vectorTier
		want     string
	}{
		{"Prescott", tierAVX512, "SkylakeX"}, // Debian 12's OpenBLAS on an Emerald Rapids Xeon
		{"Prescott", tierAVX2, "Haswell"},
		{"Prescott", tierAVX, "SandyBridge"},
		{"Prescott", tierSSE, ""},
		{"Nehalem", tierAVX2, "Haswell"},
		{"Haswell", tierAVX512, "SkylakeX"},
		{"Zen", tierAVX512, "SkylakeX"},
		{"Zen", tierAVX2, ""},
		{"SkylakeX", tierAVX512, ""},
		{"Cooperlake", tierAVX512, ""},
		{"SAPPHIRERAPIDS", tierAVX512, ""}, // names compare without case
		{"SkylakeX", tierAVX2, ""},         // never downgraded
		{"NeoverseN1", tierAVX512, ""},     // unknown names are left alone
		{"", tierAVX512, ""},
	} {
		if got := betterCore(c.detected, c.have); got != c.want {
			t.Errorf("betterCore(%q, %d) = %q, want %q", c.detected, c.have, got, c.want)
		}
	}
}

// Every core betterCore may force is one OpenBLAS knows, in the tier it
// is forced for.
func TestTierCoresAreKnown(t *testing.T) {
	for tier, name := range tierCores {
		if got, ok := coreTiers[strings.ToLower(name)]; !ok || got != tier {
			t.Errorf("tierCores[%d] = %q, which coreTiers puts in tier %d (known %v)", tier, name, got, ok)
		}
	}
}
