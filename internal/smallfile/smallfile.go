package smallfile

import (
	"fmt"
	"io"
	"os"
)

// Read returns the content of the regular file at path, failing when it is
// not a regular file or holds more than limit bytes. Errors name the path.
func Read(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d-byte limit for this kind of file", path, st.Size(), limit)
	}
	// The limit applies to what is read too: the file may grow meanwhile.
	raw, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("%s: more than the %d-byte limit for this kind of file", path, limit)
	}
	return raw, nil
}
