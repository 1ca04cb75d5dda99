// Package model holds the LLaMA architecture: its Config, float32 weights,
// the batched causal forward pass and the per-block forward used by the
// pruning pipeline, plus loaders for llama2.c, GGUF and Hugging Face
// safetensors checkpoints and a writer for the Hugging Face layout.
//
// Internally one RoPE convention is kept: Meta's adjacent pairs. Hugging Face
// Q/K rows are un-permuted on load and re-permuted on save (FORMATS.md §8), so
// every copy of a model gives the same logits.
package model
