package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ReadC4 reads C4 documents: one JSON object per line with a string field
// "text" (other fields are ignored), gzip-compressed or not, detected by the
// gzip magic bytes. Blank lines are skipped, as HF's json loader does. name
// labels errors, which give the 1-based line number.
//
// Every text is kept in memory because the reference sampler needs random
// access by document index: a 300 MB C4 shard holds about 0.8 GB of text.
func ReadC4(r io.Reader, name string) ([]string, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	src := br
	if bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		defer zr.Close()
		src = bufio.NewReaderSize(zr, 1<<20)
	}
	var docs []string
	for line := 1; ; line++ {
		b, err := src.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: line %d: %w", name, line, err)
		}
		if len(bytes.TrimSpace(b)) > 0 {
			var doc struct {
				Text *string `json:"text"`
			}
			if jerr := json.Unmarshal(b, &doc); jerr != nil {
				return nil, fmt.Errorf("%s: line %d: expected a JSON object with a \"text\" string: %w", name, line, jerr)
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
