package model

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestHFConfigJSONErrors: config.json of the wrong JSON kinds is described in
// JSON words, naming the file and key, never a Go type or struct.
func TestHFConfigJSONErrors(t *testing.T) {
	const path = "/m/config.json"
	for _, c := range []struct{ in, want string }{
		{`{"hidden_size": "64"}`, "key hidden_size: expected an integer, got string"},
		{`[]`, "expected an object, got array"},
		{`"x"`, "expected an object, got string"},
		{`{"rms_norm_eps": "1e-5"}`, "key rms_norm_eps: expected a number, got string"},
		{`{"model_type": 5}`, "key model_type: expected a string, got number"},
		{`{"tie_word_embeddings": "yes"}`, "key tie_word_embeddings: expected true or false, got string"},
		{`{"vocab_size": 1e300}`, "key vocab_size: expected an integer, got number 1e300"},
		{`{"vocab_size": 1.5}`, "key vocab_size: expected an integer, got number 1.5"},
		{`{"hidden_size": 64,}`, "invalid JSON at byte 20: invalid character '}'"},
		{`{"hidden_size": `, "invalid JSON at byte 16: unexpected end of JSON input"},
	} {
		_, err := parseHFConfig([]byte(c.in), path)
		if err == nil {
			t.Errorf("%s: accepted", c.in)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, path+": ") || !strings.Contains(msg, c.want) {
			t.Errorf("%s: got %q, want %s: …%s", c.in, msg, path, c.want)
		}
		for _, bad := range []string{"Go ", "struct", "model.", "hfConfig", "int64", "float64", "*int", "unmarshal"} {
			if strings.Contains(msg, bad) {
				t.Errorf("%s: %q mentions %q", c.in, msg, bad)
			}
		}
	}
}

// TestGGUFNamesQuoted: a metadata key or tensor name from the file is quoted
// (and bounded) in every error, so escape sequences, NUL bytes and invalid
// UTF-8 never reach a terminal raw.
func TestGGUFNamesQuoted(t *testing.T) {
	const evil = "\x1b[2J\x00\xff"
	const quoted = `"\x1b[2J\x00\xff"`
	long := evil + strings.Repeat("k", 10000)
	for _, c := range []struct {
		name string
		file []byte
		want string
	}{
		{"unknown value type", tinyGGUF(false).add(evil, []byte{99, 0, 0, 0}).bytes(), "metadata key " + quoted + ": unknown value type 99"},
		{"bad bool", tinyGGUF(false).add(evil, []byte{7, 0, 0, 0, 9}).bytes(), "metadata key " + quoted + ": bool byte 9"},
		{"duplicate key", tinyGGUF(false).add(evil, uint32(1)).add(evil, uint32(1)).bytes(), "metadata key " + quoted + " appears twice"},
		{"array of arrays", tinyGGUF(false).add(evil, []byte{9, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}).bytes(), "metadata key " + quoted + ": arrays of arrays"},
		{"long key", tinyGGUF(false).add(long, []byte{99, 0, 0, 0}).bytes(), `metadata key "\x1b[2J\x00\xffkkk`},
		{"unexpected tensor", tinyGGUF(false).tensor(evil, ggmlF32, 0, 1).bytes(), "unexpected tensor " + quoted},
		{"quantised tensor", tinyGGUF(false).tensor(evil, 2, 0, 32).bytes(), "tensor " + quoted + " has type"},
		{"duplicate tensor", tinyGGUF(false).tensor(evil, ggmlF32, 0, 1).tensor(evil, ggmlF32, 0, 1).bytes(), "tensor " + quoted + " listed twice"},
		{"five dimensions", tinyGGUF(false).tensor(evil, ggmlF32, 0, 1, 1, 1, 1, 1).bytes(), "tensor " + quoted + " has 5 dimensions"},
	} {
		_, err := readGGUFModel(bytes.NewReader(c.file), int64(len(c.file)), "evil.gguf")
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: got %q, want %q", c.name, msg, c.want)
		}
		if strings.ContainsAny(msg, "\x1b\x00") || !utf8.ValidString(msg) || len(msg) > 400 {
			t.Errorf("%s: raw name in %q", c.name, msg)
		}
	}
}
