// Package smallfile reads whole files that are small by nature (a
// config.json, a safetensors index, a vocabulary) with a size limit, so that
// a huge or endless file put in their place (a FIFO, /dev/zero, a symlink to
// a disk image) is refused instead of read until memory runs out.
package smallfile
