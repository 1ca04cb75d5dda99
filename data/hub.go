package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// HubID names a model on the Hugging Face hub: org/name, optionally at a
// revision (a branch, a tag or a commit hash; "" means main).
type HubID struct {
	Org, Name, Revision string
}

func (id HubID) String() string {
	if id.Revision == "" {
		return id.Org + "/" + id.Name
	}
	return id.Org + "/" + id.Name + "@" + id.Revision
}

// Repo returns org/name.
func (id HubID) Repo() string { return id.Org + "/" + id.Name }

// Rev returns the revision, main when none was given.
func (id HubID) Rev() string {
	if id.Revision == "" {
		return "main"
	}
	return id.Revision
}

// RepoDir returns the model's folder in the hub cache cache, as
// huggingface_hub lays it out: models--org--name.
func (id HubID) RepoDir(cache string) string {
	return filepath.Join(cache, "models--"+id.Org+"--"+id.Name)
}

// hubIDPattern is what a hub id looks like on the command line.
var hubIDPattern = regexp.MustCompile(`^([\w.-]+)/([\w.-]+)(?:@([\w./-]+))?$`)

var commitPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// ParseHubID parses org/name[@revision]. Besides the shape
// ^[\w.-]+/[\w.-]+(@[\w./-]+)?$ it refuses what cannot be a hub name and
// could leave the cache folder: a component that starts with '.' or '-'
// or holds "--" (org and name are joined with "--" in the cache) or "..",
// and a revision with an empty, "." or ".." component.
func ParseHubID(s string) (HubID, error) {
	m := hubIDPattern.FindStringSubmatch(s)
	if m == nil {
		return HubID{}, fmt.Errorf("%q: not a hub model id (want org/name or org/name@revision)", s)
	}
	id := HubID{Org: m[1], Name: m[2], Revision: m[3]}
	for _, part := range []string{id.Org, id.Name} {
		if len(part) > 96 || strings.HasPrefix(part, ".") || strings.HasPrefix(part, "-") ||
			strings.Contains(part, "--") || strings.Contains(part, "..") {
			return HubID{}, fmt.Errorf("%q: %q is not a valid hub name (letters, digits, '_', '-', '.'; at most 96; no leading '.' or '-', no \"--\" or \"..\")", s, part)
		}
	}
	if strings.Contains(s, "@") {
		if len(id.Revision) > 256 {
			return HubID{}, fmt.Errorf("%q: revision longer than 256 characters", s)
		}
		for _, c := range strings.Split(id.Revision, "/") {
			if c == "" || c == "." || c == ".." {
				return HubID{}, fmt.Errorf("%q: revision %q has an empty, \".\" or \"..\" component", s, id.Revision)
			}
		}
	}
	return id, nil
}

// IsHubID reports whether the --model argument arg names a hub model
// rather than a path, by the rule in the package documentation: it is not
// a short name, does not begin with ./, ../ or /, has the shape of
// org/name[@revision], and nothing exists at that path in the working
// directory (an existing path wins).
func IsHubID(arg string) bool {
	if IsName(arg) || filepath.IsAbs(arg) || strings.HasPrefix(arg, "./") || strings.HasPrefix(arg, "../") ||
		strings.ContainsRune(arg, filepath.Separator) && filepath.Separator != '/' {
		return false
	}
	if _, err := ParseHubID(arg); err != nil {
		return false
	}
	_, err := os.Lstat(arg)
	return errors.Is(err, fs.ErrNotExist)
}

// HubCacheDir returns the Hugging Face hub cache as huggingface_hub finds
// it: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE (its older name), else
// $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub. It returns "" when none applies (no home
// directory).
func HubCacheDir() string {
	for _, v := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		if d := os.Getenv(v); d != "" {
			return expandHome(d)
		}
	}
	if d := os.Getenv("HF_HOME"); d != "" {
		return filepath.Join(expandHome(d), "hub")
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "huggingface", "hub")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".cache", "huggingface", "hub")
}

