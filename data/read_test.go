package data_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/internal/memtest"
)

// gzipZeros returns n zero bytes, gzip-compressed: about n/1000 bytes.
func gzipZeros(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadTextLimits(t *testing.T) {
	sparse := filepath.Join(t.TempDir(), "huge.txt")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(10 << 30); err != nil { // 10 GiB, no blocks written
		t.Fatal(err)
	}
	f.Close()
	tests := []struct {
		name, path string
		maxAlloc   uint64 // bytes
	}{
		// Refused from its size, before a byte is read.
		{"10 GiB regular file", sparse, 1 << 20},
		// Endless: refused once the limit is crossed, in memory ≈ the limit.
		{"endless device", "/dev/zero", MaxTextBytes + MaxTextBytes/4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.path); err != nil {
				t.Skip(err)
			}
			var err error
			n := memtest.Allocated(func() { _, err = ReadText("", tc.path) })
			want := tc.path + ": is larger than 8 MiB, the limit for text corpora"
			if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrTooLarge) {
				t.Errorf("got %v, want %q", err, want)
			}
			if n > tc.maxAlloc {
				t.Errorf("allocated %d MiB, want at most %d MiB", n>>20, tc.maxAlloc>>20)
			}
		})
	}
	if _, err := ReadText("", t.TempDir()); err == nil || !strings.Contains(err.Error(), "is a directory, expected a file") {
		t.Errorf("directory: got %v", err)
	}
}

func TestDecompress(t *testing.T) {
	bomb, err := os.ReadFile("testdata/zeros-300MiB.bz2") // bzip2 -9 of 300 MiB of zeros: 242 bytes
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("plain text, not compressed\n")
	tests := []struct {
		name    string
		in      []byte
		limit   int64
		want    string // content, or
		wantErr string
	}{
		{"plain passes through", plain, 10, string(plain), ""},
		{"short input", []byte{0x1f}, 10, "\x1f", ""},
		{"gzip", gzipZeros(t, 1000), 1000, string(make([]byte, 1000)), ""},
		{"gzip bomb", gzipZeros(t, 8<<20), 1 << 20, "", "f.gz: decompresses to more than 1 MiB, the limit for task files"},
		{"bzip2 bomb at the task limit", bomb, MaxTaskBytes, "", "f.gz: decompresses to more than 128 MiB, the limit for task files"},
		{"gzip header only", []byte{0x1f, 0x8b}, 10, "", "f.gz: gzip: unexpected EOF"},
		{"truncated gzip", gzipZeros(t, 1000)[:15], 1 << 20, "", "f.gz: gzip: unexpected EOF"},
		{"truncated bzip2", bomb[:30], MaxTaskBytes, "", "f.gz: bzip2: "},
		{"bad bzip2", []byte("BZh9garbage"), 10, "", "f.gz: bzip2: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []byte
			var err error
			n := memtest.Allocated(func() { got, err = Decompress("f.gz", tc.in, tc.limit, "task files") })
			if tc.wantErr == "" {
				if err != nil || string(got) != tc.want {
					t.Fatalf("got %d bytes, %v", len(got), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want %q", err, tc.wantErr)
			}
			// The bzip2 reader's own tables take a few MiB.
			if tc.limit >= 1<<20 && n > uint64(tc.limit)+uint64(tc.limit)/4+4<<20 {
				t.Errorf("allocated %d MiB for a %d MiB limit", n>>20, tc.limit>>20)
			}
		})
	}
}

// TestVerifyOutsideDataDir: a file or directory ending like a registered
// path is checked wherever it lies, also through a symbolic link.
func TestVerifyOutsideDataDir(t *testing.T) {
	const rel = "models/stories260K/tok512.bin"
	elsewhere := fakeDir(t, rel, []byte("short")) // not the data directory
	bad := filepath.Join(elsewhere, rel)
	link := filepath.Join(t.TempDir(), "vocab.bin")
	if err := os.Symlink(bad, link); err != nil {
		t.Fatal(err)
	}
	const want = "size 5 bytes, expected 6227 for registered file " + rel
	for _, p := range []string{bad, filepath.Join(elsewhere, "models/stories260K"), filepath.Join(elsewhere, "models"), link} {
		if err := VerifyPath(t.TempDir(), p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("VerifyPath %s: got %v, want %q", p, err, want)
		}
	}
	if _, _, _, err := ReadFile(bad, MaxTaskBytes, "x"); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("ReadFile: got %v, want %q", err, want)
	}
	// An unregistered name beside it, or a longer name ending alike, is the
	// user's own.
	for _, name := range []string{"models/stories260K/other.bin", "models/stories260K/xtok512.bin"} {
		p := filepath.Join(fakeDir(t, name, []byte("mine")), name)
		if err := VerifyPath("", p); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	// A good copy outside the data directory passes and reports its entry.
	real, err := os.ReadFile(datatest.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(fakeDir(t, rel, real), rel)
	b, ref, e, err := ReadFile(good, MaxTaskBytes, "x")
	if err != nil || e == nil || e.Rel != rel || ref.SHA256 != e.SHA256 || ref.Size != int64(len(b)) || ref.Path != good {
		t.Errorf("good copy: ref %+v, entry %v, %v", ref, e, err)
	}
}

func TestRef(t *testing.T) {
	p := writeTemp(t, "abc.txt", []byte("abc"))
	ref, err := Ref(p)
	want := FileRef{Path: p, SHA256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Size: 3}
	if err != nil || ref != want {
		t.Fatalf("got %+v, %v; want %+v", ref, err, want)
	}
	if _, err := Ref("/dev/zero"); err == nil || !strings.Contains(err.Error(), "/dev/zero: not a regular file") {
		t.Errorf("device: got %v", err)
	}
	if _, err := Ref(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("missing file: no error")
	}
}
