package data

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func sum256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func payload(n int) []byte {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// fileServer serves content at every path, honouring Range requests of the
// form bytes=N-, and records the requests it saw.
type fileServer struct {
	content []byte
	mu      sync.Mutex
	ranges  []string
	auth    []string
	// cutAfter, when > 0, makes the first full response close the
	// connection after that many bytes (Content-Length announces all).
	cutAfter int
	cuts     int
	// ignoreRange answers every request with 200 and the whole file.
	ignoreRange bool
}

func (s *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	cut := s.cutAfter > 0 && s.cuts == 0
	if cut {
		s.cuts++
	}
	s.mu.Unlock()
	from := 0
	if rg := r.Header.Get("Range"); rg != "" && !s.ignoreRange {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
		if err != nil || n >= len(s.content) {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		from = n
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", n, len(s.content)-1, len(s.content)))
		w.Header().Set("Content-Length", strconv.Itoa(len(s.content)-n))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.Header().Set("Content-Length", strconv.Itoa(len(s.content)))
		w.WriteHeader(http.StatusOK)
	}
	body := s.content[from:]
	if cut {
		w.Write(body[:s.cutAfter])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	w.Write(body)
}

func (s *fileServer) seen() (ranges, auth []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...), append([]string(nil), s.auth...)
}

func wantOf(b []byte) Want { return Want{Size: int64(len(b)), SHA256: sum256(b)} }

func checkFile(t *testing.T, p string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, not the served content (%d bytes)", p, len(got), len(want))
	}
	if _, err := os.Stat(p + ".part"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s.part left behind", p)
	}
}

func TestFetchFull(t *testing.T) {
	content := payload(3<<20 + 17)
	fs := &fileServer{content: content}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	var progress bytes.Buffer
	f := &Fetcher{Progress: &progress, Every: time.Nanosecond}
	target := filepath.Join(t.TempDir(), "sub", "file.bin")
	if err := f.Fetch(context.Background(), srv.URL+"/file.bin", target, wantOf(content)); err != nil {
		t.Fatal(err)
	}
	checkFile(t, target, content)
	out := progress.String()
	for _, w := range []string{"fetch file.bin:", "of 3.0 MiB", "100%", "MiB/s", "done in"} {
		if !strings.Contains(out, w) {
			t.Errorf("progress lacks %q:\n%s", w, out)
		}
	}
}

func TestFetchResumeAfterCut(t *testing.T) {
	content := payload(1 << 20)
	const cut = 300_000
	t.Run("within one Fetch", func(t *testing.T) {
		fs := &fileServer{content: content, cutAfter: cut}
		srv := httptest.NewServer(fs)
		defer srv.Close()
		var progress bytes.Buffer
		f := &Fetcher{Retries: 2, Progress: &progress}
		target := filepath.Join(t.TempDir(), "f")
		if err := f.Fetch(context.Background(), srv.URL+"/f", target, wantOf(content)); err != nil {
			t.Fatal(err)
		}
		checkFile(t, target, content)
		ranges, _ := fs.seen()
		if len(ranges) != 2 || ranges[0] != "" || ranges[1] != "bytes="+strconv.Itoa(cut)+"-" {
			t.Errorf("requests' Range headers %q, want none then bytes=%d-", ranges, cut)
		}
		if !strings.Contains(progress.String(), "retrying from byte 300000") {
			t.Errorf("no retry line in the progress:\n%s", progress.String())
		}
	})
	t.Run("next Fetch resumes the .part", func(t *testing.T) {
		fs := &fileServer{content: content, cutAfter: cut}
		srv := httptest.NewServer(fs)
		defer srv.Close()
		f := &Fetcher{}
		target := filepath.Join(t.TempDir(), "f")
		err := f.Fetch(context.Background(), srv.URL+"/f", target, wantOf(content))
		if err == nil || !strings.Contains(err.Error(), "kept in "+target+".part") {
			t.Fatalf("cut connection: got %v, want an error keeping the .part", err)
		}
		if st, err := os.Stat(target + ".part"); err != nil || st.Size() != cut {
			t.Fatalf(".part after the cut: %v, %v; want %d bytes", st, err, cut)
		}
		if err := f.Fetch(context.Background(), srv.URL+"/f", target, wantOf(content)); err != nil {
			t.Fatal(err)
		}
		checkFile(t, target, content)
		ranges, _ := fs.seen()
		if ranges[len(ranges)-1] != "bytes=300000-" {
			t.Errorf("second Fetch sent Range %q, want bytes=300000-", ranges[len(ranges)-1])
		}
	})
}

func TestFetchServerIgnoresRange(t *testing.T) {
	content := payload(500_000)
	fs := &fileServer{content: content, ignoreRange: true}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	target := filepath.Join(t.TempDir(), "f")
	// A .part whose bytes are not even the file's: the 200 replaces it.
	if err := os.WriteFile(target+".part", bytes.Repeat([]byte{0xAA}, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	f := &Fetcher{Progress: &progress}
	if err := f.Fetch(context.Background(), srv.URL+"/f", target, wantOf(content)); err != nil {
		t.Fatal(err)
	}
	checkFile(t, target, content)
	if ranges, _ := fs.seen(); len(ranges) != 1 || ranges[0] != "bytes=1000-" {
		t.Errorf("Range headers %q, want one bytes=1000-", ranges)
	}
	if !strings.Contains(progress.String(), "ignored the range") {
		t.Errorf("progress does not say the range was ignored:\n%s", progress.String())
	}
}

// TestFetchStalePart: a .part an earlier run left that is not the start of
// the file fails the checksum after the resume; the download then starts
// again from nothing.
func TestFetchStalePart(t *testing.T) {
	content := payload(300_000)
	fs := &fileServer{content: content}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	target := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(target+".part", bytes.Repeat([]byte{0x55}, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	if err := (&Fetcher{Progress: &progress}).Fetch(context.Background(), srv.URL+"/f", target, wantOf(content)); err != nil {
		t.Fatal(err)
	}
	checkFile(t, target, content)
	if ranges, _ := fs.seen(); len(ranges) != 2 || ranges[0] != "bytes=1000-" || ranges[1] != "" {
		t.Errorf("Range headers %q, want bytes=1000- then none", ranges)
	}
	if !strings.Contains(progress.String(), "starting again without the earlier partial download") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

// noLeftovers fails when anything is left in dir.
func noLeftovers(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		t.Errorf("left behind: %s", e.Name())
	}
}

func TestFetchRefused(t *testing.T) {
	content := payload(100_000)
	good := wantOf(content)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    Want
		errs    []string
	}{
		{"wrong size announced", (&fileServer{content: content}).ServeHTTP,
			Want{Size: 120_000, SHA256: good.SHA256}, []string{"announces 100000 bytes", "expected 120000"}},
		{"wrong sha256", (&fileServer{content: content}).ServeHTTP,
			Want{Size: good.Size, SHA256: strings.Repeat("0", 64)},
			[]string{"sha256 " + good.SHA256, "expected " + strings.Repeat("0", 64), "removed"}},
		{"wrong git blob id", (&fileServer{content: content}).ServeHTTP,
			Want{Size: good.Size, GitSHA1: strings.Repeat("1", 40)}, []string{"git blob id", "expected " + strings.Repeat("1", 40)}},
		{"streams forever", func(w http.ResponseWriter, r *http.Request) {
			buf := make([]byte, 64<<10)
			for {
				if _, err := w.Write(buf); err != nil {
					return
				}
			}
		}, good, []string{"more than the expected 100000 bytes", "removed"}},
		{"Content-Length lie: a terabyte", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1099511627776")
			w.WriteHeader(http.StatusOK)
			w.Write(content)
		}, good, []string{"announces 1099511627776 bytes", "expected 100000"}},
		{"unknown size streams forever", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1099511627777")
			w.WriteHeader(http.StatusOK)
		}, Want{Size: -1}, []string{"announces 1099511627777 bytes", "expected 1099511627776"}},
		{"shorter file, no Content-Length", func(w http.ResponseWriter, r *http.Request) {
			w.Write(content[:50_000]) // chunked: more than the server buffers
			w.(http.Flusher).Flush()
			w.Write(content[50_000:90_000])
		}, good, []string{"the server's file ends after 90000 bytes, expected 100000", "removed"}},
		{"401", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) },
			good, []string{"HTTP 401 Unauthorized", TokenEnvVar, "accepted its licence"}},
		{"403", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) },
			good, []string{"HTTP 403 Forbidden", TokenEnvVar}},
		{"404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
			good, []string{"HTTP 404 Not Found", "no such file"}},
		{"206 without a range", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusPartialContent) },
			good, []string{"206 to a request without a range"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			dir := t.TempDir()
			u := srv.URL + "/x/file.bin"
			err := (&Fetcher{}).Fetch(context.Background(), u, filepath.Join(dir, "file.bin"), tc.want)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tc.errs, u) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			noLeftovers(t, dir)
		})
	}
}

