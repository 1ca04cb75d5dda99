// Package safetensors reads and writes the safetensors tensor format
// (FORMATS.md §6): a little-endian uint64 header length, a JSON header
// mapping names to dtype, shape and data offsets, then the raw data.
//
// Readers validate the whole header before any tensor is read, so a hostile
// or truncated file fails with an error naming the file and tensor instead of
// an allocation blow-up or a silently wrong number: the header is capped at
// MaxHeaderSize (as is an index), every offset range must lie in the file,
// and the tensors must tile the data buffer exactly, with no gap, overlap or
// trailing byte. Writers emit tensors in name order with the header
// space-padded to 8 bytes, write files through internal/atomicfile (synced,
// usual permissions, renamed into place, removed on error), stop between
// tensors when their context is done, and split into Hugging Face style
// shards plus an index above a size limit.
package safetensors
