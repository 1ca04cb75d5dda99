package main

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/datatest"
)

// registryServer serves the shared data directory's files at /<Rel>, as
// the registry's upstream URLs would, and points data fetch at it.
func registryServer(t *testing.T) *httptest.Server {
	t.Helper()
	shared := datatest.Dir(t)
	srv := httptest.NewServer(http.StripPrefix("/", http.FileServer(http.Dir(shared))))
	t.Cleanup(srv.Close)
	old := registryURL
	registryURL = func(e data.Entry) string { return srv.URL + "/" + e.Rel }
	t.Cleanup(func() { registryURL = old })
	return srv
}

func TestDataFetch(t *testing.T) {
	registryServer(t)
	dir := filepath.Join(t.TempDir(), "data")
	o := mustRun(t, "data", "fetch", "stories260K", "--data-dir", dir, "tasks/rte")
	for _, w := range []string{"models/stories260K/stories260K.bin", "models/stories260K/tok512.bin", "tasks/rte/dev.tsv", "fetched"} {
		if !strings.Contains(o.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, o.stdout)
		}
	}
	if !strings.Contains(o.stderr, "3 registered files into "+dir) {
		t.Errorf("stderr does not say where:\n%s", o.stderr)
	}
	for _, rel := range []string{"models/stories260K/stories260K.bin", "models/stories260K/tok512.bin", "tasks/rte/dev.tsv"} {
		if err := data.VerifyFile(dir, rel); err != nil {
			t.Error(err)
		}
	}
	// Again: everything present, nothing fetched.
	o = mustRun(t, "data", "fetch", "--json", "--data-dir", dir, "stories260K", "rte")
	var rep struct {
		Dir   string `json:"data_dir"`
		Files []struct{ File, Status string }
	}
	decodeJSON(t, o.stdout, &rep, "data_dir", "files")
	if rep.Dir != dir || len(rep.Files) != 3 {
		t.Errorf("report %+v", rep)
	}
	for _, f := range rep.Files {
		if f.Status != "present" {
			t.Errorf("%s: %s on the second fetch, want present", f.File, f.Status)
		}
	}
	// The fetched model works.
	mustRun(t, "generate", "--data-dir", dir, "--model", "stories260K", "--steps", "8")

	// list shows what is there.
	o = mustRun(t, "data", "list", "--data-dir", dir, "--json")
	var list struct {
		Files []struct{ File, Status string }
	}
	decodeJSON(t, o.stdout, &list, "data_dir", "files")
	status := map[string]string{}
	for _, f := range list.Files {
		status[f.File] = f.Status
	}
	if len(list.Files) != len(data.Files()) || status["tasks/rte/dev.tsv"] != "present" || status["tasks/boolq/dev.jsonl"] != "missing" {
		t.Errorf("list: %+v", list.Files)
	}
	if err := os.WriteFile(filepath.Join(dir, "tasks/rte/dev.tsv"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if o := mustRun(t, "data", "list", "--data-dir", dir); !strings.Contains(o.stdout, "wrong") {
		t.Errorf("list after a change:\n%s", o.stdout)
	}

	// Usage errors.
	for _, args := range [][]string{{"data"}, {"data", "pull"}, {"data", "fetch", "nope"}, {"data", "fetch", "--bogus"}, {"data", "hub", "not-an-id"}} {
		if o := cli(t, args...); o.code != exitUsage || o.stdout != "" || strings.Count(o.stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and one line", args, o.code, o.stdout, o.stderr)
		}
	}
	if o := cli(t, "data", "-h"); o.code != exitOK || !strings.Contains(o.stderr, "usage: prunebench data fetch") {
		t.Errorf("data -h: exit %d, %q", o.code, o.stderr)
	}
}

// TestDataFetchChecksum: an upstream file that is not the registered one
// is refused, and the error names the URL and both sums.
func TestDataFetchChecksum(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 6227)) // tok512.bin's size, not its content
	}))
	defer srv.Close()
	old := registryURL
	registryURL = func(e data.Entry) string { return srv.URL + "/" + e.Rel }
	defer func() { registryURL = old }()
	dir := t.TempDir()
	o := cli(t, "data", "fetch", "models/stories260K/tok512.bin", "--data-dir", dir)
	e, _ := data.Lookup("models/stories260K/tok512.bin")
	zero := sha256.Sum256(make([]byte, 6227))
	for _, w := range []string{srv.URL + "/models/stories260K/tok512.bin", hex.EncodeToString(zero[:]), "expected " + e.SHA256} {
		if !strings.Contains(o.stderr, w) {
			t.Errorf("stderr lacks %q: %s", w, o.stderr)
		}
	}
	if lines := strings.Split(strings.TrimSpace(o.stderr), "\n"); o.code != exitFail || o.stdout != "" || !strings.HasPrefix(lines[len(lines)-1], "prunebench data: ") {
		t.Errorf("exit %d, stderr %q", o.code, o.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "models/stories260K/tok512.bin")); err == nil {
		t.Error("the wrong file was put in place")
	}
	// Several: every file is tried, the error counts the failures.
	o = cli(t, "data", "fetch", "stories260K", "tasks/rte", "--data-dir", dir)
	if o.code != exitFail || o.stdout != "" || !strings.Contains(o.stderr, "3 of 3 files failed (above); the first: models/stories260K/stories260K.bin") ||
		!strings.Contains(o.stderr, "fetch tasks/rte/dev.tsv: failed: ") {
		t.Errorf("several failures: exit %d, stdout %q, stderr %q", o.code, o.stdout, o.stderr)
	}
}