// TestFetchShortBody: a Content-Length that announces the whole file but a
// connection that ends early is resumed, not accepted.
func TestFetchShortBody(t *testing.T) {
	content := payload(200_000)
	fs := &fileServer{content: content, cutAfter: 50_000}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	target := filepath.Join(t.TempDir(), "f")
	if err := (&Fetcher{Retries: 1}).Fetch(context.Background(), srv.URL+"/f", target, wantOf(content)); err != nil {
		t.Fatal(err)
	}
	checkFile(t, target, content)
}

func TestFetchToken(t *testing.T) {
	content := payload(1000)
	other := &fileServer{content: content}
	otherSrv := httptest.NewServer(other)
	defer otherSrv.Close()
	hf := &fileServer{content: content}
	mux := http.NewServeMux()
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		hf.ServeHTTP(httptest.NewRecorder(), r) // record the request
		http.Redirect(w, r, otherSrv.URL+"/cdn", http.StatusFound)
	})
	mux.HandleFunc("/same", func(w http.ResponseWriter, r *http.Request) {
		hf.ServeHTTP(httptest.NewRecorder(), r)
		http.Redirect(w, r, "/file", http.StatusFound)
	})
	mux.Handle("/file", hf)
	hfSrv := httptest.NewServer(mux)
	defer hfSrv.Close()
	f := &Fetcher{Token: "hf_secret", TokenHost: strings.TrimPrefix(hfSrv.URL, "http://")}
	ctx := context.Background()
	dir := t.TempDir()
	for i, u := range []string{hfSrv.URL + "/file", otherSrv.URL + "/file", hfSrv.URL + "/redirect", hfSrv.URL + "/same"} {
		if err := f.Fetch(ctx, u, filepath.Join(dir, strconv.Itoa(i)), wantOf(content)); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}
	_, hfAuth := hf.seen()
	_, otherAuth := other.seen()
	// hf saw /file, /redirect, /same and /file after it; other saw /file
	// and /cdn after the redirect.
	for i, a := range hfAuth {
		if a != "Bearer hf_secret" {
			t.Errorf("request %d to the token host: Authorization %q", i, a)
		}
	}
	if len(hfAuth) != 4 {
		t.Errorf("token host saw %d requests, want 4", len(hfAuth))
	}
	if len(otherAuth) != 2 {
		t.Errorf("other host saw %d requests, want 2", len(otherAuth))
	}
	for i, a := range otherAuth {
		if a != "" {
			t.Errorf("request %d to another host carried Authorization %q", i, a)
		}
	}
	// The default token host is huggingface.co, never a test server.
	f.TokenHost = ""
	if err := f.Fetch(ctx, hfSrv.URL+"/file", filepath.Join(dir, "d"), wantOf(content)); err != nil {
		t.Fatal(err)
	}
	if _, a := hf.seen(); a[len(a)-1] != "" {
		t.Errorf("token sent to %s with the default token host", hfSrv.URL)
	}
}

