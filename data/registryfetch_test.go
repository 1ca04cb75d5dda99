package data

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSelect(t *testing.T) {
	rels := func(names ...string) []string {
		es, err := Select(names)
		if err != nil {
			t.Fatalf("%v: %v", names, err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Rel)
		}
		return out
	}
	if got := rels(); len(got) != len(registry) {
		t.Errorf("no names: %d entries, want all %d", len(got), len(registry))
	}
	for _, c := range []struct {
		names []string
		want  []string
	}{
		{[]string{"stories260K"}, []string{"models/stories260K/stories260K.bin", "models/stories260K/tok512.bin"}},
		{[]string{"models/stories260K/tok512.bin"}, []string{"models/stories260K/tok512.bin"}},
		{[]string{"tasks/rte"}, []string{"tasks/rte/dev.tsv"}},
		{[]string{"rte", "tasks/rte/"}, []string{"tasks/rte/dev.tsv"}},
		{[]string{"arc_easy"}, []string{"tasks/arc-easy/test.json"}},
		{[]string{"wikitext2"}, []string{"wikitext-2/wikitext-2-raw-v1.test.joined.txt"}},
		{[]string{"wikitext-2"}, []string{"wikitext-2/wikitext-2-raw-v1.test.joined.txt", "wikitext-2/wiki.test.raw",
			"wikitext-2/test.txt", "wikitext-2/valid.txt"}},
	} {
		if got := rels(c.names...); strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%v: %v, want %v", c.names, got, c.want)
		}
	}
	for _, bad := range []string{"nope", "models/stories", "stories260K.bin/x", ""} {
		if _, err := Select([]string{bad}); err == nil || !strings.Contains(err.Error(), "selects no registered file") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestFetchEntry fetches registered files from a test server that serves
// the shared data directory's copies, and a CR-stripped file built here.
func TestFetchEntry(t *testing.T) {
	upstream := []byte("line one\r\nline two\r\n\r\nend\r")
	stripped := bytes.ReplaceAll(upstream, []byte("\r"), nil)
	content := payload(4000)
	mux := http.NewServeMux()
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) { w.Write(content) })
	mux.HandleFunc("/crlf", func(w http.ResponseWriter, r *http.Request) { w.Write(upstream) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	plain := Entry{Rel: "x/plain.bin", Size: int64(len(content)), SHA256: sum256(content), URL: srv.URL + "/plain"}
	crlf := Entry{Rel: "x/text.txt", Size: int64(len(stripped)), SHA256: sum256(stripped), URL: srv.URL + "/crlf",
		Transform: TransformStripCR, UpstreamSize: int64(len(upstream)), UpstreamSHA256: sum256(upstream)}
	dir := t.TempDir()
	f := &Fetcher{}
	ctx := context.Background()
	for _, e := range []Entry{plain, crlf} {
		fetched, err := FetchEntry(ctx, f, dir, e)
		if err != nil || !fetched {
			t.Fatalf("%s: fetched %v, %v", e.Rel, fetched, err)
		}
	}
	checkFile(t, filepath.Join(dir, "x/plain.bin"), content)
	checkFile(t, filepath.Join(dir, "x/text.txt"), stripped)
	ents, _ := os.ReadDir(filepath.Join(dir, "x"))
	if len(ents) != 2 {
		t.Errorf("the folder holds %d files, want 2 (no .upstream or .part left)", len(ents))
	}

	// Present files are not fetched again (the server is gone).
	srv.Close()
	for _, e := range []Entry{plain, crlf} {
		if fetched, err := FetchEntry(ctx, f, dir, e); err != nil || fetched {
			t.Errorf("%s present: fetched %v, %v", e.Rel, fetched, err)
		}
	}
}

func TestFetchEntryChecks(t *testing.T) {
	upstream := []byte("a\r\nb\r\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(upstream) }))
	defer srv.Close()
	ctx := context.Background()
	f := &Fetcher{}
	// The transformed file's sha256 must be the recorded one.
	dir := t.TempDir()
	e := Entry{Rel: "t.txt", Size: 4, SHA256: strings.Repeat("0", 64), URL: srv.URL + "/t",
		Transform: TransformStripCR, UpstreamSize: int64(len(upstream)), UpstreamSHA256: sum256(upstream)}
	_, err := FetchEntry(ctx, f, dir, e)
	if err == nil || !strings.Contains(err.Error(), "without CR bytes: sha256 "+sum256([]byte("a\nb\n"))) {
		t.Errorf("transformed checksum: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "t.txt")); err == nil {
		t.Error("a file that failed its check was put in place")
	}
	// A wrong file at the path is replaced.
	dir = t.TempDir()
	writeFile(t, filepath.Join(dir, "p.bin"), "wrong")
	e = Entry{Rel: "p.bin", Size: int64(len(upstream)), SHA256: sum256(upstream), URL: srv.URL + "/p"}
	if fetched, err := FetchEntry(ctx, f, dir, e); err != nil || !fetched {
		t.Errorf("wrong file: fetched %v, %v", fetched, err)
	}
	checkFile(t, filepath.Join(dir, "p.bin"), upstream)
	e.Transform = "rot13"
	e.Rel = "q.bin"
	if _, err := FetchEntry(ctx, f, dir, e); err == nil || !strings.Contains(err.Error(), `unknown transform "rot13"`) {
		t.Errorf("unknown transform: %v", err)
	}
}

// TestRegistryTransforms keeps FetchEntry and the registry in step: every
// transform the registry uses is one FetchEntry applies, with the upstream
// size and sha256 it needs.
func TestRegistryTransforms(t *testing.T) {
	for _, e := range registry {
		if !strings.HasPrefix(e.URL, "https://") {
			t.Errorf("%s: URL %q is not https", e.Rel, e.URL)
		}
		switch e.Transform {
		case "":
		case TransformStripCR:
			if e.UpstreamSize <= e.Size || len(e.UpstreamSHA256) != 64 {
				t.Errorf("%s: upstream size %d, sha256 %q", e.Rel, e.UpstreamSize, e.UpstreamSHA256)
			}
		default:
			t.Errorf("%s: transform %q that FetchEntry does not know", e.Rel, e.Transform)
		}
	}
}
