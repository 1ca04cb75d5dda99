package data

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/prunebench/prunebench/internal/sysmem"
)

// HFEndpoint is the hub the models come from.
const HFEndpoint = "https://" + HFHost

// Limits on the small JSON files the downloader reads into memory.
const (
	// MaxHubAPIBytes caps the hub's answer about one revision (a file
	// list; a repository with thousands of files is a few MB).
	MaxHubAPIBytes = 32 << 20
	// MaxIndexBytes caps model.safetensors.index.json.
	MaxIndexBytes = 64 << 20
)

// Hub downloads models into the Hugging Face cache layout that ResolveHub
// reads (huggingface_hub's own): models--org--name/blobs/<sha256 or git
// blob id>, snapshots/<commit>/<file> as a relative symbolic link to its
// blob, and refs/<revision> holding the commit hash.
type Hub struct {
	// Cache is the hub cache folder; "" means HubCacheDir().
	Cache string
	// Endpoint is the hub's base URL; "" means HFEndpoint. The Fetcher's
	// TokenHost must name its host for the token to be sent.
	Endpoint string
	// Fetcher does the downloads (and the API request); nil means
	// NewFetcher(nil).
	Fetcher *Fetcher
	// Progress receives a line per model and per file; nil means the
	// Fetcher's Progress.
	Progress io.Writer
}

// hubFile is one file of a revision, as the hub API lists it.
type hubFile struct {
	RFilename string `json:"rfilename"`
	Size      *int64 `json:"size"`
	BlobID    string `json:"blobId"`
	LFS       *struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	} `json:"lfs"`
}

// hubInfo is the hub API's answer for /api/models/{repo}/revision/{rev}?blobs=true.
type hubInfo struct {
	SHA      string    `json:"sha"`
	Siblings []hubFile `json:"siblings"`
}

var (
	sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
	blobIDPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// validRepoFile tells whether a file name from the hub is a clean relative
// path that stays inside the snapshot folder.
func validRepoFile(name string) bool {
	if name == "" || len(name) > 1024 || strings.HasPrefix(name, "/") || strings.ContainsAny(name, "\\\x00") {
		return false
	}
	for _, c := range strings.Split(name, "/") {
		if c == "" || c == "." || c == ".." {
			return false
		}
	}
	return true
}

// parseHubInfo decodes and checks the hub API's answer: a commit hash,
// and for every file a clean relative name, a size, and a sha256 (LFS) or
// git blob id of the right form.
func parseHubInfo(b []byte) (hubInfo, error) {
	var info hubInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return hubInfo{}, fmt.Errorf("not the hub API's JSON: %w", err)
	}
	if !commitPattern.MatchString(info.SHA) {
		return hubInfo{}, fmt.Errorf("commit %q: expected 40 hex digits", truncate(info.SHA, 80))
	}
	seen := map[string]bool{}
	for _, f := range info.Siblings {
		if !validRepoFile(f.RFilename) {
			return hubInfo{}, fmt.Errorf("file name %q: expected a relative path inside the repository", truncate(f.RFilename, 200))
		}
		if seen[f.RFilename] {
			return hubInfo{}, fmt.Errorf("file %q listed twice", truncate(f.RFilename, 200))
		}
		seen[f.RFilename] = true
	}
	return info, nil
}

// want returns the blob name and what the file must be, or an error when
// the API did not say enough to check it.
func (f hubFile) want() (blob string, w Want, err error) {
	w.Name = f.RFilename
	if f.LFS != nil {
		if !sha256Pattern.MatchString(f.LFS.SHA256) || f.LFS.Size < 0 {
			return "", w, fmt.Errorf("%s: LFS sha256 %q, size %d: expected 64 hex digits and a size", f.RFilename, truncate(f.LFS.SHA256, 80), f.LFS.Size)
		}
		w.Size, w.SHA256 = f.LFS.Size, f.LFS.SHA256
		return f.LFS.SHA256, w, nil
	}
	if !blobIDPattern.MatchString(f.BlobID) || f.Size == nil || *f.Size < 0 {
		return "", w, fmt.Errorf("%s: blob id %q and size: expected 40 hex digits and a size (the API's blobs=true answer)", f.RFilename, truncate(f.BlobID, 80))
	}
	w.Size, w.GitSHA1 = *f.Size, f.BlobID
	return f.BlobID, w, nil
}