// hubServer serves dir's files as revision commit of org/name on a fake
// hub (API and resolve URLs), and points --download at it.
func hubServer(t *testing.T, dir, repo, commit string) *[]string {
	t.Helper()
	files := map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	var mu sync.Mutex
	var gets []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gets = append(gets, r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/api/models/"+repo+"/revision/main" {
			var sib []map[string]any
			for n, b := range files {
				s := map[string]any{"rfilename": n, "size": len(b)}
				if strings.HasSuffix(n, ".safetensors") {
					sum := sha256.Sum256(b)
					s["lfs"] = map[string]any{"sha256": hex.EncodeToString(sum[:]), "size": len(b)}
				} else {
					h := sha1.New()
					fmt.Fprintf(h, "blob %d\x00", len(b))
					h.Write(b)
					s["blobId"] = hex.EncodeToString(h.Sum(nil))
				}
				sib = append(sib, s)
			}
			json.NewEncoder(w).Encode(map[string]any{"sha": commit, "siblings": sib})
			return
		}
		if n, ok := strings.CutPrefix(r.URL.Path, "/"+repo+"/resolve/"+commit+"/"); ok && files[n] != nil {
			w.Write(files[n])
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	old := hubEndpoint
	hubEndpoint = srv.URL
	t.Cleanup(func() { hubEndpoint = old })
	return &gets
}

func TestDownloadFlag(t *testing.T) {
	hf := hfCopy(t)
	const commit = "0123456789abcdef0123456789abcdef01234567"
	gets := hubServer(t, hf, "karpathy/stories260K", commit)
	cache := t.TempDir()
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_TOKEN", "") // no real token goes to the test server
	t.Setenv("HF_TOKEN_PATH", filepath.Join(cache, "no-token"))
	t.Chdir(t.TempDir())
	want := mustRun(t, "generate", "--model", hf, "--steps", "16").stdout

	o := cli(t, "generate", "--model", "karpathy/stories260K", "--steps", "16")
	if o.code != exitFail || !strings.Contains(o.stderr, "--download") ||
		!strings.Contains(o.stderr, filepath.Join(cache, "models--karpathy--stories260K", "refs", "main")) {
		t.Errorf("without --download: exit %d, stderr %q", o.code, o.stderr)
	}
	o = mustRun(t, "generate", "--model", "karpathy/stories260K", "--download", "--steps", "16")
	if o.stdout != want {
		t.Errorf("hub copy generates %q, the directory %q", o.stdout, want)
	}
	if !strings.Contains(o.stderr, "fetch karpathy/stories260K: commit "+commit) {
		t.Errorf("no fetch progress:\n%s", o.stderr)
	}
	// Now in the cache: without --download, and with it no file is fetched.
	if o := mustRun(t, "generate", "--model", "karpathy/stories260K@"+commit, "--steps", "16"); o.stdout != want {
		t.Errorf("@commit generates %q", o.stdout)
	}
	// A usage error is found before the hub is asked anything.
	n := len(*gets)
	if o := cli(t, "generate", "--model", "karpathy/stories260K", "--download", "--steps", "0"); o.code != exitUsage || len(*gets) != n {
		t.Errorf("--steps 0 with --download: exit %d, %d requests to the hub", o.code, len(*gets)-n)
	}
	mustRun(t, "generate", "--model", "karpathy/stories260K", "--download", "--steps", "16")
	if len(*gets) != n+1 {
		t.Errorf("a second --download made %d requests, want the API's only: %v", len(*gets)-n, (*gets)[n:])
	}
	// The runner verbs resolve it too, and record the snapshot's files.
	story := storyText(t)
	o = mustRun(t, "ppl", "--model", "karpathy/stories260K", "--download", "--dataset", story, "--seqlen", "64", "--json")
	var rep struct {
		Model      string
		ModelFiles []data.FileRef `json:"model_files"`
	}
	decodeJSON(t, o.stdout, &rep, "model", "model_files")
	snapDir := filepath.Join(cache, "models--karpathy--stories260K", "snapshots", commit)
	if rep.Model != "karpathy/stories260K" || len(rep.ModelFiles) == 0 {
		t.Errorf("ppl report %+v", rep)
	}
	for _, f := range rep.ModelFiles {
		if !strings.HasPrefix(f.Path, snapDir+string(filepath.Separator)) {
			t.Errorf("model file %s outside the snapshot %s", f.Path, snapDir)
		}
	}
	// data hub prints the snapshot.
	o = mustRun(t, "data", "hub", "karpathy/stories260K")
	if strings.TrimSpace(o.stdout) != filepath.Join(cache, "models--karpathy--stories260K", "snapshots", commit) {
		t.Errorf("data hub printed %q", o.stdout)
	}
	// The hub unreachable: --download uses the cache, and says so.
	oldFetcher := newFetcher
	newFetcher = func(w io.Writer) *data.Fetcher { f := oldFetcher(w); f.RetryWait = time.Millisecond; return f }
	defer func() { newFetcher = oldFetcher }()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	hubEndpoint = dead.URL
	o = mustRun(t, "generate", "--model", "karpathy/stories260K", "--download", "--steps", "16")
	if o.stdout != want || !strings.Contains(o.stderr, "using the cached snapshot "+filepath.Join(cache, "models--karpathy--stories260K", "snapshots", commit)) {
		t.Errorf("hub unreachable: stdout %q, stderr %q", o.stdout, o.stderr)
	}
	o = cli(t, "generate", "--model", "karpathy/other", "--download", "--steps", "16")
	if o.code != exitFail || !strings.Contains(o.stderr, "connection refused") {
		t.Errorf("hub unreachable, model not cached: exit %d, %q", o.code, o.stderr)
	}
	// --download with a model that is not a hub id is a usage error.
	for _, m := range []string{"stories260K", "./karpathy/stories260K"} {
		if o := cli(t, "generate", "--model", m, "--download"); o.code != exitUsage || !strings.Contains(o.stderr, "not a Hugging Face model id") {
			t.Errorf("--download --model %s: exit %d, %q", m, o.code, o.stderr)
		}
	}
}
