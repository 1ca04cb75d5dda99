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
// repository when that exists, else the cache directory CacheDir (where
// `prunebench data fetch` puts the registry's files), whether or not it
// exists yet. It returns "" when none applies (no home directory).
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
	return CacheDir()
}

// CacheDir returns the data directory used when neither --data-dir,
// $PRUNEBENCH_DATA nor ../shared/data applies, and where `prunebench data
// fetch` writes without them: $XDG_CACHE_HOME/prunebench, by default
// ~/.cache/prunebench. It returns "" without a home directory.
func CacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "prunebench")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".cache", "prunebench")
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
			return "", fmt.Errorf("%s: %w in the data directory (looked at %s)%s", rel, ErrNotFound, p, fetchHint(rel))
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
// models/NAME under the data directory; a hub id (IsHubID: org/name or
// org/name@revision that is not an existing path) is its snapshot folder
// in the Hugging Face cache (ResolveHub with HubCacheDir); anything else
// is a path. Downloading a missing hub model (--download) is the caller's
// step before this one.
func ResolveModel(dir, arg string) (string, error) {
	if IsHubID(arg) {
		id, err := ParseHubID(arg)
		if err != nil {
			return "", err
		}
		p, err := ResolveHub(HubCacheDir(), id)
		if errors.Is(err, ErrNotDownloaded) {
			// It may have been meant as a path: say that none exists.
			return "", fmt.Errorf("%w; read as a Hugging Face id since no path %s exists (write ./%s for a path)", err, arg, arg)
		}
		return p, err
	}
	return Resolve(dir, arg, "models/"+arg)
}

// fetchHint tells how to get rel when it is a registered file or folder.
func fetchHint(rel string) string {
	for _, e := range registry {
		if e.Rel == rel || strings.HasPrefix(e.Rel, rel+"/") {
			return "; prunebench data fetch downloads the registry's files"
		}
	}
	return ""
}
