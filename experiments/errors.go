package experiments

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a problem with a config, at a place in it. Its text is
//
//	file:line:column: key.path: problem
//
// Line and Column are 1-based. Column is 0 when only the line is known
// (some YAML syntax errors), and Line too when the problem concerns the file
// as a whole (it cannot be read, is too large, is empty); the missing parts
// are then left out of the text. Path is "" for a problem at the top level
// of the config, and is then left out as well.
type Error struct {
	File         string
	Line, Column int
	// Path is the key path of the offending value: "methods[4].admm-grad",
	// "grid.admm-grad.rho[2]", "evaluate.ppl[0].protocol".
	Path string
	// Msg says what is wrong, what was expected and, where the valid values
	// are a finite set, lists them.
	Msg string
	// Err is the underlying error (a file system error), if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// yamlLine matches the decoder's errors that carry a line.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the problems libyaml's parser (rather than its
// scanner) reports; yaml.v3 gives their line 0-based.
var parserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"found undefined tag handle",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// syntaxError turns an error of the YAML decoder into an Error with the
// file name and, as far as the decoder tells or the source shows, the line.
func syntaxError(file string, src []byte, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		for _, p := range parserProblems {
			if strings.HasPrefix(m[2], p) {
				line++
				break
			}
		}
		return &Error{File: file, Line: line, Msg: "YAML syntax error: " + m[2]}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if name, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
		name = strings.TrimSuffix(name, "' referenced")
		e := &Error{File: file, Line: 1, Msg: fmt.Sprintf("alias *%s: anchors and aliases are not supported (write the value out)", name)}
		if i := strings.Index(string(src), "*"+name); i >= 0 {
			e.Line, e.Column = position(src, i)
		}
		return e
	}
	e := &Error{File: file, Line: 1, Msg: "YAML syntax error: " + msg}
	// The reader's errors (control characters, invalid UTF-8) carry no
	// position, and a problem on the first line none either.
	if i := badByte(src); i >= 0 {
		e.Line, e.Column = position(src, i)
	}
	return e
}

// position returns the 1-based line and column (in characters) of byte
// offset i of src.
func position(src []byte, i int) (line, col int) {
	line = 1 + strings.Count(string(src[:i]), "\n")
	start := strings.LastIndexByte(string(src[:i]), '\n') + 1
	return line, 1 + utf8.RuneCount(src[start:i])
}

// badByte returns the offset of the first character YAML does not allow
// (invalid UTF-8, a control character), or -1.
func badByte(src []byte) int {
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size <= 1 || !printable(r) {
			return i
		}
		i += size
	}
	return -1
}

// printable is YAML's c-printable.
func printable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		return true
	case r >= 0x20 && r <= 0x7e:
		return true
	case r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd, r >= 0x10000 && r <= 0x10ffff:
		return true
	}
	return false
}
