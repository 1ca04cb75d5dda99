//go:build unix

package data_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	. "github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/memtest"
)

// TestReadTextFIFO: an endless FIFO is refused at the limit, in memory
// about the limit.
func TestReadTextFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skip(err)
	}
	go func() {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		line := []byte(strings.Repeat("endless text ", 5000) + "\n")
		for {
			if _, err := w.Write(line); err != nil {
				return // the reader gave up
			}
		}
	}()
	var err error
	n := memtest.Allocated(func() { _, err = ReadText("", p) })
	if want := p + ": is larger than 8 MiB, the limit for text corpora"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
	if n > MaxTextBytes+MaxTextBytes/4 {
		t.Errorf("allocated %d MiB for a %d MiB limit", n>>20, MaxTextBytes>>20)
	}
}
