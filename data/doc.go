// Package data finds prunebench's data directory (models, tokenizers,
// corpora, zero-shot tasks), checks the shared files against their known
// checksums, reads text corpora and samples calibration windows.
package data
