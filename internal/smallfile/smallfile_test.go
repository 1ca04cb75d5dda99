package smallfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(p, 5); err != nil || string(b) != "12345" {
		t.Errorf("at the limit: %q, %v", b, err)
	}
	for _, c := range []struct {
		path  string
		limit int64
		want  string
	}{
		{p, 4, "more than the 4-byte limit"},
		{dir, 100, "not a regular file"},
		{"/dev/zero", 100, "not a regular file"},
		{filepath.Join(dir, "missing"), 100, "no such file"},
	} {
		if _, err := Read(c.path, c.limit); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s limit %d: %v, want %q naming the file", c.path, c.limit, err, c.want)
		}
	}
}
