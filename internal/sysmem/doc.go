// Package sysmem reports how much memory the process can still allocate, so
// that work whose size is known up front (the calibration activations of a
// pruning run) can be refused with an explanation instead of dying in a Go
// "fatal error: out of memory", which cannot be recovered.
//
// Available takes the smaller of two bounds: MemAvailable from /proc/meminfo
// and the soft RLIMIT_AS (address-space limit, e.g. ulimit -v) less the
// address space already mapped and a reserve for the Go runtime's own address-space headroom. A bound that
// cannot be read is ignored; with neither, Available reports no limit.
//
// DiskFree does the same for disk: the space a file system still has for
// outputs, pruning states and spilled blocks, checked before the work.
package sysmem
