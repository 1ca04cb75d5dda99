package data

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzReadText(f *testing.F) {
	for _, s := range []string{"", "a", "a\r\nb", "\xff", "ok\xc3", "€\xe2\x82", "\ufeff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeText("f.txt", b)
		switch {
		case len(b) == 0:
			if err == nil || !strings.HasPrefix(err.Error(), "f.txt: ") {
				t.Fatalf("empty: got %q, %v; want an error naming the file", got, err)
			}
		case !utf8.Valid(b):
			var off int
			if err == nil {
				t.Fatalf("%q: no error", b)
			}
			if _, serr := fmt.Sscanf(err.Error(), "f.txt: invalid UTF-8 at byte offset %d", &off); serr != nil {
				t.Fatalf("%q: error %q does not give the offset", b, err)
			}
			// The offset must be the first byte that does not start a rune.
			r, n := utf8.DecodeRune(b[off:])
			if !utf8.Valid(b[:off]) || r != utf8.RuneError || n != 1 {
				t.Fatalf("%q: offset %d is not the first invalid byte", b, off)
			}
		case err != nil || got != string(b):
			t.Fatalf("%q: got %q, %v; want the bytes verbatim", b, got, err)
		}
	})
}