func TestFetchURLRules(t *testing.T) {
	f := &Fetcher{}
	for _, u := range []string{"http://example.com/x", "ftp://127.0.0.1/x", "file:///etc/passwd", "https:///x"} {
		err := f.Fetch(context.Background(), u, filepath.Join(t.TempDir(), "x"), Want{Size: 1})
		if err == nil || !strings.Contains(err.Error(), "refused") && !strings.Contains(err.Error(), "no host") {
			t.Errorf("%s: got %v, want a refusal", u, err)
		}
	}
	// A redirect from loopback to plain http elsewhere is refused.
	srv := httptest.NewServer(http.RedirectHandler("http://example.com/x", http.StatusFound))
	defer srv.Close()
	err := f.Fetch(context.Background(), srv.URL, filepath.Join(t.TempDir(), "x"), Want{Size: 1})
	if err == nil || !strings.Contains(err.Error(), "redirect refused") {
		t.Errorf("redirect to plain http: got %v", err)
	}
}

func TestFetchCancel(t *testing.T) {
	content := payload(1 << 20)
	started := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		w.Write(content[:1000])
		w.(http.Flusher).Flush()
		close(started)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; time.Sleep(50 * time.Millisecond); cancel() }()
	target := filepath.Join(t.TempDir(), "f")
	err := (&Fetcher{Retries: 3}).Fetch(ctx, srv.URL+"/f", target, wantOf(content))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "kept in") {
		t.Fatalf("got %v, want a cancellation keeping the .part", err)
	}
	if st, err := os.Stat(target + ".part"); err != nil || st.Size() != 1000 {
		t.Errorf(".part: %v, %v; want the 1000 bytes received", st, err)
	}
}

