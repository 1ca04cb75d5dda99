// Package spillmem gives float32 buffers that live in an unlinked
// temporary file rather than in anonymous memory: the pruning pipeline's
// calibration activations (128 windows of 2048 tokens of a 7B model are
// 4.3 GB) when they do not fit beside the rest of a run. The file is
// mapped shared, so the buffer is an ordinary slice; Drop tells the
// kernel that a range is done with for now, which takes its pages out of
// the process's resident set while keeping their contents in the page
// cache or on disk, to be read back on the next access. The file is
// unlinked at once and goes with the process however it ends.
package spillmem
