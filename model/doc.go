// Package model holds the LLaMA architecture: its Config, float32 weights,
// the batched causal forward pass and the per-block forward used by the
// pruning pipeline, plus loaders for llama2.c, GGUF and Hugging Face
// safetensors checkpoints and a writer for the Hugging Face layout.
//
// Internally one RoPE convention is kept: Meta's adjacent pairs. Hugging Face
// Q/K rows are un-permuted on load and re-permuted on save (FORMATS.md §8), so
// every copy of a model gives the same logits.
//
// Hostile input. Every count and shape a header declares (llama2.c, GGUF,
// config.json) is bounded by the file before anything is sized by it:
// Config.Validate caps every field at 2³¹−1; checkFits requires 9 tensors per
// declared block and 2 bytes of tensor data per declared parameter before a
// name list or weight is built; GGUF strings and arrays must fit in the bytes
// left, and arrays decode into typed slices; config.json is capped at 1 MB.
// Tensors must tile the data exactly: llama2.c files have exactly the
// declared size, safetensors buffers are covered without gap or overlap, and
// GGUF tensors sit each at the first aligned offset after the previous one,
// with only alignment padding after the last. The declared context length
// sizes nothing: the RoPE table covers the positions used (growing by
// doubling) and generation's KV cache the steps asked for.
//
// Streaming. Open (and OpenHF, OpenGGUF, OpenLlama2C) checks every
// tensor's name, shape and dtype against the header but reads only the
// embedding, classifier and norms; Model.Block reads a block's 7 linears
// (converted to float32, checked finite, HF q/k rows un-permuted) into a
// pooled buffer when it is used, and its release gives the buffer back.
// Forward, generation, the pruning pipeline and SaveHF go through Block,
// so a model whose float32 weights exceed memory holds one block at a
// time (per concurrent forward). CommitBlock keeps a pruned block in an
// unlinked temporary file (TMPDIR), which later reads use; ResetBlocks
// forgets them and Original reads the checkpoint whatever was committed.
// Load is Open followed by reading every block into Weights.Blocks.
//
// Provenance. Model.Files lists the absolute path of every file a loader
// read, for the caller to record with checksums.
//
// Saving. SaveHFContext writes through internal/atomicfile: a registered
// hidden temporary directory, each file synced, usual permissions less the
// umask, renamed into place only when complete, and removed (with any parent
// it created) on error or cancellation, which is checked between tensors.
// CheckSaveHF runs the same checks up front so that a command can refuse an
// unusable output before hours of work. A vocabulary that came inside a GGUF
// file is written as a SentencePiece tokenizer.model.
package model
