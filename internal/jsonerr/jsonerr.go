package jsonerr

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
)

// describedError carries the rewritten message and keeps the original for
// errors.As.
type describedError struct {
	msg string
	err error
}

func (e *describedError) Error() string { return e.msg }
func (e *describedError) Unwrap() error { return e.err }

// Describe turns a *json.UnmarshalTypeError into
// "key K: expected a number, got string" (without "key K: " at the top
// level) and a *json.SyntaxError into "invalid JSON at byte N: …". Other
// errors, and nil, are returned unchanged.
func Describe(err error) error {
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		msg := "expected " + kindWord(te.Type) + ", got " + te.Value
		if te.Field != "" {
			msg = "key " + Key(te.Field) + ": " + msg
		}
		return &describedError{msg, err}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &describedError{fmt.Sprintf("invalid JSON at byte %d: %s", se.Offset, se.Error()), err}
	}
	return err
}

// Key prints a key path from a file: bare when it is plain printable ASCII,
// else quoted (and cut to 64 bytes) so control bytes cannot reach a terminal.
func Key(k string) string {
	plain := k != ""
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain && len(k) <= 64 {
		return k
	}
	if len(k) > 64 {
		return strconv.Quote(k[:64]) + "…"
	}
	return strconv.Quote(k)
}

// kindWord names what a Go type decodes from, in JSON words.
func kindWord(t reflect.Type) string {
	if t == nil {
		return "a different value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "a different value"
}
