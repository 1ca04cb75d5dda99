package data_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/datatest"
)

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadTextFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		wantErr string
	}{
		{"plain", "hello world\n", ""},
		{"crlf kept", "a\r\nb\r\n", ""},
		{"bom kept", "\ufeffx", ""},
		{"empty", "", "empty text file"},
		{"bad utf8", "ab\xffcd", "invalid UTF-8 at byte offset 2 (byte 0xff)"},
		{"truncated rune", "é\xc3", "invalid UTF-8 at byte offset 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeTemp(t, "c.txt", []byte(tc.content))
			got, err := ReadText("", p)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), p) {
					t.Fatalf("got %v, want an error naming %s and containing %q", err, p, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Text != tc.content || got.Path != p || got.Entry != nil || len(got.SHA256) != 64 {
				t.Errorf("got %+v", got)
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "missing.txt")
	if _, err := ReadText("", missing); err == nil || !strings.Contains(err.Error(), missing+": not found") {
		t.Errorf("missing file: got %v, want an error naming %s", err, missing)
	}
	if _, err := ReadText("", CorpusWikiText2); err == nil || !strings.Contains(err.Error(), EnvVar) {
		t.Errorf("named corpus without a data dir: got %v", err)
	}
}

func TestReadTextSHA256(t *testing.T) {
	// sha256("abc") from FIPS 180-2.
	p := writeTemp(t, "abc.txt", []byte("abc"))
	got, err := ReadText("", p)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got.SHA256 != want {
		t.Errorf("sha256 %s, want %s", got.SHA256, want)
	}
}

func TestReadTextCorrupt(t *testing.T) {
	rel, _ := Corpus(CorpusWikiText2Valid)
	e, _ := Lookup(rel)
	dir := fakeDir(t, rel, make([]byte, e.Size))
	for _, name := range []string{CorpusWikiText2Valid, filepath.Join(dir, rel)} {
		if _, err := ReadText(dir, name); err == nil || !strings.Contains(err.Error(), e.SHA256) {
			t.Errorf("%s: got %v, want a sha256 mismatch", name, err)
		}
	}
}

func TestReadTextShared(t *testing.T) {
	dir := datatest.Dir(t)
	tests := []struct {
		name  string
		size  int
		lines int
		crlf  bool
	}{
		{CorpusWikiText2, 1296370, -1, false},
		{CorpusWikiText2Valid, 1121681, 3760, false},
		{CorpusWikiText2Raw, 1290547, 2891, true},
	}
	for _, tc := range tests {
		got, err := ReadText(dir, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Text) != tc.size || got.Entry == nil || got.SHA256 != got.Entry.SHA256 {
			t.Errorf("%s: %d bytes, entry %v", tc.name, len(got.Text), got.Entry)
		}
		if tc.lines >= 0 {
			if n := strings.Count(got.Text, "\n"); n != tc.lines {
				t.Errorf("%s: %d lines, SOURCES.md says %d", tc.name, n, tc.lines)
			}
		}
		if strings.Contains(got.Text, "\r\n") != tc.crlf {
			t.Errorf("%s: CRLF present = %v, want %v", tc.name, !tc.crlf, tc.crlf)
		}
	}
	// A registered file named by its path is verified too.
	got, err := ReadText(dir, filepath.Join(dir, "wikitext-2/test.txt"))
	if err != nil || got.Entry == nil || !got.Entry.EvalOnly {
		t.Errorf("wikitext-2/test.txt: %v, entry %v", err, got.Entry)
	}
}
