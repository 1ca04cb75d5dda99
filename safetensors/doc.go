// Package safetensors reads and writes the safetensors tensor format
// (FORMATS.md §6): a little-endian uint64 header length, a JSON header
// mapping names to dtype, shape and data offsets, then the raw data.
//
// Readers validate the whole header before any tensor is read, so a hostile
// or truncated file fails with an error naming the file and tensor instead of
// an allocation blow-up or a silently wrong number. Writers emit tensors in
// name order with the header space-padded to 8 bytes, replace files
// atomically, and split into Hugging Face style shards plus an index above a
// size limit.
package safetensors
