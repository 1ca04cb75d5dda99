package data

import (
	"strings"
	"testing"
)

// TestReadC4Budget: the shards of one calibration share one budget of
// decompressed bytes (each line charged with c4DocOverhead too), and
// reading stops at the line that exceeds it.
func TestReadC4Budget(t *testing.T) {
	line := `{"text":"abc"}` + "\n" // 15 bytes
	budget := int64(2*(15+c4DocOverhead) + 10)
	docs, err := readC4(strings.NewReader(line+line), "a.json", &budget)
	if err != nil || len(docs) != 2 || budget != 10 {
		t.Fatalf("first shard: %d docs, budget %d, %v", len(docs), budget, err)
	}
	_, err = readC4(strings.NewReader(line), "b.json", &budget)
	if want := "b.json: is larger than 1024 MiB, the limit for C4 calibration data (all shards together)"; err == nil || err.Error() != want {
		t.Errorf("second shard: got %v, want %q", err, want)
	}
}

// TestReadC4JSONErrors: a line of the wrong JSON kinds is described in JSON
// words, naming the file, line and key, never a Go type or struct.
func TestReadC4JSONErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`[1]`, "c4.json: line 2: expected a JSON object with a \"text\" string: expected an object, got array"},
		{`{"text":5}`, "c4.json: line 2: expected a JSON object with a \"text\" string: key text: expected a string, got number"},
		{`{"text":["a"]}`, "key text: expected a string, got array"},
		{`"text"`, "expected an object, got string"},
		{`{"text" "a"}`, "c4.json: line 2: expected a JSON object with a \"text\" string: invalid JSON at byte 9: invalid character"},
	} {
		_, err := ReadC4(strings.NewReader(`{"text":"ok"}`+"\n"+c.in+"\n"), "c4.json")
		if err == nil {
			t.Errorf("%s: accepted", c.in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: got %q, want %q", c.in, msg, c.want)
		}
		for _, bad := range []string{"Go ", "struct", "*string", "unmarshal", " of type "} {
			if strings.Contains(msg, bad) {
				t.Errorf("%s: %q mentions %q", c.in, msg, bad)
			}
		}
	}
}
