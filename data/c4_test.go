package data_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	. "github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/memtest"
)

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const c4Sample = `{"text":"Beginners BBQ Class.\nGreat!","timestamp":"2019-04-25T12:57:54Z","url":"https://x"}
{"url":"u","text":"caf\u00e9 \"q\""}

{"text":""}
`

func TestReadC4(t *testing.T) {
	want := []string{"Beginners BBQ Class.\nGreat!", `café "q"`, ""}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"plain", []byte(c4Sample)},
		{"no final newline", []byte(strings.TrimSuffix(c4Sample, "\n"))},
		{"crlf", []byte(strings.ReplaceAll(c4Sample, "\n", "\r\n"))},
		{"gzip", gz(t, []byte(c4Sample))},
		// Two concatenated gzip members, as from `cat a.gz b.gz`.
		{"gzip multistream", append(gz(t, []byte(c4Sample[:strings.Index(c4Sample, "\n")+1])), gz(t, []byte(c4Sample[strings.Index(c4Sample, "\n")+1:]))...)},
	} {
		got, err := ReadC4(bytes.NewReader(tc.in), "s.json")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, want)
		}
	}
}

func TestReadC4Errors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"{\"text\":\"a\"}\n{\"url\":\"x\"}\n", `s.json: line 2: no "text" string field`},
		{"{\"text\":null}\n", `line 1: no "text"`},
		{"{\"text\":\"a\"}\n\n[1]\n", "s.json: line 3: expected a JSON object"},
		{"{\"text\":5}\n", "line 1: expected a JSON object"},
		{"{\"text\":\"a\"} {\"text\":\"b\"}\n", "line 1:"},
		{"{\"text\":\"a\n", "line 1:"},
		{"\x1f\x8bjunk", "s.json: gzip:"},
	}
	for _, tc := range tests {
		_, err := ReadC4(strings.NewReader(tc.in), "s.json")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.in, err, tc.want)
		}
	}
	// A truncated gzip stream must not pass as a shorter shard.
	z := gz(t, []byte(strings.Repeat(c4Sample, 50)))
	if _, err := ReadC4(bytes.NewReader(z[:len(z)-10]), "s.json.gz"); err == nil {
		t.Error("truncated gzip: no error")
	}
}

func FuzzC4Lines(f *testing.F) {
	f.Add([]byte(c4Sample))
	f.Add([]byte("{\"text\":\"a\"}"))
	f.Add([]byte("\n\n{\"text\":\"\\ud800\"}\n"))
	f.Add([]byte("{}\n"))
	f.Add(gz(f, []byte(c4Sample)))
	f.Fuzz(func(t *testing.T, b []byte) {
		docs, err := ReadC4(bytes.NewReader(b), "f.json")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.json: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
			return
		}
		// Plain input: every non-blank line is one document, in order.
		var n int
		for _, line := range bytes.Split(b, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var doc struct{ Text string }
			if err := json.Unmarshal(line, &doc); err != nil {
				t.Fatalf("line %q accepted but not JSON: %v", line, err)
			}
			if n >= len(docs) || docs[n] != doc.Text {
				t.Fatalf("document %d differs from line %q", n, line)
			}
			n++
		}
		if n != len(docs) {
			t.Fatalf("%d documents from %d lines", len(docs), n)
		}
	})
}

func TestReadC4Limits(t *testing.T) {
	bomb := gzipZeros(t, MaxLineBytes+1<<20)
	var err error
	n := memtest.Allocated(func() { _, err = ReadC4(bytes.NewReader(bomb), "bomb.json.gz") })
	if want := "bomb.json.gz: line 1: longer than 16 MiB, the limit for one line"; err == nil || err.Error() != want {
		t.Errorf("gzip bomb without a newline: got %v, want %q", err, want)
	}
	if n > 3*MaxLineBytes {
		t.Errorf("allocated %d MiB", n>>20)
	}
}

// FuzzC4Gzip: a gzip-compressed shard reads as the same documents as the
// plain one, and arbitrary compressed bytes give documents or an error
// naming the file, never a crash.
func FuzzC4Gzip(f *testing.F) {
	f.Add([]byte(c4Sample), false)
	f.Add(gz(f, []byte(c4Sample)), true)
	f.Add(gz(f, make([]byte, 1<<16)), true)
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"), true)
	f.Fuzz(func(t *testing.T, b []byte, raw bool) {
		if raw {
			if _, err := ReadC4(bytes.NewReader(b), "f.json.gz"); err != nil && !strings.HasPrefix(err.Error(), "f.json.gz: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		plain, perr := ReadC4(bytes.NewReader(b), "f.json")
		if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b || bytes.HasPrefix(b, []byte("BZh")) {
			return // compressed already
		}
		zipped, zerr := ReadC4(bytes.NewReader(gz(t, b)), "f.json")
		if (perr == nil) != (zerr == nil) || !slices.Equal(plain, zipped) {
			t.Fatalf("plain %q, %v; gzip %q, %v", plain, perr, zipped, zerr)
		}
	})
}

// FuzzDecompress: any input gives its content within the limit or an error
// naming the file, never a crash or more than the limit.
func FuzzDecompress(f *testing.F) {
	f.Add([]byte("plain"))
	f.Add(gz(f, make([]byte, 1<<12)))
	f.Add([]byte("BZh91AY&SY"))
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 1 << 16
		u, err := Decompress("f.gz", b, limit, "tests")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.gz: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if len(u) > limit && !bytes.Equal(u, b) {
			t.Fatalf("%d bytes decompressed, limit %d", len(u), limit)
		}
	})
}
