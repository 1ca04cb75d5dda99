// Package runners executes runs. A run (RunSpec) is a model, optionally
// pruned with a method to a pattern on calibration windows, then
// evaluated; Run takes it along one path — resolve the model (path and
// sha256 of every file) → calibrate → prune → evaluate (perplexities,
// zero-shot tasks, KLD against the dense model) → optionally save → a
// results.Record. The CLI verbs ppl, prune and zeroshot build one RunSpec
// and call Run; the experiment harness (prunebench run) calls Sweep with
// the runs of a config, which goes through the same session code.
//
// # Method options
//
// The method table (method.go) declares each method's options once: name,
// kind, default (from the method packages' constructors of defaults),
// range and doc. It drives the CLI flags (RegisterMethodFlags), the YAML
// keys and grid axes of experiment configs (LookupOption, MethodOptions,
// MethodOption.Check), validation (MethodSpec.Resolved), and the options
// in every record (MethodSpec.Record: every option, defaults included).
// An option a method lacks is an error, never ignored.
//
// # Run IDs
//
// A run's ID hashes everything that changes its numbers — the sha256 of
// every model file, the resolved method with all its options, the
// pattern, the calibration (mode, the sha256 of its source files,
// windows, length, seed; contiguous draws nothing so its seed is 0) and
// every evaluation (dataset sha256, protocol, resolved length, window
// limit; task files and limit) — and nothing that does not (output paths,
// progress, the calibration chunk). An option spelled out at its default
// and the same option left out give the same ID.
//
// # Sweeps
//
// Sweep groups runs by model and gives each model one session: the model
// is loaded and hashed once; every run of the model is planned (inputs
// read, ID computed) before the first runs; the calibration windows of a
// setting are sampled once, as they are the same for every method (they
// are block 0's inputs once embedded, a lookup the pipeline redoes); the
// dense linears are copied once and restored after each pruned run, unless
// the copy does not fit in memory beside the calibration, in which case
// the checkpoint is reloaded. Each finished run appends one record to the
// results file (results.Append: one synced write); runs whose ID the file
// already holds are skipped, so an interrupted sweep resumes where it
// stopped and a cancelled run leaves nothing behind.
//
// # Shards
//
// A sweep too long for one machine is split into shards (shard.go): shard
// I of N takes the runs I, I+N, I+2N… of the config's list, so that the
// slice depends on the config alone and every run is in one shard. A shard
// is an ordinary Sweep of its runs (Shard.Slice) appending to its own
// results file, RESULTS.shard-I-of-N.jsonl, and skipping what any results
// file of the sweep records (SweepOptions.Recorded), so that a re-split
// sweep does no run twice. The dense run of a model is its first run, done
// by one shard like any other; nothing waits for it. Each shard keeps a
// heartbeat beside its file (heartbeat.go), rewritten at every run's start
// and end and every HeartbeatInterval, from which Status tells runs done,
// running and missing, and shards whose task died without a word.
//
// # Resuming a pruning
//
// With RunSpec.State (the prune verb: OUT.prune-state beside --out, or
// --state) a pruning run keeps its state after every finished block
// (resume.go): the block's pruned linears, the next block's inputs (the
// pipeline's Checkpoint, written streaming) and the block results, then a
// manifest with the run's ID and the size and sha256 of every file,
// replaced last. A run started with a state of the same ID loads the
// blocks, checks every file, and resumes the pipeline (PipelineOptions.
// Resume) from the block after the last finished one: the weights and the
// numbers are those of an uninterrupted run, bit for bit. The ID is the
// run's ID without its evaluations; a state of another ID is refused
// (FreshState discards it). A damaged file drops its block and those
// after it; the first missing block's inputs are then recomputed through
// the kept blocks. The state is removed when the run succeeds, and kept,
// and named, when it fails or is stopped.
//
// Validation happens before work: Validate checks a spec alone, and a
// run's planning checks it against the model (the pattern against every
// linear, lengths against the context, the calibration's memory) and reads
// every evaluation input before anything is pruned.
package runners
