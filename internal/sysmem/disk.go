package sysmem

import "syscall"

// DiskFree is the space an unprivileged writer may still use in the file
// system holding dir (statfs's available blocks), false when it cannot be
// read.
func DiskFree(dir string) (bytes int64, ok bool) {
	var fs syscall.Statfs_t
	if syscall.Statfs(dir, &fs) != nil {
		return 0, false
	}
	return int64(fs.Bavail) * int64(fs.Bsize), true
}
