package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// listDir returns the names in dir, hidden ones included.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestFileCommitAndAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.jsonl")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An aborted write leaves the old file untouched and no temporary.
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("partial")
	f.Abort()
	f.Abort() // idempotent
	if b, _ := os.ReadFile(path); string(b) != "old\n" {
		t.Errorf("after Abort the file holds %q, want the old content", b)
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Errorf("after Abort the directory holds %q, want only out.jsonl", names)
	}

	f, err = Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old\n" {
		t.Errorf("Create touched the existing file: %q", b)
	}
	f.WriteString("new\n")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // after Commit: nothing
	if b, _ := os.ReadFile(path); string(b) != "new\n" {
		t.Errorf("after Commit the file holds %q", b)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != FileMode() {
		t.Errorf("mode %v, want %v", st.Mode().Perm(), FileMode())
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Errorf("after Commit the directory holds %q", names)
	}
}

func TestDirCommitAndRemoveTemps(t *testing.T) {
	parent := t.TempDir()
	path := filepath.Join(parent, "model")
	d, err := CreateDir(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.Tmp, "config.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the final directory exists before Commit: %v", err)
	}
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != DirMode() {
		t.Errorf("mode %v, want %v", st.Mode().Perm(), DirMode())
	}

	// Temporaries still open when RemoveTemps runs (a hard exit) vanish.
	other := filepath.Join(parent, "other")
	d2, err := CreateDir(other)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Create(filepath.Join(parent, "samples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	RemoveTemps()
	if names := listDir(t, parent); len(names) != 1 || names[0] != "model" {
		t.Errorf("after RemoveTemps the parent holds %q, want only model", names)
	}
	d2.Abort()

	// A non-empty directory in the way is never replaced.
	d3, err := CreateDir(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d3.Commit(); err == nil {
		t.Error("Commit replaced a non-empty directory")
	}
	if names := listDir(t, parent); len(names) != 1 {
		t.Errorf("after a failed Commit the parent holds %q", names)
	}
}

// TestDirParents checks that the parents CreateDir makes stay with a
// committed directory and go with an aborted one or a hard exit, and that
// an empty directory in the way is replaced.
func TestDirParents(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "a", "b", "model")
	d, err := CreateDir(path)
	if err != nil {
		t.Fatal(err)
	}
	d.Abort()
	if names := listDir(t, root); len(names) != 0 {
		t.Errorf("after Abort the root holds %q", names)
	}

	d, err = CreateDir(path)
	if err != nil {
		t.Fatal(err)
	}
	RemoveTemps()
	if names := listDir(t, root); len(names) != 0 {
		t.Errorf("after RemoveTemps the root holds %q", names)
	}
	d.Abort()

	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, empty} {
		d, err := CreateDir(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d.Tmp, "x"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := d.Commit(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(p, "x")); err != nil {
			t.Errorf("committed %s: %v", p, err)
		}
	}
}
