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
	if want := betterCore(coreName(), cpuTier()); want != "" {
		t.Errorf("OpenBLAS runs %s kernels on a processor for %s ones; Backend() = %q", coreName(), want, Backend())
	}
	if !strings.HasPrefix(Backend(), "openblas (") {
		t.Errorf("Backend() = %q, want the kernels named", Backend())
	}
}
