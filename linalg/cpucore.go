package linalg

import (
	"strings"

	"golang.org/x/sys/cpu"
)

// vectorTier orders x86-64 vector extensions by what OpenBLAS kernels
// need: SSE3 (Prescott's kernels), AVX, AVX2 with FMA, AVX-512.
type vectorTier int

const (
	tierSSE vectorTier = iota
	tierAVX
	tierAVX2
	tierAVX512
)

// coreTiers gives the tier of the kernels behind each x86-64 core name
// OpenBLAS reports (openblas_get_corename, lower-cased). Names missing
// here (a later OpenBLAS's, or another architecture's) are never
// overridden.
var coreTiers = map[string]vectorTier{
	"katmai": tierSSE, "coppermine": tierSSE, "northwood": tierSSE, "prescott": tierSSE,
	"banias": tierSSE, "atom": tierSSE, "core2": tierSSE, "penryn": tierSSE,
	"dunnington": tierSSE, "nehalem": tierSSE, "athlon": tierSSE, "opteron": tierSSE,
	"opteron_sse3": tierSSE, "barcelona": tierSSE, "nano": tierSSE, "bobcat": tierSSE,
	"sandybridge": tierAVX, "bulldozer": tierAVX, "piledriver": tierAVX, "steamroller": tierAVX,
	"haswell": tierAVX2, "excavator": tierAVX2, "zen": tierAVX2,
	"skylakex": tierAVX512, "cooperlake": tierAVX512, "sapphirerapids": tierAVX512,
}

// tierCores is the core forced for a tier: the kernels OpenBLAS's own
// feature-based fallback picks for it.
var tierCores = map[vectorTier]string{tierAVX: "SandyBridge", tierAVX2: "Haswell", tierAVX512: "SkylakeX"}

// cpuTier is the highest tier this processor and its operating system
// support (x/sys/cpu checks that the OS saves the wider registers);
// tierSSE off x86, so that no core is ever forced there.
func cpuTier() vectorTier {
	x := cpu.X86
	switch {
	case x.HasAVX512F && x.HasAVX512CD && x.HasAVX512BW && x.HasAVX512DQ && x.HasAVX512VL:
		return tierAVX512
	case x.HasAVX2 && x.HasFMA:
		return tierAVX2
	case x.HasAVX:
		return tierAVX
	}
	return tierSSE
}

// betterCore returns the OpenBLAS core to force when the one a
// DYNAMIC_ARCH OpenBLAS detected has weaker kernels than the processor
// supports, else "". It happens when the library predates the processor:
// Debian 12's OpenBLAS 0.3.21 takes an Emerald Rapids Xeon (family 6,
// model 207) for a Prescott and runs sgemm with SSE3 kernels at 60
// GFLOP/s on two cores, where its SkylakeX kernels reach 320.
func betterCore(detected string, have vectorTier) string {
	tier, known := coreTiers[strings.ToLower(detected)]
	if !known || tier >= have {
		return ""
	}
	return tierCores[have]
}