// parseIndexShards returns the shard files model.safetensors.index.json
// names in its weight_map, sorted, each a plain file name ending in
// .safetensors.
func parseIndexShards(b []byte) ([]string, error) {
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("not a safetensors index: %w", err)
	}
	set := map[string]bool{}
	for _, s := range idx.WeightMap {
		if !validRepoFile(s) || strings.Contains(s, "/") || !strings.HasSuffix(s, ".safetensors") {
			return nil, fmt.Errorf("shard %q: expected a .safetensors file name beside the index", truncate(s, 200))
		}
		set[s] = true
	}
	if len(set) == 0 {
		return nil, errors.New("weight_map names no shard")
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

// Model files beside the weights: config.json is required, the others are
// fetched when the revision has them.
var (
	hubRequired = []string{"config.json"}
	hubOptional = []string{"tokenizer.model", "tokenizer.bin", "tokenizer.json", "tokenizer_config.json",
		"special_tokens_map.json", "generation_config.json"}
)

const indexName = "model.safetensors.index.json"

func (h *Hub) fetcher() *Fetcher {
	if h.Fetcher != nil {
		return h.Fetcher
	}
	return NewFetcher(nil)
}

func (h *Hub) progress() io.Writer {
	if h.Progress != nil {
		return h.Progress
	}
	return h.fetcher().Progress
}

func (h *Hub) endpoint() string {
	if h.Endpoint != "" {
		return strings.TrimRight(h.Endpoint, "/")
	}
	return HFEndpoint
}

// page is the model's page on the hub, where a gated model's licence is
// accepted.
func (h *Hub) page(id HubID) string { return h.endpoint() + "/" + id.Repo() }

// explain turns an access or not-found answer of the hub into advice.
func (h *Hub) explain(id HubID, err error) error {
	var se *StatusError
	if !errors.As(err, &se) {
		return fmt.Errorf("%s: %w", id, err)
	}
	status := se.Status
	if se.HubMessage != "" {
		status += " (" + se.HubMessage + ")"
	}
	switch {
	case se.HubCode == "RepoNotFound":
		if h.fetcher().Token == "" {
			return fmt.Errorf("%s: HTTP %s from %s: no model %s on the hub; if it is private, set %s to an access token that may read it", id, status, se.URL, id.Repo(), TokenEnvVar)
		}
		return fmt.Errorf("%s: HTTP %s from %s: no model %s that the token in %s may read", id, status, se.URL, id.Repo(), TokenEnvVar)
	case se.HubCode == "RevisionNotFound":
		return fmt.Errorf("%s: HTTP %s from %s: model %s has no revision %s", id, status, se.URL, id.Repo(), id.Rev())
	case se.HubCode == "EntryNotFound":
		return fmt.Errorf("%s: HTTP %s from %s: the hub lists the file but does not serve it", id, status, se.URL)
	}
	switch se.Code {
	case http.StatusUnauthorized, http.StatusForbidden:
		if h.fetcher().Token == "" {
			return fmt.Errorf("%s: HTTP %s from %s: the model is gated, private or does not exist: set %s to a Hugging Face access token of an account that accepted the licence on %s", id, status, se.URL, TokenEnvVar, h.page(id))
		}
		return fmt.Errorf("%s: HTTP %s from %s although %s is set: accept the licence on %s with the token's account, and check that the token may read the model", id, status, se.URL, TokenEnvVar, h.page(id))
	case http.StatusNotFound:
		if strings.Contains(se.URL, "/api/models/") {
			return fmt.Errorf("%s: HTTP %s from %s: no model %s or no revision %s on the hub", id, status, se.URL, id.Repo(), id.Rev())
		}
		return fmt.Errorf("%s: HTTP %s from %s: the hub lists the file but does not serve it", id, status, se.URL)
	}
	return fmt.Errorf("%s: %w", id, err)
}

// getJSON reads a small answer (the API, an index) into memory, with the
// Fetcher's token rules and retries, refusing more than limit bytes.
func (f *Fetcher) getJSON(ctx context.Context, rawURL string, limit int64) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("GET %q: %w", rawURL, err)
	}
	if err := checkURL(u); err != nil {
		return nil, fmt.Errorf("GET %w", err)
	}
	c := f.client()
	wait := f.RetryWait
	for attempt := 0; ; attempt++ {
		b, err := f.getJSONOnce(ctx, c, u, limit)
		var tr *errTransient
		// Two retries at most: a small request, and the hub's answer
		// decides whether a model is fetched or the cache used.
		if err == nil || !errors.As(err, &tr) || tr.final || attempt >= min(f.Retries, 2) || ctx.Err() != nil {
			return b, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (f *Fetcher) getJSONOnce(ctx context.Context, c *http.Client, u *url.URL, limit int64) ([]byte, error) {
	resp, err := f.get(ctx, c, u, 0)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var re *redirectError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("GET %s: %w", u.Redacted(), re.err)
		}
		return nil, netError(fmt.Errorf("GET %s: %w", u.Redacted(), urlErrorCause(err)), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		se := statusError(u.Redacted(), resp)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			return nil, &errTransient{err: se}
		}
		return nil, se
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("GET %s: %d bytes announced, more than the %d-byte limit", u.Redacted(), resp.ContentLength, limit)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &errTransient{err: fmt.Errorf("GET %s: %w", u.Redacted(), err)}
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("GET %s: more than the %d-byte limit", u.Redacted(), limit)
	}
	return b, nil
}

