// Command prunebench prunes LLaMA-family models with magnitude, Wanda,
// SparseGPT and ADMM and evaluates them (WikiText-2 perplexity, zero-shot
// tasks) with its own Go forward pass. Results go to stdout (tables or
// --json); progress and logs go to stderr.
package main
