package data_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/datatest"
)

func TestRegistryWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range Files() {
		if seen[e.Rel] {
			t.Errorf("%s: listed twice", e.Rel)
		}
		seen[e.Rel] = true
		if len(e.SHA256) != 64 || strings.Trim(e.SHA256, "0123456789abcdef") != "" {
			t.Errorf("%s: sha256 %q is not 64 lower-case hex digits", e.Rel, e.SHA256)
		}
		if e.Size <= 0 || !strings.HasPrefix(e.URL, "https://raw.githubusercontent.com/") {
			t.Errorf("%s: size %d, url %q", e.Rel, e.Size, e.URL)
		}
		if (e.Transform == "") != (e.UpstreamSHA256 == "") {
			t.Errorf("%s: transform %q without upstream checksum, or the reverse", e.Rel, e.Transform)
		}
	}
	if len(seen) != 19 {
		t.Errorf("%d registered files, FORMATS.md §9 lists 19", len(seen))
	}
	for _, name := range CorpusNames() {
		rel, _ := Corpus(name)
		if _, ok := Lookup(rel); !ok {
			t.Errorf("corpus %s → %s is not registered", name, rel)
		}
	}
}

// TestVerifySharedFiles checks every shared file on disk against FORMATS.md §9.
func TestVerifySharedFiles(t *testing.T) {
	dir := datatest.Dir(t)
	for _, e := range Files() {
		if err := VerifyFile(dir, e.Rel); err != nil {
			t.Error(err)
		}
	}
}

// fakeDir builds a data directory holding one registered path with the given
// content, so mismatches can be provoked without touching shared data.
func fakeDir(t *testing.T, rel string, content []byte) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestVerifyFileErrors(t *testing.T) {
	const rel = "models/stories260K/tok512.bin"
	e, _ := Lookup(rel)

	dir := fakeDir(t, rel, []byte("short"))
	err := VerifyFile(dir, rel)
	if err == nil || !strings.Contains(err.Error(), "size 5 bytes, expected 6227") || !strings.Contains(err.Error(), "tok512.bin") {
		t.Errorf("wrong size: got %v", err)
	}

	dir = fakeDir(t, rel, make([]byte, e.Size))
	err = VerifyFile(dir, rel)
	if err == nil || !strings.Contains(err.Error(), "expected "+e.SHA256) {
		t.Errorf("wrong content: got %v", err)
	}

	if err := VerifyFile(dir, "nope/x.bin"); err == nil || !strings.Contains(err.Error(), "not a registered") {
		t.Errorf("unregistered: got %v", err)
	}
	if err := VerifyFile("", rel); err == nil || !strings.Contains(err.Error(), EnvVar) {
		t.Errorf("no dir: got %v", err)
	}
	if err := VerifyFile(t.TempDir(), rel); err == nil {
		t.Error("missing file: no error")
	}
}

// TestVerifyFileCache checks that a verified file is not hashed again while
// its size and mtime stay put, and is once the mtime moves.
func TestVerifyFileCache(t *testing.T) {
	const rel = "models/stories260K/tok512.bin"
	b, err := os.ReadFile(datatest.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	dir := fakeDir(t, rel, b)
	if err := VerifyFile(dir, rel); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, rel)
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := VerifyFile(dir, rel); err != nil {
		t.Errorf("same size and mtime: expected the cached result, got %v", err)
	}
	if err := os.Chtimes(p, st.ModTime(), st.ModTime().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := VerifyFile(dir, rel); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("modified file with a new mtime: got %v, want a sha256 mismatch", err)
	}
}

func TestVerifyPath(t *testing.T) {
	real := datatest.Dir(t)
	for _, rel := range []string{"models/stories260K", "models/stories260K/stories260K.bin", "tasks/rte/dev.tsv"} {
		if err := VerifyPath(real, filepath.Join(real, rel)); err != nil {
			t.Errorf("%s: %v", rel, err)
		}
	}
	// A corrupted vocabulary inside a model directory is caught through the
	// directory; unregistered files are not checked.
	const rel = "models/stories260K/tok512.bin"
	dir := fakeDir(t, rel, []byte("short"))
	if err := VerifyPath(dir, filepath.Join(dir, "models/stories260K")); err == nil || !strings.Contains(err.Error(), "tok512.bin") {
		t.Errorf("corrupted vocabulary: got %v", err)
	}
	if err := VerifyPath(dir, filepath.Join(t.TempDir(), "tok512.bin")); err != nil {
		t.Errorf("outside the data directory: %v", err)
	}
	// A registered path is checked without a data directory too.
	if err := VerifyPath("", filepath.Join(dir, rel)); err == nil || !strings.Contains(err.Error(), "size 5 bytes, expected 6227") {
		t.Errorf("no data directory: got %v, want a size mismatch", err)
	}
}