// resolveURL is where the hub serves a file of a commit.
func (h *Hub) resolveURL(id HubID, commit, name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return h.endpoint() + "/" + id.Org + "/" + id.Name + "/resolve/" + commit + "/" + strings.Join(parts, "/")
}

// Download makes the model id complete in the cache: it asks the hub for
// the revision's files, fetches those a model needs that the snapshot
// lacks (config.json; model.safetensors, or the index and the shards it
// names; tokenizer.model, tokenizer.bin (prunebench's own exports),
// tokenizer.json, tokenizer_config.json, special_tokens_map.json and
// generation_config.json when present),
// links them into snapshots/<commit>/ and records the revision in refs/.
// It returns the snapshot folder. Files already linked with the listed
// size are kept.
func (h *Hub) Download(ctx context.Context, id HubID) (string, error) {
	cache := h.Cache
	if cache == "" {
		cache = HubCacheDir()
	}
	if cache == "" {
		return "", fmt.Errorf("%s: no Hugging Face cache folder (set HF_HOME or HF_HUB_CACHE)", id)
	}
	f := h.fetcher()
	api := h.endpoint() + "/api/models/" + id.Org + "/" + id.Name + "/revision/" + url.PathEscape(id.Rev()) + "?blobs=true"
	b, err := f.getJSON(ctx, api, MaxHubAPIBytes)
	if err != nil {
		return "", h.explain(id, err)
	}
	info, err := parseHubInfo(b)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", id, api, err)
	}
	byName := map[string]hubFile{}
	for _, s := range info.Siblings {
		byName[s.RFilename] = s
	}
	repo := id.RepoDir(cache)
	snap := filepath.Join(repo, "snapshots", info.SHA)
	var names []string
	for _, n := range hubRequired {
		if _, ok := byName[n]; !ok {
			return "", fmt.Errorf("%s: revision %s has no %s (%s)", id, info.SHA, n, api)
		}
	}
	if _, ok := byName[indexName]; ok {
		// The index first: it says which shards make the model.
		if err := h.fetchFile(ctx, id, repo, snap, info.SHA, byName[indexName]); err != nil {
			return "", err
		}
		p := filepath.Join(snap, indexName)
		ib, err := readSmall(p, MaxIndexBytes)
		if err != nil {
			return "", fmt.Errorf("%s: %w", id, err)
		}
		shards, err := parseIndexShards(ib)
		if err != nil {
			return "", fmt.Errorf("%s: %s: %w", id, p, err)
		}
		for _, s := range shards {
			if _, ok := byName[s]; !ok {
				return "", fmt.Errorf("%s: %s names shard %s, which revision %s does not have", id, indexName, s, info.SHA)
			}
			names = append(names, s)
		}
	} else {
		n0 := len(names)
		for _, s := range info.Siblings {
			if !strings.Contains(s.RFilename, "/") && strings.HasSuffix(s.RFilename, ".safetensors") {
				names = append(names, s.RFilename)
			}
		}
		if len(names) == n0 {
			return "", fmt.Errorf("%s: revision %s has no *.safetensors weights at its top level (pytorch_model*.bin is not supported)", id, info.SHA)
		}
	}
	for _, n := range hubOptional {
		if _, ok := byName[n]; ok {
			names = append(names, n)
		}
	}
	// config.json last: a snapshot that has it is complete, which is what
	// ResolveHub takes its presence for.
	names = append(names, hubRequired...)
	var total int64
	var todo []hubFile
	for _, n := range names {
		s := byName[n]
		_, w, err := s.want()
		if err != nil {
			return "", fmt.Errorf("%s: %s: %w", id, api, err)
		}
		if present(filepath.Join(snap, filepath.FromSlash(n)), w.Size) {
			continue
		}
		todo = append(todo, s)
		total += w.Size
		blob, _, _ := s.want()
		if st, err := os.Lstat(filepath.Join(repo, "blobs", blob+".part")); err == nil && st.Mode().IsRegular() && st.Size() <= w.Size {
			total -= st.Size() // resumed, not fetched again
		}
	}
	if err := os.MkdirAll(filepath.Join(repo, "blobs"), 0o777); err != nil {
		return "", fmt.Errorf("%s: %w", id, err)
	}
	if free, ok := sysmem.DiskFree(filepath.Join(repo, "blobs")); ok {
		if free < total {
			return "", fmt.Errorf("%s: the files to fetch take %s but only %s are free in %s", id, mib(total), mib(free), filepath.Join(repo, "blobs"))
		}
	}
	if p := h.progress(); p != nil {
		fmt.Fprintf(p, "fetch %s: commit %s, %d of %d files to fetch (%s) into %s\n", id, info.SHA, len(todo), len(names), mib(total), repo)
	}
	for _, s := range todo {
		if err := h.fetchFile(ctx, id, repo, snap, info.SHA, s); err != nil {
			return "", err
		}
	}
	if !commitPattern.MatchString(id.Rev()) {
		ref := filepath.Join(repo, "refs", filepath.FromSlash(id.Rev()))
		if err := writeAtomic(ref, []byte(info.SHA)); err != nil {
			return "", fmt.Errorf("%s: %w", id, err)
		}
	}
	return snap, nil
}

