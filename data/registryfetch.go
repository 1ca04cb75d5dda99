package data

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Select returns the registry entries the names choose, in registry order,
// each once. A name selects an entry when it is the entry's path (Rel), a
// folder of it (wikitext-2, tasks/rte, models), one of its folder names
// (stories260K, rte, llama2), a corpus name (wikitext2, wikitext2-valid,
// wikitext2-raw) or a task name with '_' for '-' (arc_easy). No names
// select the whole registry. A name that selects nothing is an error.
func Select(names []string) ([]Entry, error) {
	if len(names) == 0 {
		return Files(), nil
	}
	chosen := make([]bool, len(registry))
	for _, n := range names {
		n = strings.Trim(filepath.ToSlash(n), "/")
		hit := false
		for i, e := range registry {
			if selects(n, e) {
				chosen[i], hit = true, true
			}
		}
		if !hit {
			return nil, fmt.Errorf("%q selects no registered file (want a path such as models/stories260K or tasks/rte, a folder name such as stories260K or wikitext-2, or a corpus name such as wikitext2)", n)
		}
	}
	var out []Entry
	for i, e := range registry {
		if chosen[i] {
			out = append(out, e)
		}
	}
	return out, nil
}

func selects(n string, e Entry) bool {
	if n == "" {
		return false
	}
	if e.Rel == n || strings.HasPrefix(e.Rel, n+"/") {
		return true
	}
	if rel, ok := Corpus(n); ok && rel == e.Rel {
		return true
	}
	dirs := strings.Split(e.Rel, "/")
	dirs = dirs[:len(dirs)-1]
	for _, d := range dirs {
		if d == n || d == strings.ReplaceAll(n, "_", "-") {
			return true
		}
	}
	return false
}

// Status is where a registry entry stands in a data directory.
type Status int

const (
	// Missing: no file at the entry's path.
	Missing Status = iota
	// Present: the file matches the registry's size and sha256.
	Present
	// Wrong: a file is there but does not match.
	Wrong
)

func (s Status) String() string {
	switch s {
	case Present:
		return "present"
	case Wrong:
		return "wrong"
	}
	return "missing"
}

// StatusOf checks e in the data directory dir.
func StatusOf(dir string, e Entry) Status {
	p := filepath.Join(dir, filepath.FromSlash(e.Rel))
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return Missing
	}
	if verifyAt(p, e) != nil {
		return Wrong
	}
	return Present
}

// FetchEntry makes the registered file e present in the data directory
// dir: it downloads e.URL with f, checks the upstream size and sha256,
// applies e.Transform (the check then applies to the transformed file as
// recorded) and renames the result into place. A file already there with
// the registry's size and sha256 is kept (fetched false); one that does
// not match is replaced.
func FetchEntry(ctx context.Context, f *Fetcher, dir string, e Entry) (fetched bool, err error) {
	if dir == "" {
		return false, fmt.Errorf("%s: no data directory to fetch into", e.Rel)
	}
	if e.URL == "" {
		return false, fmt.Errorf("%s: the registry has no upstream URL for it", e.Rel)
	}
	target := filepath.Join(dir, filepath.FromSlash(e.Rel))
	switch StatusOf(dir, e) {
	case Present:
		return false, nil
	case Wrong:
		if f.Progress != nil {
			fmt.Fprintf(f.Progress, "fetch %s: %s does not match the registry; fetching it again\n", e.Rel, target)
		}
	}
	switch e.Transform {
	case "":
		if err := f.Fetch(ctx, e.URL, target, Want{Size: e.Size, SHA256: e.SHA256, Name: e.Rel}); err != nil {
			return false, fmt.Errorf("%s: %w", e.Rel, err)
		}
	case TransformStripCR:
		up := target + ".upstream"
		if err := f.Fetch(ctx, e.URL, up, Want{Size: e.UpstreamSize, SHA256: e.UpstreamSHA256, Name: e.Rel + " (upstream)"}); err != nil {
			return false, fmt.Errorf("%s: %w", e.Rel, err)
		}
		if err := stripCR(up, target, e); err != nil {
			return false, fmt.Errorf("%s: %w", e.Rel, err)
		}
		os.Remove(up)
	default:
		return false, fmt.Errorf("%s: unknown transform %q", e.Rel, e.Transform)
	}
	return true, nil
}

// stripCR writes src without its CR bytes to dst through dst.part,
// checking the result against e's size and sha256 before the rename.
func stripCR(src, dst string, e Entry) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	part := dst + ".part"
	out, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
	if err != nil {
		return err
	}
	defer func() {
		if out != nil {
			out.Close()
		}
		if err != nil {
			os.Remove(part)
		}
	}()
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(out, h), 1<<20)
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, rerr := in.Read(buf)
		if k > 0 {
			chunk := bytes.ReplaceAll(buf[:k], []byte{'\r'}, nil)
			n += int64(len(chunk))
			if n > e.Size {
				return fmt.Errorf("stripping CR from %s: more than the recorded %d bytes", src, e.Size)
			}
			if _, err := w.Write(chunk); err != nil {
				return fmt.Errorf("writing %s: %w", part, err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("reading %s: %w", src, rerr)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", part, err)
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", part, err)
	}
	cerr := out.Close()
	out = nil
	if cerr != nil {
		return fmt.Errorf("writing %s: %w", part, cerr)
	}
	if n != e.Size {
		return fmt.Errorf("%s without CR bytes: %d bytes, expected %d; removed", src, n, e.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != e.SHA256 {
		return fmt.Errorf("%s without CR bytes: sha256 %s, expected %s; removed", src, got, e.SHA256)
	}
	if err := os.Rename(part, dst); err != nil {
		return err
	}
	syncDir(filepath.Dir(dst))
	return nil
}
