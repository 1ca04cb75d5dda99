package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"syscall"

	"github.com/prunebench/prunebench/internal/atomicfile"
	"github.com/prunebench/prunebench/internal/jsonerr"
)

// MaxLine bounds one line of a results file, so that a corrupt file (one
// without newlines) cannot make the reader hold all of it at once. A
// record is a few KiB; 64 MiB leaves room for any number of files and
// zero-shot tasks.
const MaxLine = 64 << 20

// Append adds r to the results file at path as one JSON line, creating the
// file and its missing parent directories. The line is written with a single
// write and synced before Append returns, so a crash leaves at most a torn
// last line, which Read ignores and the next Append removes.
//
// Writers of one file exclude each other with an advisory lock (flock), so
// runs appending concurrently cannot interleave or cut each other's lines.
//
// JSON has no NaN or infinity: a record whose metrics hold one is refused,
// as is a record Read would reject (no ID, no method name, nil Metrics).
func Append(path string, r Record) error {
	line, err := encodeLine(path, r)
	if err != nil {
		return err
	}
	made, err := mkdirs(filepath.Dir(path))
	if err != nil {
		return err
	}
	created := false
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o666)
	if err == nil {
		created = true
	} else if errors.Is(err, fs.ErrExist) {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	if err != nil && !errors.Is(err, syscall.ENOLCK) && !errors.Is(err, syscall.EOPNOTSUPP) {
		// A file system without locks (some network ones) still gets the
		// record: concurrent writers of one file are the rare case.
		return fmt.Errorf("%s: locking: %w", path, err)
	}
	// The lock goes with the descriptor at Close.
	if err := repairTail(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if _, err := f.Write(line); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if created {
		// The new directory entries must reach the disk too, or the synced
		// file could vanish in a crash.
		for _, d := range append(made, path) {
			if err := atomicfile.SyncDir(filepath.Dir(d)); err != nil {
				return err
			}
		}
	}
	return nil
}

// encodeLine is r as a line of the results file at path, refused when
// Read would not take it back.
func encodeLine(path string, r Record) ([]byte, error) {
	if err := validate(r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for k, v := range r.Metrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s: run %s: metric %s is %v, which JSON cannot hold", path, r.ID, k, v)
		}
	}
	line, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("%s: run %s: %w", path, r.ID, err)
	}
	line = append(line, '\n')
	if len(line) > MaxLine {
		return nil, fmt.Errorf("%s: run %s: record is %d bytes, more than the %d MiB a line may have", path, r.ID, len(line), MaxLine>>20)
	}
	return line, nil
}

// mkdirs makes dir and its missing parents, returning those it made,
// outermost first.
func mkdirs(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || filepath.Dir(d) == d {
			break
		}
		missing = append([]string{d}, missing...)
	}
	if len(missing) == 0 {
		return nil, nil
	}
	return missing, os.MkdirAll(dir, 0o755)
}

// repairTail makes the file end in a newline before a record is appended,
// so the new record starts on its own line. An unterminated last line that
// is a whole valid record (the write stopped just before its newline) gets
// its newline, as Read counts it; any other is an interrupted write and is
// cut off, as Read ignores it.
func repairTail(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if size == 0 {
		return nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	start, err := lastLineStart(f, size)
	if err != nil {
		return err
	}
	if size-start <= MaxLine {
		tail := make([]byte, size-start)
		if _, err := f.ReadAt(tail, start); err != nil {
			return err
		}
		var r Record
		if json.Unmarshal(tail, &r) == nil && validate(r) == nil {
			_, err := f.Write([]byte{'\n'})
			return err
		}
	}
	return f.Truncate(start)
}

// lastLineStart finds the offset just after the last newline before size,
// reading backwards in blocks; 0 when there is none.
func lastLineStart(f *os.File, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		n := min(int64(len(buf)), end)
		b := buf[:n]
		if _, err := f.ReadAt(b, end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
}

func sizeWords(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// validate checks what every reader of a record relies on.
func validate(r Record) error {
	switch {
	case r.ID == "":
		return errors.New("record without an id")
	case r.Method.Name == "":
		return fmt.Errorf("run %s: no method name", r.ID)
	case r.Metrics == nil:
		return fmt.Errorf("run %s: no metrics (an empty object is allowed)", r.ID)
	}
	return nil
}

// Read reads the results file at path, in file order. Blank lines are
// skipped. An unterminated last line that does not parse is the trace of
// an interrupted write: it is left out and described in torn (empty when
// there is none) for the caller to print as a warning. Any other line that
// does not parse or lacks an id, a method name or metrics is an error
// naming file:line, and so is an id recorded twice with different metrics
// (the same metrics twice, as from a repeated append, keep the first).
//
// A missing file is an error that satisfies errors.Is(err, fs.ErrNotExist):
// a caller resuming a run treats it as no records.
func Read(path string) (recs []Record, torn string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	return readFrom(f, path, MaxLine)
}

func readFrom(rd io.Reader, name string, maxLine int) (recs []Record, torn string, err error) {
	br := bufio.NewReaderSize(rd, 64<<10)
	seen := map[string]int{} // id → index in recs
	lineOf := map[string]int{}
	var line []byte
	for n := 1; ; n++ {
		line = line[:0]
		var rerr error
		for {
			var chunk []byte
			chunk, rerr = br.ReadSlice('\n')
			if len(line)+len(chunk) > maxLine {
				return nil, "", fmt.Errorf("%s:%d: line longer than %s; not a results file?", name, n, sizeWords(maxLine))
			}
			line = append(line, chunk...)
			if rerr != bufio.ErrBufferFull {
				break
			}
		}
		if rerr != nil && rerr != io.EOF {
			return nil, "", fmt.Errorf("%s: %w", name, rerr)
		}
		terminated := len(line) > 0 && line[len(line)-1] == '\n'
		if len(bytes.TrimSpace(line)) > 0 {
			var r Record
			if err := json.Unmarshal(line, &r); err != nil {
				if !terminated {
					torn = fmt.Sprintf("%s: line %d: torn last line (%d bytes) ignored — an interrupted write", name, n, len(line))
					break
				}
				return nil, "", fmt.Errorf("%s:%d: %w", name, n, jsonerr.Describe(err))
			}
			if err := validate(r); err != nil {
				return nil, "", fmt.Errorf("%s:%d: %w", name, n, err)
			}
			if i, dup := seen[r.ID]; dup {
				if !maps.Equal(recs[i].Metrics, r.Metrics) {
					return nil, "", fmt.Errorf("%s: run %s recorded twice with different metrics (lines %d and %d)", name, r.ID, lineOf[r.ID], n)
				}
			} else {
				seen[r.ID], lineOf[r.ID] = len(recs), n
				recs = append(recs, r)
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	return recs, torn, nil
}

// IDs is the set of run IDs in recs: the runs a resumed experiment skips.
func IDs(recs []Record) map[string]bool {
	ids := make(map[string]bool, len(recs))
	for _, r := range recs {
		ids[r.ID] = true
	}
	return ids
}
