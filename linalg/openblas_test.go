//go:build openblas

package linalg

import (
	"os"
	"strings"
	"testing"
)

// The kernels in use are at least as wide as the processor supports,
// whatever core OpenBLAS detected on its own (unless the user chose one).
func TestOpenBLASUsesTheProcessorsKernels(t *testing.T) {
	if _, set := os.LookupEnv("OPENBLAS_CORETYPE"); set {
		t.Skip("OPENBLAS_CORETYPE chooses the kernels")
	}
	if strings.Contains(backendCore, "cannot switch") {
		t.Skipf("this OpenBLAS is built for one processor: %s", backendCore)
	}
	core := coreName()
	if tier, known := coreTiers[strings.ToLower(core)]; known && tier < cpuTier() {
		t.Errorf("OpenBLAS runs %s kernels (tier %d) on a processor of tier %d; Backend() = %q", core, tier, cpuTier(), Backend())
	}
	if !strings.HasPrefix(Backend(), "openblas (") {
		t.Errorf("Backend() = %q, want the kernels named", Backend())
	}
}
