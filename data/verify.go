package data

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// FileRef identifies a file a result depends on, to be recorded with it.
type FileRef struct {
	Path   string `json:"path"`   // absolute
	SHA256 string `json:"sha256"` // lower-case hex
	Size   int64  `json:"size"`   // bytes
}

// HashFile returns the lower-case hex sha256 and the size of the file.
func HashFile(path string) (sum string, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("%s: reading: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// hashes caches sha256 sums by absolute path; the size and modification
// time guard against a file replaced in between.
var hashes struct {
	sync.Mutex
	m map[string]hashed
}

type stamp struct {
	size int64
	mod  time.Time
}

type hashed struct {
	stamp stamp
	sum   string
}

func cachedSum(abs string, s stamp) (string, bool) {
	hashes.Lock()
	defer hashes.Unlock()
	h, ok := hashes.m[abs]
	return h.sum, ok && h.stamp == s
}

func rememberSum(abs string, s stamp, sum string) {
	hashes.Lock()
	defer hashes.Unlock()
	if hashes.m == nil {
		hashes.m = map[string]hashed{}
	}
	hashes.m[abs] = hashed{s, sum}
}

// rememberIfUnchanged caches sum for the regular file abs when its size and
// modification time still match st, the stat taken before it was read.
func rememberIfUnchanged(abs string, st fs.FileInfo, sum string) {
	if !st.Mode().IsRegular() {
		return
	}
	now, err := os.Stat(abs)
	if err == nil && now.Size() == st.Size() && now.ModTime().Equal(st.ModTime()) {
		rememberSum(abs, stamp{st.Size(), st.ModTime()}, sum)
	}
}

// Ref returns the absolute path, size and sha256 of the regular file at
// path. The sha256 is computed once per process for each (absolute path,
// size, modification time). Devices and FIFOs are refused: hashing would
// consume them; a caller reading one records the FileRef of ReadFile.
func Ref(path string) (FileRef, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return FileRef{}, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return FileRef{}, err
	}
	if !st.Mode().IsRegular() {
		return FileRef{}, fmt.Errorf("%s: not a regular file (%s)", abs, st.Mode().Type())
	}
	s := stamp{st.Size(), st.ModTime()}
	if sum, ok := cachedSum(abs, s); ok {
		return FileRef{Path: abs, SHA256: sum, Size: s.size}, nil
	}
	sum, n, err := HashFile(abs)
	if err != nil {
		return FileRef{}, err
	}
	rememberIfUnchanged(abs, st, sum)
	return FileRef{Path: abs, SHA256: sum, Size: n}, nil
}

// checkDigest compares a measured size and sha256 with the registry; an
// empty sum checks the size only.
func checkDigest(path string, e Entry, size int64, sum string) error {
	const why = "corrupt or a different file; files at registered paths are checked wherever they are"
	if size != e.Size {
		return fmt.Errorf("%s: size %d bytes, expected %d for registered file %s (%s)", path, size, e.Size, e.Rel, why)
	}
	if sum != "" && sum != e.SHA256 {
		return fmt.Errorf("%s: sha256 %s, expected %s for registered file %s (%s)", path, sum, e.SHA256, e.Rel, why)
	}
	return nil
}

// verifyAt checks the file at path against e: its size from a stat first,
// so that a wrong file is not hashed, then its (cached) sha256.
func verifyAt(path string, e Entry) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("verifying %s: %w", e.Rel, err)
	}
	if err := checkDigest(path, e, st.Size(), ""); err != nil {
		return err
	}
	ref, err := Ref(path)
	if err != nil {
		return fmt.Errorf("verifying %s: %w", e.Rel, err)
	}
	return checkDigest(path, e, ref.Size, ref.SHA256)
}

// VerifyFile checks the file rel under dir against the registry's size and
// sha256. A file that passed is not hashed again in this process unless its
// size or modification time changes.
func VerifyFile(dir, rel string) error {
	e, ok := Lookup(rel)
	if !ok {
		return fmt.Errorf("%s: not a registered shared data file (see FORMATS.md §9)", rel)
	}
	if dir == "" {
		return fmt.Errorf("%s: no data directory: pass --data-dir or set %s", rel, EnvVar)
	}
	return verifyAt(filepath.Join(dir, filepath.FromSlash(e.Rel)), e)
}

// names returns the absolute, slash-separated forms of path: as given, and
// with symbolic links resolved when that differs, so that a link to a
// registered file is checked as one.
func names(path string) []string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	out := []string{filepath.ToSlash(abs)}
	if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
		out = append(out, filepath.ToSlash(real))
	}
	return out
}

// endsWith tells whether the slash-separated absolute path p ends with the
// path components of rel.
func endsWith(p, rel string) bool {
	return strings.HasSuffix(p, "/"+rel)
}

// registeredEntry returns the registry entry of the file at path when its
// trailing components are a registered Rel, wherever it lies: a copy of
// models/stories260K/stories260K.bin in /tmp/x is the registered file too.
func registeredEntry(path string) (Entry, bool) {
	for _, p := range names(path) {
		for _, e := range registry {
			if endsWith(p, e.Rel) {
				return e, true
			}
		}
	}
	return Entry{}, false
}

// registeredFiles returns, for every registry entry at or below path, the
// file that holds it: path itself when it ends with the entry's Rel, the
// rest of the Rel below path when path ends with one of its leading
// directories (models/stories260K, models), or the whole Rel when path is
// the data directory dir.
func registeredFiles(dir, path string) map[string]Entry {
	var dirNames []string
	if dir != "" {
		dirNames = names(dir)
	}
	out := map[string]Entry{}
	for _, p := range names(path) {
		isDataDir := false
		for _, d := range dirNames {
			isDataDir = isDataDir || d == p
		}
		for _, e := range registry {
			parts := strings.Split(e.Rel, "/")
			for k := len(parts); k >= 0; k-- {
				lead := strings.Join(parts[:k], "/")
				if (k > 0 && endsWith(p, lead)) || (k == 0 && isDataDir) {
					rest := strings.Join(parts[k:], "/")
					out[filepath.Join(filepath.FromSlash(p), filepath.FromSlash(rest))] = e
					break
				}
			}
		}
	}
	return out
}

// VerifyPath checks every registered shared file at or below path, a file
// or a directory, wherever it lies (see registeredFiles): a file ending
// like a registered one (…/models/stories260K/tok512.bin), the registered
// files inside a directory ending like a registered directory
// (…/models/stories260K, …/tasks), or the data directory dir itself.
// Registered files absent from a directory are skipped: the loader reports
// what it needs. Unregistered files are the user's own and not checked.
func VerifyPath(dir, path string) error {
	files := registeredFiles(dir, path)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	// Sorted, so that the same broken directory always gives the same error.
	slices.Sort(paths)
	for _, p := range paths {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := verifyAt(p, files[p]); err != nil {
			return err
		}
	}
	return nil
}