// expandHome replaces a leading ~/ (huggingface_hub expands it too).
func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil && home != "" {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// ErrNotDownloaded is returned (wrapped, with ErrNotFound) when a hub
// model is not in the cache; --download fetches it.
var ErrNotDownloaded = errors.New("not in the Hugging Face cache")

// hubMissing is a hub model not in the cache; it matches ErrNotFound and
// ErrNotDownloaded.
type hubMissing struct{ msg string }

func (e *hubMissing) Error() string { return e.msg }
func (e *hubMissing) Is(target error) bool {
	return target == ErrNotFound || target == ErrNotDownloaded
}

// maxRefBytes bounds a refs/ file, which holds one commit hash.
const maxRefBytes = 4096

// HubCommit returns the commit hash id stands for in the cache: the
// revision itself when it is a 40-digit hash, else the content of
// refs/<revision> (refs/main without a revision).
func HubCommit(cache string, id HubID) (string, error) {
	rev := id.Rev()
	if commitPattern.MatchString(rev) {
		return rev, nil
	}
	ref := filepath.Join(id.RepoDir(cache), "refs", filepath.FromSlash(rev))
	st, err := os.Stat(ref)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", &hubMissing{fmt.Sprintf("%s: %s (looked for %s); --download fetches it", id, ErrNotDownloaded, ref)}
		}
		return "", err
	}
	if !st.Mode().IsRegular() {
		// Opening a FIFO would block.
		return "", fmt.Errorf("%s: %s is not a regular file (%s), expected one holding a commit hash", id, ref, st.Mode().Type())
	}
	f, err := os.Open(ref)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, maxRefBytes+1)
	n, _ := readFull(f, buf)
	if n > maxRefBytes {
		return "", fmt.Errorf("%s: %s: more than %d bytes, expected a commit hash", id, ref, maxRefBytes)
	}
	commit := strings.TrimSpace(string(buf[:n]))
	if !commitPattern.MatchString(commit) {
		return "", fmt.Errorf("%s: %s holds %q, expected a 40-digit commit hash", id, ref, truncate(commit, 80))
	}
	return commit, nil
}

// ResolveHub returns the snapshot folder of id in the hub cache cache,
// snapshots/<commit>/ under models--org--name, when it holds a
// config.json (or a .gguf file). The error for a missing model names what was looked for
// and where, matches ErrNotFound and ErrNotDownloaded, and suggests
// --download.
func ResolveHub(cache string, id HubID) (string, error) {
	if cache == "" {
		return "", &hubMissing{fmt.Sprintf("%s: no Hugging Face cache (set HF_HOME or HF_HUB_CACHE)", id)}
	}
	commit, err := HubCommit(cache, id)
	if err != nil {
		return "", err
	}
	snap := filepath.Join(id.RepoDir(cache), "snapshots", commit)
	st, err := os.Stat(snap)
	if err != nil || !st.IsDir() {
		return "", &hubMissing{fmt.Sprintf("%s: %s: no snapshot %s (looked for %s); --download fetches it", id, ErrNotDownloaded, commit, snap)}
	}
	// --download links config.json last, so a snapshot with it is whole;
	// a GGUF repository (huggingface-cli download) has a .gguf instead.
	cfg := filepath.Join(snap, "config.json")
	if _, err := os.Stat(cfg); err != nil {
		ggufs, _ := filepath.Glob(filepath.Join(snap, "*.gguf"))
		if len(ggufs) == 0 {
			return "", &hubMissing{fmt.Sprintf("%s: %s: snapshot %s has no config.json (looked for %s); --download fetches the missing files", id, ErrNotDownloaded, commit, cfg)}
		}
	}
	abs, err := filepath.Abs(snap)
	if err != nil {
		return "", err
	}
	return abs, nil
}

func readFull(f *os.File, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
