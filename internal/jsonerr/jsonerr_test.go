package jsonerr

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	type cfg struct {
		N *int              `json:"n"`
		F float64           `json:"f"`
		M map[string]string `json:"m"`
	}
	for _, c := range []struct{ in, want string }{
		{`{"n":"64"}`, "key n: expected an integer, got string"},
		{`{"f":"x"}`, "key f: expected a number, got string"},
		{`{"m":{"a":1}}`, "key m: expected a string, got number"},
		{`[]`, "expected an object, got array"},
		{`{"n":1e300}`, "key n: expected an integer, got number 1e300"},
		{`{"n":`, "invalid JSON at byte 5: unexpected end of JSON input"},
		{`{"n" 1}`, "invalid JSON at byte 6: invalid character '1' after object key"},
	} {
		var v cfg
		raw := json.Unmarshal([]byte(c.in), &v)
		err := Describe(raw)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: got %v, want %q", c.in, err, c.want)
		}
		if !errors.Is(err, raw) {
			t.Errorf("%s: does not wrap the original", c.in)
		}
	}
	if Describe(nil) != nil {
		t.Error("Describe(nil) != nil")
	}
	if got := Key("a\x1b[2J\x00\xff"); got != `"a\x1b[2J\x00\xff"` {
		t.Errorf("Key: %s", got)
	}
	if got := Key(strings.Repeat("k", 100)); len(got) > 70 {
		t.Errorf("Key not cut: %s", got)
	}
}
