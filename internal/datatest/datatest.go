package datatest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prunebench/prunebench/data"
)

// Dir returns the data directory (../shared/data or $PRUNEBENCH_DATA).
func Dir(t testing.TB) string {
	t.Helper()
	d := data.Dir("")
	if d != "" {
		if _, err := os.Stat(d); err == nil {
			return d
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("data directory not found (set %s); CI requires it", data.EnvVar)
	}
	t.Skipf("data directory not found (set %s)", data.EnvVar)
	return ""
}

// Path returns a file under the data directory, failing or skipping as Dir.
func Path(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Dir(t), rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s: %v", p, err)
		}
		t.Skipf("%s: %v", p, err)
	}
	return p
}

// Golden returns a file under the shared golden directory (a sibling of the
// data directory).
func Golden(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(Dir(t), "..", "golden", name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s: %v", p, err)
		}
		t.Skipf("%s: %v", p, err)
	}
	return p
}
