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
//
// # Where files come from
//
// A short name, a corpus name such as wikitext2, a task name such as boolq
// or a model name such as stories260K (IsName: no path separator), resolves
// in the data directory only (ResolveName, Resolve, ResolveModel): a
// models/stories260K or wikitext2 in the working directory cannot replace
// the data directory's copy. Anything else is a path, relative to the
// working directory and never joined to the data directory (ResolvePath); a
// file in the working directory is named ./NAME, as the error for an unknown
// short name suggests. C4 shards have no short names.
//
// A registered file is verified wherever it is found: a path whose trailing
// components are a registry entry's Rel (/tmp/x/models/stories260K/tok512.bin,
// or a directory /tmp/x/models/stories260K holding registered names) is
// checked against that entry's size and sha256, also through a symbolic
// link (VerifyPath, ReadFile). Own files therefore need names of their own.
//
// # Provenance
//
// Every result records the files it depends on as FileRef values (absolute
// path, size, sha256): Ref hashes a regular file once per process for each
// (absolute path, size, modification time); Text embeds the FileRef of the
// corpus read and Provenance lists the calibration files.
//
// # Limits
//
// Everything read into memory is bounded before it is parsed, and sizes
// come from files or flags only after they are checked (limits.go):
//
//   - MaxTextBytes (8 MiB) per text corpus, MaxTaskBytes (128 MiB) per
//     task file, as stored and after decompression, MaxC4Bytes (1 GiB) of
//     C4 JSON per calibration, decompressed, over all shards, and
//     MaxLineBytes (16 MiB) per line of JSON Lines, TSV and C4.
//   - A regular file is refused from its size before it is read; a device
//     or FIFO is read in chunks and refused as soon as it passes the limit,
//     so refusing costs about the limit in memory, not twice it.
//     Decompress and ReadC4 stop a gzip or bzip2 stream the same way
//     ("decompresses to more than N MiB").
//   - A registered file's size is checked before it is read and its sha256
//     before a byte of it is parsed or decompressed (ReadFile).
//   - MaxCalibTokens (8,388,608) bounds nsamples × seqlen of one
//     calibration, checked before the source is read; what the corpus can
//     give (whole windows for contiguous, one window for random and c4) is
//     checked before the windows are allocated.
package data
