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
// the data directory's copy. Anything else is a path (or, for --model, a
// Hugging Face id when no such path exists: see below), relative to the
// working directory and never joined to the data directory (ResolvePath); a
// file in the working directory is named ./NAME, as the error for an unknown
// short name suggests. C4 shards have no short names.
//
// The data directory is --data-dir, else $PRUNEBENCH_DATA, else
// ../shared/data beside the working directory's checkout (or an
// ancestor's), else CacheDir: $XDG_CACHE_HOME/prunebench, by default
// ~/.cache/prunebench, where `prunebench data fetch` puts the registry's
// files (Dir).
//
// A registered file is verified wherever it is found: a path whose trailing
// components are a registry entry's Rel (/tmp/x/models/stories260K/tok512.bin,
// or a directory /tmp/x/models/stories260K holding registered names) is
// checked against that entry's size and sha256, also through a symbolic
// link (VerifyPath, ReadFile). Own files therefore need names of their own.
//
// # Hugging Face models
//
// A --model argument is read by this rule (ResolveModel, IsHubID):
//
//   - a short name (no '/') is models/NAME in the data directory;
//   - an argument that starts with /, ./ or ../, or names something that
//     exists (file, directory or link) is a path: an existing path wins;
//   - otherwise an argument of the form org/name or org/name@revision
//     (^[\w.-]+/[\w.-]+(@[\w./-]+)?$, without components that start with
//     '.' or '-' or hold "--" or "..") is a model on the Hugging Face hub,
//     read from the hub cache in huggingface_hub's layout:
//     HubCacheDir()/models--org--name/snapshots/<commit>/. The cache is
//     $HF_HUB_CACHE, else $HF_HOME/hub, else
//     $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
//     Without a revision the commit is the content of refs/main; a
//     revision of 40 hex digits is the commit itself, any other (a branch
//     or tag, refs/pr/1) is looked up in refs/<revision> (ResolveHub);
//   - anything else is a path, which then does not exist.
//
// So ./org/name is always a path, and org/name is a path as long as it
// exists. A hub model missing from the cache is an error naming the file
// looked for and suggesting --download.
//
// # Downloads
//
// Fetcher downloads one URL to a path: over https (plain http only to a
// loopback address, for tests), into PATH.part beside it, resumed with a
// Range request when a .part exists (a 200 answer means the server
// ignored the range: the file starts again), with the size and sha256 (or
// the git blob id of a small hub file) checked before an atomic rename;
// a mismatch, a server that sends more than the expected size or announces
// another size removes the download, a broken connection keeps the .part
// for the next attempt, and a .part left by an earlier run that turns
// out not to be the start of the file is fetched again from nothing. The
// Hugging Face token (HubToken: $HF_TOKEN, else the file $HF_TOKEN_PATH or
// $HF_HOME/token that `huggingface-cli login` writes) is sent as a bearer
// token to huggingface.co only, never to another host, also not after a
// redirect there (the hub sends large files from a CDN). Memory is one 1 MiB buffer
// whatever the file's size; progress lines (bytes, percent, rate) come at
// most every 2 s.
//
// Hub.Download fills the hub cache for org/name[@revision]: the hub API
// (/api/models/org/name/revision/REV?blobs=true) lists the revision's
// files with sizes and sha256 (LFS) or git blob ids; config.json, the
// safetensors weights (the shards model.safetensors.index.json names, or
// every top-level *.safetensors), and tokenizer.model, tokenizer.bin,
// tokenizer.json, tokenizer_config.json, special_tokens_map.json and
// generation_config.json when present are fetched into blobs/<sha256 or
// blob id>, linked from snapshots/<commit>/ by relative symbolic links
// (config.json last, so that ResolveHub takes a snapshot with it for a
// whole one), and refs/<revision> records the commit. A snapshot without
// config.json is accepted only when it holds a .gguf file (a GGUF
// repository fetched with huggingface-cli). Files already there (a link
// or blob of the listed size) are kept; a download that does not fit in
// the free space of the cache's file system is refused before it starts.
// When the hub cannot be reached, prunebench's --download uses the cached
// snapshot if there is one (ErrUnreachable), as huggingface_hub does.
//
// FetchEntry fetches one registry entry from its pinned upstream URL into
// a data directory, applying its Transform (TransformStripCR: CR bytes
// removed) and checking the upstream and the stored file's sha256; Select
// picks entries by path, folder or name.
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
//   - Downloads stream to disk; the hub API's answer is capped at
//     MaxHubAPIBytes (32 MiB) and a safetensors index at MaxIndexBytes
//     (64 MiB); a download is refused past its expected size
//     (MaxUnknownDownload, 1 TiB, when no size is known).
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
