package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

// ErrNotFound is returned (wrapped) when a named file is not where the
// naming rule (see the package documentation) puts it.
var ErrNotFound = errors.New("not found")

// IsName reports whether arg is a short name, a corpus, task or model name
// such as wikitext2 or stories260K, rather than a path: it has no path
// separator and is not empty, "." or "..". A short name resolves in the data
// directory only; a file of that name in the working directory is ./NAME.
func IsName(arg string) bool {
	return arg != "" && arg != "." && arg != ".." && !strings.ContainsAny(arg, "/"+string(filepath.Separator))
}

// ResolveName returns the absolute path of rel, a slash-separated path
// under the data directory dir, when it exists. It looks in the data
// directory only, never in the working directory.
func ResolveName(dir, rel string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("%s: %w: no data directory (pass --data-dir or set %s)", rel, ErrNotFound, EnvVar)
	}
	p, err := filepath.Abs(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s: %w in the data directory (looked at %s)", rel, ErrNotFound, p)
		}
		return "", err
	}
	return p, nil
}

// ResolvePath returns the absolute form of path, absolute or relative to
// the working directory, when it exists. It never looks in the data
// directory.
func ResolvePath(path string) (string, error) {
	if path == "" {
		return "", errors.New("empty path")
	}
	p, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s: %w (looked at %s)", path, ErrNotFound, p)
		}
		return "", err
	}
	return p, nil
}

// Resolve applies the naming rule to a command-line argument: a short name
// (IsName) is the file rel under the data directory dir, looked for there
// only; anything else is a path (ResolvePath). The error for a short name
// not found suggests ./NAME for a file in the working directory.
func Resolve(dir, arg, rel string) (string, error) {
	if !IsName(arg) {
		return ResolvePath(arg)
	}
	p, err := ResolveName(dir, rel)
	if err != nil {
		return "", fmt.Errorf("%w; for a file in the working directory write ./%s", err, arg)
	}
	return p, nil
}

// ResolveModel resolves --model: a short name is the file or directory
// models/NAME under the data directory; anything else is a path.
func ResolveModel(dir, arg string) (string, error) {
	return Resolve(dir, arg, "models/"+arg)
}
