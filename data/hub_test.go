package data

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

const (
	commitA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	commitB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseHubID(t *testing.T) {
	for _, c := range []struct {
		in   string
		want HubID
	}{
		{"meta-llama/Llama-2-7b-hf", HubID{"meta-llama", "Llama-2-7b-hf", ""}},
		{"org/name@main", HubID{"org", "name", "main"}},
		{"org/name@refs/pr/1", HubID{"org", "name", "refs/pr/1"}},
		{"org/na.me_1@" + commitA, HubID{"org", "na.me_1", commitA}},
	} {
		got, err := ParseHubID(c.in)
		if err != nil || got != c.want || got.String() != c.in {
			t.Errorf("%q: %+v, %v", c.in, got, err)
		}
	}
	for _, bad := range []string{"", "org", "org/", "/name", "a/b/c", "org/name@", "org/..", "../x", "org/.hidden",
		"-x/y", "a--b/c", "org/name@../x", "org/name@a//b", "org/name@x/..", "org/name@/x", "org/na me", "org/name@a@b"} {
		if id, err := ParseHubID(bad); err == nil {
			t.Errorf("%q: parsed as %+v, want an error", bad, id)
		}
	}
}

func TestIsHubID(t *testing.T) {
	work := t.TempDir()
	writeFile(t, filepath.Join(work, "local/model/config.json"), "{}")
	t.Chdir(work)
	for arg, want := range map[string]bool{
		"org/name":          true,
		"org/name@v1":       true,
		"local/model":       false, // an existing path wins
		"./org/name":        false, // ./ is always a path
		"stories260K":       false, // a short name
		"/abs/org":          false,
		"local/model/x.bin": false,
		"org/name/extra":    false,
	} {
		if got := IsHubID(arg); got != want {
			t.Errorf("IsHubID(%q) = %v, want %v", arg, got, want)
		}
	}
}

func TestHubCacheDir(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HUGGINGFACE_HUB_CACHE", "")
	t.Setenv("HF_HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if got := HubCacheDir(); got != "/home/u/.cache/huggingface/hub" {
		t.Errorf("default: %s", got)
	}
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if got := HubCacheDir(); got != "/xdg/huggingface/hub" {
		t.Errorf("XDG_CACHE_HOME: %s", got)
	}
	t.Setenv("HF_HOME", "~/hf")
	if got := HubCacheDir(); got != "/home/u/hf/hub" {
		t.Errorf("HF_HOME: %s", got)
	}
	t.Setenv("HF_HUB_CACHE", "/cache")
	if got := HubCacheDir(); got != "/cache" {
		t.Errorf("HF_HUB_CACHE: %s", got)
	}
	if got := CacheDir(); got != "/xdg/prunebench" {
		t.Errorf("CacheDir with XDG_CACHE_HOME: %s", got)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	if got := CacheDir(); got != "/home/u/.cache/prunebench" {
		t.Errorf("CacheDir: %s", got)
	}
}

// TestDirFallback: without a flag, $PRUNEBENCH_DATA or ../shared/data the
// data directory is the cache directory.
func TestDirFallback(t *testing.T) {
	t.Chdir(t.TempDir()) // no ../shared/data above a fresh temporary folder
	if _, ok := findShared(); ok {
		t.Skip("a shared/data folder exists beside an ancestor of the temporary folder")
	}
	t.Setenv(EnvVar, "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if got := Dir(""); got != "/home/u/.cache/prunebench" {
		t.Errorf("Dir() = %q, want the cache directory", got)
	}
	if got := Dir("/flag"); got != "/flag" {
		t.Errorf("Dir(/flag) = %q", got)
	}
}

func TestResolveHub(t *testing.T) {
	cache := t.TempDir()
	repo := filepath.Join(cache, "models--org--name")
	writeFile(t, filepath.Join(repo, "refs/main"), commitA)
	writeFile(t, filepath.Join(repo, "refs/dev"), commitB+"\n")
	writeFile(t, filepath.Join(repo, "refs/broken"), "not a hash")
	writeFile(t, filepath.Join(repo, "refs/gone"), strings.Repeat("c", 40))
	writeFile(t, filepath.Join(repo, "snapshots", commitA, "config.json"), "{}")
	writeFile(t, filepath.Join(repo, "snapshots", commitB, "config.json"), "{}")
	if err := os.MkdirAll(filepath.Join(repo, "snapshots", strings.Repeat("d", 40)), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(cache, "models--org--gguf/refs/main"), commitA)
	writeFile(t, filepath.Join(cache, "models--org--gguf/snapshots", commitA, "m.Q8_0.gguf"), "GGUF")
	if err := syscall.Mkfifo(filepath.Join(repo, "refs/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	snap := func(c string) string { return filepath.Join(repo, "snapshots", c) }
	for _, c := range []struct {
		id   string
		want string
		errs []string
	}{
		{"org/name", snap(commitA), nil},
		{"org/name@main", snap(commitA), nil},
		{"org/name@dev", snap(commitB), nil},
		{"org/name@" + commitB, snap(commitB), nil},
		{"org/name@v2", "", []string{"org/name@v2: not in the Hugging Face cache", filepath.Join(repo, "refs/v2"), "--download"}},
		{"org/name@broken", "", []string{"refs/broken holds \"not a hash\", expected a 40-digit commit hash"}},
		{"org/name@gone", "", []string{"no snapshot " + strings.Repeat("c", 40), snap(strings.Repeat("c", 40)), "--download"}},
		{"org/name@" + strings.Repeat("d", 40), "", []string{"has no config.json", "--download"}},
		{"org/name@fifo", "", []string{"refs/fifo is not a regular file"}},
		{"org/gguf", filepath.Join(cache, "models--org--gguf/snapshots", commitA), nil},
		{"other/model", "", []string{filepath.Join(cache, "models--other--model/refs/main"), "--download"}},
	} {
		id, err := ParseHubID(c.id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ResolveHub(cache, id)
		if c.errs == nil {
			if err != nil || got != c.want {
				t.Errorf("%s: %q, %v; want %q", c.id, got, err, c.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: %q, want an error", c.id, got)
			continue
		}
		for _, w := range c.errs {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.id, err, w)
			}
		}
		if strings.Contains(err.Error(), "--download") && !errors.Is(err, ErrNotDownloaded) {
			t.Errorf("%s: %v does not match ErrNotDownloaded", c.id, err)
		}
	}
	// ResolveModel goes to the cache for a hub id that is not a path.
	t.Setenv("HF_HUB_CACHE", cache)
	t.Chdir(t.TempDir())
	if got, err := ResolveModel("", "org/name@dev"); err != nil || got != snap(commitB) {
		t.Errorf("ResolveModel(org/name@dev) = %q, %v", got, err)
	}
	if _, err := ResolveModel("", "./org/name"); err == nil || !strings.Contains(err.Error(), "./org/name: not found") {
		t.Errorf("ResolveModel(./org/name) = %v, want a path not found", err)
	}
	if _, err := ResolveModel("", "no/such"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ResolveModel(no/such) = %v, want ErrNotFound", err)
	}
}

func gitBlobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// fakeHub serves the hub API and the resolve URLs of one repository.
type fakeHub struct {
	t      *testing.T
	org    string
	name   string
	commit string
	files  map[string][]byte
	lfs    map[string]bool
	// lfsSize overrides the size the API gives for an LFS file.
	lfsSize map[string]int64
	// headers are set on every answer.
	headers map[string]string
	// unserved files are listed but not served.
	unserved map[string]bool
	// status, when set, answers every request.
	status int
	mu     sync.Mutex
	gets   []string
	auth   []string
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.gets = append(h.gets, r.URL.Path)
	h.auth = append(h.auth, r.Header.Get("Authorization"))
	h.mu.Unlock()
	for k, v := range h.headers {
		w.Header().Set(k, v)
	}
	if h.status != 0 {
		w.WriteHeader(h.status)
		return
	}
	api := "/api/models/" + h.org + "/" + h.name + "/revision/"
	if rev, ok := strings.CutPrefix(r.URL.Path, api); ok {
		if rev != "main" && rev != h.commit || r.URL.Query().Get("blobs") != "true" {
			http.NotFound(w, r)
			return
		}
		var sib []map[string]any
		for n, b := range h.files {
			s := map[string]any{"rfilename": n, "size": len(b), "blobId": gitBlobID(b)}
			if h.lfs[n] {
				size := int64(len(b))
				if n, ok := h.lfsSize[n]; ok {
					size = n
				}
				s["lfs"] = map[string]any{"sha256": sum256(b), "size": size, "pointerSize": 134}
			}
			sib = append(sib, s)
		}
		json.NewEncoder(w).Encode(map[string]any{"id": h.org + "/" + h.name, "sha": h.commit, "siblings": sib})
		return
	}
	prefix := "/" + h.org + "/" + h.name + "/resolve/" + h.commit + "/"
	if n, ok := strings.CutPrefix(r.URL.Path, prefix); ok {
		if b, ok := h.files[n]; ok && !h.unserved[n] {
			w.Write(b)
			return
		}
	}
	http.NotFound(w, r)
}

func (h *fakeHub) requests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.gets...)
}

func newFakeHub(t *testing.T) (*fakeHub, *Hub) {
	fh := &fakeHub{t: t, org: "org", name: "tiny", commit: commitA,
		files: map[string][]byte{
			"config.json":                      []byte(`{"model_type":"llama"}`),
			"model-00001-of-00002.safetensors": payload(5000),
			"model-00002-of-00002.safetensors": payload(7000),
			"consolidated.safetensors":         payload(100), // not in the index: not fetched
			"model.safetensors.index.json": []byte(`{"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors",` +
				`"b":"model-00002-of-00002.safetensors","c":"model-00001-of-00002.safetensors"}}`),
			"tokenizer.model":        payload(300),
			"README.md":              []byte("not fetched"),
			"original/params.json":   []byte("not fetched"),
			"generation_config.json": []byte(`{}`),
		},
		lfs: map[string]bool{"model-00001-of-00002.safetensors": true, "model-00002-of-00002.safetensors": true,
			"consolidated.safetensors": true, "tokenizer.model": true},
	}
	srv := httptest.NewServer(fh)
	t.Cleanup(srv.Close)
	h := &Hub{Cache: t.TempDir(), Endpoint: srv.URL,
		Fetcher: &Fetcher{Token: "hf_x", TokenHost: strings.TrimPrefix(srv.URL, "http://")}}
	return fh, h
}

func TestHubDownload(t *testing.T) {
	fh, h := newFakeHub(t)
	id := HubID{Org: "org", Name: "tiny"}
	snap, err := h.Download(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(h.Cache, "models--org--tiny")
	if snap != filepath.Join(repo, "snapshots", commitA) {
		t.Errorf("snapshot %s", snap)
	}
	want := []string{"config.json", "generation_config.json", "model-00001-of-00002.safetensors",
		"model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.model"}
	ents, err := os.ReadDir(snap)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
		p := filepath.Join(snap, e.Name())
		link, err := os.Readlink(p)
		if err != nil {
			t.Errorf("%s is not a symbolic link: %v", e.Name(), err)
			continue
		}
		blob := gitBlobID(fh.files[e.Name()])
		if fh.lfs[e.Name()] {
			blob = sum256(fh.files[e.Name()])
		}
		if link != "../../blobs/"+blob {
			t.Errorf("%s -> %s, want ../../blobs/%s", e.Name(), link, blob)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != string(fh.files[e.Name()]) {
			t.Errorf("%s: content differs (%v)", e.Name(), err)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("snapshot holds %v, want %v", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(repo, "refs/main")); err != nil || string(b) != commitA {
		t.Errorf("refs/main: %q, %v", b, err)
	}
	if p, err := ResolveHub(h.Cache, id); err != nil || p != snap {
		t.Errorf("ResolveHub after the download: %q, %v", p, err)
	}
	for i, a := range fh.auth {
		if a != "Bearer hf_x" {
			t.Errorf("request %d (%s) lacks the token: %q", i, fh.requests()[i], a)
		}
	}
	// Everything present: only the API is asked.
	n := len(fh.requests())
	if _, err := h.Download(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if r := fh.requests()[n:]; len(r) != 1 || !strings.HasPrefix(r[0], "/api/") {
		t.Errorf("second download made requests %v, want the API only", r)
	}
	// A removed link is restored from its blob without a download.
	os.Remove(filepath.Join(snap, "tokenizer.model"))
	n = len(fh.requests())
	if _, err := h.Download(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if r := fh.requests()[n:]; len(r) != 1 {
		t.Errorf("relinking made requests %v", r)
	}
	// At a commit: no ref is written for it.
	if _, err := h.Download(context.Background(), HubID{Org: "org", Name: "tiny", Revision: commitA}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(repo, "refs", commitA)); err == nil {
		t.Error("a ref named after the commit was written")
	}
}

func TestHubDownloadErrors(t *testing.T) {
	ctx := context.Background()
	id := HubID{Org: "org", Name: "tiny"}
	t.Run("gated without token", func(t *testing.T) {
		fh, h := newFakeHub(t)
		fh.status = http.StatusUnauthorized
		h.Fetcher.Token = ""
		_, err := h.Download(ctx, id)
		if err == nil || !strings.Contains(err.Error(), "set HF_TOKEN") || !strings.Contains(err.Error(), "accepted the licence on "+h.Endpoint+"/org/tiny") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("gated with token", func(t *testing.T) {
		fh, h := newFakeHub(t)
		fh.status = http.StatusForbidden
		_, err := h.Download(ctx, id)
		if err == nil || !strings.Contains(err.Error(), "although HF_TOKEN is set") || !strings.Contains(err.Error(), "accept the licence") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("hub error codes", func(t *testing.T) {
		for code, want := range map[string]string{
			"GatedRepo":        "Access to model org/tiny is restricted",
			"RepoNotFound":     "no model org/tiny that the token in HF_TOKEN may read",
			"RevisionNotFound": "model org/tiny has no revision main",
		} {
			fh, h := newFakeHub(t)
			fh.status = http.StatusForbidden
			fh.headers = map[string]string{"X-Error-Code": code, "X-Error-Message": "Access to model org/tiny is restricted.\r\nInjected: line"}
			_, err := h.Download(ctx, id)
			if err == nil || !strings.Contains(err.Error(), want) || strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("%s: got %v", code, err)
			}
		}
	})
	t.Run("no such revision", func(t *testing.T) {
		_, h := newFakeHub(t)
		_, err := h.Download(ctx, HubID{Org: "org", Name: "tiny", Revision: "v9"})
		if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "no revision v9") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("wrong blob", func(t *testing.T) {
		fh, h := newFakeHub(t)
		fh.files["config.json"] = []byte(`{"model_type":"llama"}`)
		fh.lfs["config.json"] = false
		// Serve another content than the API describes.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/resolve/") && strings.HasSuffix(r.URL.Path, "/config.json") {
				w.Write([]byte(`{"model_type":"LLAMA"}`))
				return
			}
			fh.ServeHTTP(w, r)
		}))
		defer srv.Close()
		h.Endpoint = srv.URL
		_, err := h.Download(ctx, id)
		if err == nil || !strings.Contains(err.Error(), "git blob id") || !strings.Contains(err.Error(), gitBlobID(fh.files["config.json"])) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		fh, h := newFakeHub(t)
		fh.unserved = map[string]bool{"model-00002-of-00002.safetensors": true} // listed, then 404
		_, err := h.Download(ctx, HubID{Org: "org", Name: "tiny", Revision: commitA})
		if err == nil || !strings.Contains(err.Error(), "lists the file but does not serve it") {
			t.Errorf("got %v", err)
		}
		// Some files are in the snapshot, config.json is not: not usable.
		if _, err := ResolveHub(h.Cache, HubID{Org: "org", Name: "tiny", Revision: commitA}); !errors.Is(err, ErrNotDownloaded) ||
			!strings.Contains(err.Error(), "has no config.json") {
			t.Errorf("ResolveHub after an interrupted download: %v", err)
		}
	})
	t.Run("no room", func(t *testing.T) {
		fh, h := newFakeHub(t)
		fh.files["model-00002-of-00002.safetensors"] = nil
		fh.lfsSize = map[string]int64{"model-00002-of-00002.safetensors": 1 << 62}
		_, err := h.Download(ctx, id)
		if err == nil || !strings.Contains(err.Error(), "the files to fetch take 4194304.00 TiB but only") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("no safetensors", func(t *testing.T) {
		fh, h := newFakeHub(t)
		for n := range fh.files {
			if strings.Contains(n, "safetensors") {
				delete(fh.files, n)
			}
		}
		fh.files["pytorch_model.bin"] = []byte("x")
		_, err := h.Download(ctx, id)
		if err == nil || !strings.Contains(err.Error(), "no *.safetensors") {
			t.Errorf("got %v", err)
		}
	})
}

func TestParseHubInfo(t *testing.T) {
	good := `{"sha":"` + commitA + `","siblings":[{"rfilename":"config.json","size":3,"blobId":"` + commitB + `"}]}`
	if _, err := parseHubInfo([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		`{"sha":"x","siblings":[]}`,
		`{"sha":"` + commitA + `","siblings":[{"rfilename":"../x"}]}`,
		`{"sha":"` + commitA + `","siblings":[{"rfilename":"/etc/passwd"}]}`,
		`{"sha":"` + commitA + `","siblings":[{"rfilename":"a//b"}]}`,
		`{"sha":"` + commitA + `","siblings":[{"rfilename":"a"},{"rfilename":"a"}]}`,
		`[]`,
	} {
		if _, err := parseHubInfo([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func FuzzParseHubInfo(f *testing.F) {
	f.Add([]byte(`{"sha":"` + commitA + `","siblings":[{"rfilename":"config.json","size":3,"blobId":"` + commitB + `"},` +
		`{"rfilename":"m.safetensors","lfs":{"sha256":"` + strings.Repeat("e", 64) + `","size":9}}]}`))
	f.Add([]byte(`{"sha":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := parseHubInfo(b)
		if err != nil {
			return
		}
		for _, s := range info.Siblings {
			if !validRepoFile(s.RFilename) {
				t.Fatalf("accepted file name %q", s.RFilename)
			}
			p := filepath.Join("/snap", filepath.FromSlash(s.RFilename))
			if !strings.HasPrefix(p, "/snap/") {
				t.Fatalf("%q leaves the snapshot: %s", s.RFilename, p)
			}
			blob, w, err := s.want()
			if err == nil && (strings.ContainsAny(blob, "/.\\") || w.Size < 0) {
				t.Fatalf("blob %q size %d", blob, w.Size)
			}
		}
	})
}

func FuzzParseIndexShards(f *testing.F) {
	f.Add([]byte(`{"weight_map":{"a":"model-1.safetensors","b":"model-2.safetensors"}}`))
	f.Add([]byte(`{"weight_map":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		shards, err := parseIndexShards(b)
		if err != nil {
			return
		}
		if len(shards) == 0 {
			t.Fatal("no shards and no error")
		}
		for _, s := range shards {
			if strings.ContainsAny(s, "/\\") || s == ".." || !strings.HasSuffix(s, ".safetensors") {
				t.Fatalf("accepted shard %q", s)
			}
		}
	})
}

func FuzzParseHubID(f *testing.F) {
	for _, s := range []string{"org/name", "org/name@refs/pr/1", "a/../b", "org/name@x/../../y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseHubID(s)
		if err != nil {
			return
		}
		cache := "/cache"
		repo := id.RepoDir(cache)
		if filepath.Dir(repo) != cache {
			t.Fatalf("%q: repository folder %s outside the cache", s, repo)
		}
		ref := filepath.Join(repo, "refs", filepath.FromSlash(id.Rev()))
		if !strings.HasPrefix(ref, repo+"/refs/") {
			t.Fatalf("%q: ref %s outside the repository folder", s, ref)
		}
	})
}

func TestHubToken(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HF_HOME", "")
	t.Setenv("HF_TOKEN_PATH", "")
	t.Setenv(TokenEnvVar, "")
	if got := HubToken(); got != "" {
		t.Errorf("no token anywhere: %q", got)
	}
	writeFile(t, filepath.Join(home, ".cache/huggingface/token"), "hf_file\n")
	if got := HubToken(); got != "hf_file" {
		t.Errorf("token file: %q", got)
	}
	writeFile(t, filepath.Join(home, "other"), "hf_other")
	t.Setenv("HF_TOKEN_PATH", "~/other")
	if got := HubToken(); got != "hf_other" {
		t.Errorf("HF_TOKEN_PATH: %q", got)
	}
	t.Setenv(TokenEnvVar, " hf_env ")
	if got := HubToken(); got != "hf_env" {
		t.Errorf("HF_TOKEN: %q", got)
	}
}
