package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// temps is the set of temporaries alive in this process.
var temps struct {
	sync.Mutex
	m map[string]bool
}

func register(path string) {
	temps.Lock()
	defer temps.Unlock()
	if temps.m == nil {
		temps.m = map[string]bool{}
	}
	temps.m[path] = true
}

func unregister(path string) {
	temps.Lock()
	defer temps.Unlock()
	delete(temps.m, path)
}

// RemoveTemps removes every temporary file and directory not yet committed
// or aborted. It is meant for an exit that skips deferred clean-ups.
func RemoveTemps() {
	temps.Lock()
	defer temps.Unlock()
	for p := range temps.m {
		os.RemoveAll(p)
	}
	temps.m = nil
}

var umask = sync.OnceValue(func() os.FileMode {
	// Umask can only be read by setting it; put it straight back.
	old := syscall.Umask(0o022)
	syscall.Umask(old)
	return os.FileMode(old)
})

// FileMode and DirMode are the permissions of committed files and
// directories: 0666 and 0777 less the umask.
func FileMode() os.FileMode { return 0o666 &^ umask() }

// DirMode: see FileMode.
func DirMode() os.FileMode { return 0o777 &^ umask() }

// File is an output file being written under a temporary name.
type File struct {
	*os.File
	path string // final name
	done bool
}

// Create starts writing path. Nothing appears at path until Commit; an
// existing file there is left as it is until then.
func Create(path string) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	register(f.Name())
	return &File{File: f, path: path}, nil
}

// Commit syncs the file, gives it the usual permissions and renames it to
// its final name. On failure the temporary is removed.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("%s: already committed or aborted", f.path)
	}
	err := errors.Join(f.Chmod(FileMode()), f.Sync())
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), f.path)
	}
	if err != nil {
		f.Abort()
		return fmt.Errorf("%s: %w", f.path, err)
	}
	f.done = true
	unregister(f.Name())
	return syncDir(filepath.Dir(f.path))
}

// Abort removes the temporary. It does nothing after Commit, so it can be
// deferred unconditionally.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.Name())
	unregister(f.Name())
}

// Dir is an output directory being filled under a temporary name.
type Dir struct {
	Tmp  string // where to write the contents
	path string
	done bool
}

// CreateDir starts filling the directory path; its parent must exist.
func CreateDir(path string) (*Dir, error) {
	path = filepath.Clean(path)
	tmp, err := os.MkdirTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return nil, err
	}
	register(tmp)
	return &Dir{Tmp: tmp, path: path}, nil
}

// Commit syncs the temporary directory, gives it the usual permissions and
// renames it to its final name, which must not exist or be an empty
// directory. The files inside must have been synced by their writers.
func (d *Dir) Commit() error {
	if d.done {
		return fmt.Errorf("%s: already committed or aborted", d.path)
	}
	err := os.Chmod(d.Tmp, DirMode())
	if err == nil {
		err = syncDir(d.Tmp)
	}
	if err == nil {
		// An empty directory in the way (a checked, empty --out) goes first;
		// Remove refuses a non-empty one, so nothing is lost.
		if rerr := os.Remove(d.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = rerr
		}
	}
	if err == nil {
		err = os.Rename(d.Tmp, d.path)
	}
	if err != nil {
		d.Abort()
		return fmt.Errorf("%s: %w", d.path, err)
	}
	d.done = true
	unregister(d.Tmp)
	return syncDir(filepath.Dir(d.path))
}

// Abort removes the temporary directory and everything in it. It does
// nothing after Commit.
func (d *Dir) Abort() {
	if d.done {
		return
	}
	d.done = true
	os.RemoveAll(d.Tmp)
	unregister(d.Tmp)
}

// WriteFile writes data to path atomically (see Create).
func WriteFile(path string, data []byte) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Commit()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		// Some file systems cannot sync a directory (EINVAL); the rename
		// itself has still happened.
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
