// Package jsonerr rewrites encoding/json's decoding errors for users: they
// name the key and the JSON kinds involved, never a Go type or struct.
package jsonerr
