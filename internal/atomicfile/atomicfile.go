package atomicfile

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
)

// temps is the set of temporaries alive in this process, and parents the
// directories CreateDir made above an output that is not committed yet.
var temps struct {
	sync.Mutex
	m       map[string]bool
	parents map[string]bool
}

func register(path string, parents []string) {
	temps.Lock()
	defer temps.Unlock()
	if temps.m == nil {
		temps.m, temps.parents = map[string]bool{}, map[string]bool{}
	}
	temps.m[path] = true
	for _, p := range parents {
		temps.parents[p] = true
	}
}

func unregister(path string, parents []string) {
	temps.Lock()
	defer temps.Unlock()
	delete(temps.m, path)
	for _, p := range parents {
		delete(temps.parents, p)
	}
}

// RemoveTemps removes every temporary file and directory not yet committed
// or aborted, and the directories made for them. It is meant for an exit
// that skips deferred clean-ups.
func RemoveTemps() {
	temps.Lock()
	defer temps.Unlock()
	for p := range temps.m {
		os.RemoveAll(p)
	}
	removeParents(slices.Collect(maps.Keys(temps.parents)))
	temps.m, temps.parents = nil, nil
}

// removeParents removes directories innermost (longest) first; os.Remove
// leaves any that something else has filled meanwhile.
func removeParents(dirs []string) {
	slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
	for _, d := range dirs {
		os.Remove(d)
	}
}

// umask is read once at start-up, before any goroutine could create a file
// while it is briefly changed (it can only be read by setting it).
var umask = func() os.FileMode {
	old := syscall.Umask(0o022)
	syscall.Umask(old)
	return os.FileMode(old)
}()

// FileMode and DirMode are the permissions of committed files and
// directories: 0666 and 0777 less the umask.
func FileMode() os.FileMode { return 0o666 &^ umask }

// DirMode: see FileMode.
func DirMode() os.FileMode { return 0o777 &^ umask }

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
	register(f.Name(), nil)
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
		var le *os.LinkError
		if errors.As(err, &le) {
			err = le.Err // the temporary's name means nothing to the user
		}
		return fmt.Errorf("%s: %w", f.path, err)
	}
	f.done = true
	unregister(f.Name(), nil)
	return SyncDir(filepath.Dir(f.path))
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
	unregister(f.Name(), nil)
}

// Dir is an output directory being filled under a temporary name.
type Dir struct {
	Tmp     string // where to write the contents
	path    string
	parents []string // the missing parents CreateDir made, outermost first
	done    bool
}

// CreateDir starts filling the directory path, making its missing parents
// (removed again by Abort and RemoveTemps, kept by Commit).
func CreateDir(path string) (d *Dir, err error) {
	path = filepath.Clean(path)
	d = &Dir{path: path}
	for p := filepath.Dir(path); ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil || filepath.Dir(p) == p {
			break
		}
		d.parents = append([]string{p}, d.parents...)
	}
	for i, p := range d.parents {
		if err := os.Mkdir(p, 0o777); err != nil { // less the umask
			removeParents(d.parents[:i])
			return nil, err
		}
	}
	if d.Tmp, err = os.MkdirTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-"); err != nil {
		removeParents(d.parents)
		return nil, err
	}
	register(d.Tmp, d.parents)
	return d, nil
}

// Commit syncs the temporary directory, gives it the usual permissions and
// renames it to its final name, which must not exist or be an empty
// directory (replaced in the same step; any other is refused). The files
// inside must have been synced by their writers.
func (d *Dir) Commit() error {
	if d.done {
		return fmt.Errorf("%s: already committed or aborted", d.path)
	}
	err := os.Chmod(d.Tmp, DirMode())
	if err == nil {
		err = SyncDir(d.Tmp)
	}
	if err == nil {
		// rename(2) itself, not os.Rename, which refuses any existing
		// directory: the kernel replaces an empty one in the same step.
		err = syscall.Rename(d.Tmp, d.path)
	}
	if err != nil {
		d.Abort()
		return fmt.Errorf("%s: %w", d.path, err)
	}
	d.done = true
	unregister(d.Tmp, d.parents)
	return SyncDir(filepath.Dir(d.path))
}

// Abort removes the temporary directory, everything in it and the parents
// CreateDir made. It does nothing after Commit.
func (d *Dir) Abort() {
	if d.done {
		return
	}
	d.done = true
	os.RemoveAll(d.Tmp)
	removeParents(d.parents)
	unregister(d.Tmp, d.parents)
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
func SyncDir(dir string) error {
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
