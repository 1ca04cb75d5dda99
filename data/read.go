package data

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// readAllLimited reads r to EOF in chunks that are joined at the end, so
// that input refused at the limit has cost about limit bytes of memory, not
// the 2× a doubling buffer can reach. hint, when positive, is the expected
// size (a regular file's), read in one chunk. exceeded tells that r holds
// more than limit bytes; b is then nil.
func readAllLimited(r io.Reader, limit, hint int64) (b []byte, exceeded bool, err error) {
	var chunks [][]byte
	var total int64
	size := int64(64 << 10)
	if hint > 0 {
		size = hint + 1 // +1 sees EOF without a second chunk
	}
	for {
		buf := make([]byte, min(size, limit+1-total))
		n, err := fill(r, buf)
		total += int64(n)
		chunks = append(chunks, buf[:n])
		switch {
		case total > limit:
			return nil, true, nil
		case err == io.EOF:
			if len(chunks) == 1 {
				return chunks[0], false, nil
			}
			return bytes.Join(chunks, nil), false, nil
		case err != nil:
			return nil, false, err
		}
		size = min(2*size, 4<<20)
	}
}

// fill reads into buf until it is full or r fails. Unlike io.ReadFull it
// keeps r's own io.ErrUnexpectedEOF (a truncated gzip stream) apart from a
// short read at the end of the input, which is io.EOF.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// ReadFile reads the file at path whole, for parsing. A directory is
// refused; a regular file larger than limit bytes is refused from its size
// before reading, and any other file (a device such as /dev/zero, a FIFO) as
// soon as it has given more than limit bytes. what names the kind of file in
// errors ("text corpora").
//
// When path is a registered shared file, wherever it lies (see VerifyPath),
// its size is checked before reading and the sha256 of the bytes read before
// they are returned, so no caller parses an unverified byte; e is then its
// registry entry. ref is the absolute path and the size and sha256 of the
// bytes returned.
func ReadFile(path string, limit int64, what string) (b []byte, ref FileRef, e *Entry, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, FileRef{}, nil, err
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, FileRef{}, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, FileRef{}, nil, err
	}
	var hint int64
	switch {
	case st.IsDir():
		return nil, FileRef{}, nil, fmt.Errorf("%s: is a directory, expected a file", abs)
	case st.Mode().IsRegular():
		if st.Size() > limit {
			return nil, FileRef{}, nil, tooLarge(abs, what, limit, false)
		}
		hint = st.Size()
	}
	entry, registered := registeredEntry(abs)
	if registered && st.Mode().IsRegular() {
		if err := checkDigest(abs, entry, st.Size(), ""); err != nil {
			return nil, FileRef{}, nil, err
		}
	}
	b, exceeded, err := readAllLimited(f, limit, hint)
	if err != nil {
		return nil, FileRef{}, nil, fmt.Errorf("%s: reading: %w", abs, err)
	}
	if exceeded {
		return nil, FileRef{}, nil, tooLarge(abs, what, limit, false)
	}
	sum := sha256.Sum256(b)
	ref = FileRef{Path: abs, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b))}
	if registered {
		if err := checkDigest(abs, entry, ref.Size, ref.SHA256); err != nil {
			return nil, FileRef{}, nil, err
		}
		e = &entry
	}
	rememberIfUnchanged(abs, st, ref.SHA256)
	return b, ref, e, nil
}

// decompressor returns a reader of br's decompressed content and the
// format's name when br starts with the gzip or bzip2 magic bytes, whatever
// the file's name, and br itself with format "" otherwise. path labels
// errors.
func decompressor(br *bufio.Reader, path string) (r io.Reader, format string, err error) {
	magic, _ := br.Peek(4) // shorter input is simply not compressed
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "gzip", fmt.Errorf("%s: gzip: %w", path, err)
		}
		return zr, "gzip", nil
	case len(magic) == 4 && string(magic[:3]) == "BZh" && magic[3] >= '1' && magic[3] <= '9':
		return bzip2.NewReader(br), "bzip2", nil
	}
	return br, "", nil
}

// Decompress returns b itself, or its content when b starts with the gzip
// or bzip2 magic bytes, refusing content beyond limit bytes ("decompresses
// to more than N MiB") before it is all in memory. path and what label
// errors as in ReadFile.
func Decompress(path string, b []byte, limit int64, what string) ([]byte, error) {
	r, format, err := decompressor(bufio.NewReader(bytes.NewReader(b)), path)
	if err != nil {
		return nil, err
	}
	if format == "" {
		return b, nil
	}
	u, exceeded, err := readAllLimited(r, limit, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", path, format, err)
	}
	if exceeded {
		return nil, tooLarge(path, what, limit, true)
	}
	return u, nil
}
