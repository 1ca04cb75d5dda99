// Package datatest gives tests the shared data directory: it fails the test
// when CI is set and the directory is missing, and skips it otherwise.
package datatest
