// Package data finds prunebench's data directory (models, tokenizers,
// corpora, zero-shot tasks), checks the shared files against their known
// checksums, reads text corpora and samples calibration windows.
//
// The registry (Files, Lookup, VerifyFile) pins every shared file by size and
// sha256, as in FORMATS.md §9, with its upstream URL. ReadText resolves the
// named corpora (wikitext2, wikitext2-valid, wikitext2-raw) or any text file
// and keeps its bytes verbatim. Calibrate draws calibration windows in the
// three modes of EVALUATION.md §2.2; its generators, SplitMix64 and the
// CPython-compatible PyRandom, are exported because the random choices of the
// papers (C4 sampling, lm-eval's document shuffle) must be reproduced bit for
// bit. The package imports nothing from the project: tokenisation is passed
// in as a function.
package data
