package data_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/prunebench/prunebench/data"
)

// TestResolve checks the naming rule: a short name is looked for in the
// data directory only, a path in the working directory only.
func TestResolve(t *testing.T) {
	dataDir := t.TempDir()
	work := t.TempDir()
	for _, p := range []string{
		filepath.Join(dataDir, "models/tiny/m.bin"),
		filepath.Join(work, "models/local/m.bin"),
		filepath.Join(work, "models/tiny/m.bin"), // would shadow the data dir's copy under the old rule
		filepath.Join(work, "own"),
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(work)
	tests := []struct {
		name, dir, arg string
		want           string // the resolved path, or
		wantErr        []string
	}{
		{"short name in the data dir", dataDir, "tiny", filepath.Join(dataDir, "models/tiny"), nil},
		{"short name only in the working dir", dataDir, "local", "",
			[]string{"models/local: not found in the data directory", filepath.Join(dataDir, "models/local"), "write ./local"}},
		{"short name of a working-dir file", dataDir, "own", "", []string{"write ./own"}},
		{"./ path", dataDir, "./own", filepath.Join(work, "own"), nil},
		{"relative path is not joined to the data dir", dataDir, "models/tiny", filepath.Join(work, "models/tiny"), nil},
		{"relative path only in the data dir", dataDir, "models/../models/none", "",
			[]string{"models/../models/none: not found", filepath.Join(work, "models/none")}},
		{"absolute path", "", filepath.Join(dataDir, "models/tiny"), filepath.Join(dataDir, "models/tiny"), nil},
		{"no data directory", "", "tiny", "", []string{"no data directory", EnvVar}},
		{"empty", dataDir, "", "", []string{"empty path"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveModel(tc.dir, tc.arg)
			if tc.wantErr == nil {
				if err != nil || got != tc.want {
					t.Fatalf("got %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %q, want an error", got)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.arg != "" && !errors.Is(err, ErrNotFound) {
				t.Errorf("error %q does not wrap ErrNotFound", err)
			}
		})
	}
}

func TestReadTextNames(t *testing.T) {
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "mine.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A wikitext2 file in the working directory must not replace the corpus.
	if err := os.WriteFile(filepath.Join(work, CorpusWikiText2), []byte("impostor"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(work)
	if _, err := ReadText("", "mine.txt"); err == nil || !strings.Contains(err.Error(), "not a named corpus") ||
		!strings.Contains(err.Error(), "write ./mine.txt") {
		t.Errorf("bare file name: got %v, want a hint to write ./mine.txt", err)
	}
	got, err := ReadText("", "./mine.txt")
	if err != nil || got.Text != "hello" || got.Path != filepath.Join(work, "mine.txt") || got.Size != 5 {
		t.Errorf("./mine.txt: got %+v, %v", got, err)
	}
	if _, err := ReadText(t.TempDir(), CorpusWikiText2); err == nil || !strings.Contains(err.Error(), "not found in the data directory") {
		t.Errorf("corpus name with a working-directory impostor: got %v", err)
	}
}
