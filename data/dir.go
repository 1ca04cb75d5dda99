package data

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// EnvVar names the environment variable that sets the data directory.
const EnvVar = "PRUNEBENCH_DATA"

// Dir resolves the data directory: the flag value when set, else
// $PRUNEBENCH_DATA, else ../shared/data next to the working directory's
// repository when that exists. It returns "" when none applies.
func Dir(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv(EnvVar); env != "" {
		return env
	}
	if d, ok := findShared(); ok {
		return d
	}
	return ""
}

// findShared walks up from the working directory looking for shared/data
// beside an ancestor, which is where the Makefile and CI put it.
func findShared() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		cand := filepath.Join(dir, "..", "shared", "data")
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			abs, err := filepath.Abs(cand)
			return abs, err == nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// ErrNotFound is returned (wrapped) when a named file is in none of the
// places looked at.
var ErrNotFound = errors.New("not found")

// Find resolves name, a path or a name relative to the data directory dir,
// and returns the first existing candidate. The error lists every place
// looked at.
func Find(dir, name string) (string, error) {
	cands := []string{name}
	if dir != "" && !filepath.IsAbs(name) {
		cands = append(cands, filepath.Join(dir, name))
	}
	for _, c := range cands {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	where := fmt.Sprintf("%q", cands)
	if dir == "" {
		where += fmt.Sprintf(" (no data directory: pass --data-dir or set %s)", EnvVar)
	}
	return "", fmt.Errorf("%s: %w; looked in %s", name, ErrNotFound, where)
}