func TestFetchIdle(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	err := (&Fetcher{Idle: 100 * time.Millisecond}).Fetch(context.Background(), srv.URL+"/f", filepath.Join(t.TempDir(), "f"), Want{Size: 10})
	if err == nil || !strings.Contains(err.Error(), "no data for 100ms") {
		t.Fatalf("got %v, want the stall named", err)
	}
}

func TestParseContentRange(t *testing.T) {
	for _, c := range []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 10-99/100", 10, 100, true},
		{"bytes 0-0/*", 0, -1, true},
		{"bytes 10-99/99", 0, 0, false},
		{"bytes 10-9/100", 0, 0, false},
		{"bytes -1-9/100", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"", 0, 0, false},
	} {
		s, tot, ok := parseContentRange(c.in)
		if ok != c.ok || ok && (s != c.start || tot != c.total) {
			t.Errorf("%q: %d %d %v", c.in, s, tot, ok)
		}
	}
}

// TestFetchPartLink: a .part that is a symbolic link is refused, not
// written through.
func TestFetchPartLink(t *testing.T) {
	content := payload(1000)
	srv := httptest.NewServer(&fileServer{content: content})
	defer srv.Close()
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	writeFile(t, victim, "keep me")
	target := filepath.Join(dir, "f")
	if err := os.Symlink(victim, target+".part"); err != nil {
		t.Fatal(err)
	}
	err := (&Fetcher{}).Fetch(context.Background(), srv.URL+"/f", target, wantOf(content))
	if err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Fatalf("got %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me" {
		t.Errorf("the link's target was changed: %q", b)
	}
}

func TestNetError(t *testing.T) {
	dns := &url.Error{Op: "Get", URL: "https://x.invalid/", Err: &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}}}
	if e := netError(errors.New("m"), dns); !e.final || !errors.Is(e, ErrUnreachable) {
		t.Errorf("unknown host: %+v", e)
	}
	if e := netError(errors.New("m"), errors.New("connection reset")); e.final || !errors.Is(e, ErrUnreachable) {
		t.Errorf("reset: %+v", e)
	}
	if got := urlErrorCause(dns).Error(); strings.Contains(got, "https://x.invalid/") {
		t.Errorf("urlErrorCause kept the URL: %s", got)
	}
}
