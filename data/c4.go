package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/prunebench/prunebench/internal/jsonerr"
)

// ReadC4 reads C4 documents: one JSON object per line with a string field
// "text" (other fields are ignored), gzip- or bzip2-compressed or not,
// detected by the magic bytes. Blank lines are skipped, as HF's json loader
// does. name labels errors, which give the 1-based line number. At most
// MaxC4Bytes of JSON are read (after decompression) and a line may hold at
// most MaxLineBytes; beyond either the input is refused as soon as it is
// seen.
//
// Every text is kept in memory because the reference sampler needs random
// access by document index: a 300 MB C4 shard holds about 0.8 GB of text.
func ReadC4(r io.Reader, name string) ([]string, error) {
	budget := int64(MaxC4Bytes)
	return readC4(r, name, &budget)
}

// readC4 is ReadC4 drawing the decompressed bytes it reads from *budget,
// which the shards of one calibration share.
func readC4(r io.Reader, name string, budget *int64) ([]string, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	dec, format, err := decompressor(br, name)
	if err != nil {
		return nil, err
	}
	src := br
	if format != "" {
		src = bufio.NewReaderSize(dec, 1<<20)
	}
	var docs []string
	for line := 1; ; line++ {
		b, err := readLine(src)
		// A document costs its text plus a string header and its slot in
		// docs: charged per line, so that a file of tiny documents cannot
		// hold several times the budget in memory.
		if len(b) > 0 {
			*budget -= int64(len(b)) + c4DocOverhead
		}
		switch {
		case errors.Is(err, errLongLine):
			return nil, fmt.Errorf("%s: line %d: longer than %d MiB, the limit for one line", name, line, MaxLineBytes>>20)
		case *budget < 0:
			return nil, tooLarge(name, "C4 calibration data (all shards together)", MaxC4Bytes, format != "")
		case err != nil && !errors.Is(err, io.EOF):
			return nil, fmt.Errorf("%s: line %d: %w", name, line, err)
		}
		if len(bytes.TrimSpace(b)) > 0 {
			var doc struct {
				Text *string `json:"text"`
			}
			if jerr := json.Unmarshal(b, &doc); jerr != nil {
				return nil, fmt.Errorf("%s: line %d: expected a JSON object with a \"text\" string: %w", name, line, jsonerr.Describe(jerr))
			}
			if doc.Text == nil {
				return nil, fmt.Errorf("%s: line %d: no \"text\" string field", name, line)
			}
			docs = append(docs, *doc.Text)
		}
		if err != nil {
			return docs, nil
		}
	}
}

// c4DocOverhead is what one document costs beyond its bytes: a 16-byte
// string header and about as much again of docs' spare capacity.
const c4DocOverhead = 32

var errLongLine = errors.New("line too long")

// readLine returns the next line with its '\n', or the rest of the input
// with io.EOF, refusing a line beyond MaxLineBytes with errLongLine as soon
// as it is that long. The result may alias br's buffer until the next call.
func readLine(br *bufio.Reader) ([]byte, error) {
	frag, err := br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return frag, err
	}
	long := append(make([]byte, 0, 2*len(frag)), frag...)
	for errors.Is(err, bufio.ErrBufferFull) {
		frag, err = br.ReadSlice('\n')
		if len(long)+len(frag) > MaxLineBytes {
			return nil, errLongLine
		}
		// Doubling, not append's 1.25× for large slices, which would
		// allocate several times the line while it grows.
		if len(long)+len(frag) > cap(long) {
			long = append(make([]byte, 0, min(2*cap(long), MaxLineBytes)), long...)
		}
		long = append(long, frag...)
	}
	return long, err
}