// present tells whether path (through its link) is a file of size bytes.
func present(path string, size int64) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Size() == size
}

// fetchFile downloads one file of the revision into its blob, unless the
// blob is there with the listed size, and links it into the snapshot.
func (h *Hub) fetchFile(ctx context.Context, id HubID, repo, snap, commit string, s hubFile) error {
	blob, w, err := s.want()
	if err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	link := filepath.Join(snap, filepath.FromSlash(s.RFilename))
	if present(link, w.Size) {
		return nil
	}
	blobPath := filepath.Join(repo, "blobs", blob)
	if !present(blobPath, w.Size) {
		if err := h.fetcher().Fetch(ctx, h.resolveURL(id, commit, s.RFilename), blobPath, w); err != nil {
			return h.explain(id, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o777); err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	rel, err := filepath.Rel(filepath.Dir(link), blobPath)
	if err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	tmp := link + ".link-tmp"
	os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		return fmt.Errorf("%s: linking %s: %w", id, link, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: linking %s: %w", id, link, err)
	}
	return nil
}

// readSmall reads a file of at most limit bytes.
func readSmall(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than the %d-byte limit", p, limit)
	}
	return b, nil
}

// writeAtomic writes b to p through a temporary file and a rename.
func writeAtomic(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+path.Base(filepath.ToSlash(p))+".tmp*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), p)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", p, werr)
	}
	return nil
}
