// Package experiments reads experiment configs: YAML files that name
// models, pruning methods with their options, sparsities, calibration and
// evaluations, and expand into the list of runs the runners package
// executes. Load reads a file and Parse a config already in memory; both
// validate everything they can before any model or data file is touched,
// and return an Experiment whose Runs are in execution order.
//
// # A config
//
//	name: quickstart
//	title: "LLaMA pruning on stories260K"
//	models: [stories260K]
//	calibration:
//	  source: wikitext2-valid
//	  nsamples: 128
//	  seqlen: 256
//	  mode: random
//	  seeds: [0, 1, 2]
//	methods:
//	  - magnitude
//	  - wanda
//	  - sparsegpt: {blocksize: 128}
//	  - admm1: {mask: wanda}
//	  - admm1: {mask: sparsegpt}
//	  - admm-grad: {iters: 20, steps: 15}
//	sparsities: [0.5, 0.6, "70%", "2:4"]
//	grid:
//	  admm-grad.rho: [0.1, 1, 10]
//	evaluate:
//	  ppl:
//	    - {dataset: wikitext2, seqlen: 256}
//	    - {dataset: wikitext2, protocol: llamacpp, seqlen: 256, max_windows: 64}
//	  zeroshot: {tasks: [boolq, rte], limit: 100}
//	  kld: {seqlen: 256, max_windows: 16}
//	output: out/quickstart.jsonl
//
// # Keys
//
// The top level is a mapping with these keys; name, models (or model),
// methods, sparsities, evaluate and output are required.
//
//   - name: the experiment's name, recorded with every result: letters,
//     digits, '.', '_' and '-'.
//   - title: optional; captions tables and plots. Default: the name.
//   - models: a non-empty list of models, each a short name in the data
//     directory (stories260K) or a path. model: x is the same as
//     models: [x]; giving both is an error. A model may be listed once.
//   - calibration: optional; the calibration windows of every pruned run
//     (see below).
//   - methods: a non-empty list of pruning methods (see below).
//   - sparsities: a non-empty list of sparsity targets. Each is a YAML
//     number, a ratio in (0,1) such as 0.5, or a string: "0.5", a
//     percentage "50%", or N:M such as "2:4" (N kept of every M, 0 < N < M).
//     Two entries that mean the same target (0.6 and "60%") are an error.
//     2:4 may be written unquoted, but not as 2: 4, which YAML reads as a
//     mapping.
//   - grid: optional; option values to sweep (see below).
//   - evaluate: what each run measures, at least one of ppl, zeroshot and
//     kld (see below).
//   - output: the results file, JSON Lines. A relative path is relative to
//     the working directory, like any path given on the command line, not
//     to the directory of the config. The same holds for models, sources
//     and datasets given as paths.
//
// # calibration
//
// Every key is optional; without the calibration key the defaults apply.
//
//   - source: a corpus name (default wikitext2-valid) or the path of a text
//     file for the modes contiguous and random; for mode c4 the path of a
//     C4 shard (.json or .json.gz), several comma-separated, or a YAML list
//     of paths. Mode c4 has no default source.
//   - nsamples: calibration sequences, ≥ 1; default 128.
//   - seqlen: tokens per sequence, ≥ 2, or 0 (the default) for the model's
//     context length. nsamples × seqlen may be at most data.MaxCalibTokens
//     (8388608).
//   - mode: contiguous (default; the first nsamples non-overlapping windows
//     of the source), random (windows at random offsets) or c4 (the
//     reference sampler over C4 documents).
//   - seeds: a list of distinct non-negative integers (up to 2⁶⁴−1); every
//     pruned run is repeated once per seed, and tables show mean ± std.
//     seed: 3 is the same as seeds: [3]; giving both is an error. Default
//     [0]. Mode contiguous draws nothing, so several seeds with it are an
//     error.
//   - chunk: calibration sequences per block forward, ≥ 0; 0 (the default)
//     forwards all at once. It bounds memory and does not change results.
//
// # methods
//
// Each item is a method name, or a mapping of one method name to its
// options:
//
//	methods:
//	  - magnitude
//	  - sparsegpt: {blocksize: 128}
//	  - admm-grad:
//	      rho: 1
//	      iters: 20
//
// The options of an item are indented below its name; "- admm-grad:"
// followed by "rho: 1" at the same indentation is an error that says so.
// An empty value (admm1: or admm1: {}) means the defaults. The methods
// and their options, with their defaults and ranges, are those of the
// command line (prunebench prune -h lists them; runners.MethodNames and
// runners.MethodOptions):
//
//	magnitude   no options
//	wanda       no options
//	sparsegpt   percdamp (number > 0), blocksize (integer ≥ 1)
//	admm1       rho (number > 0), iters (integer ≥ 0), percdamp (number ≥ 0),
//	            per-output (true/false), mask (normmag, wanda, sparsegpt, magnitude)
//	admm-grad   rho (number > 0), iters (integer ≥ steps), steps (integer ≥ 1),
//	            schedule (cubic, reference-full), percdamp (number ≥ 0),
//	            per-output (true/false)
//
// A number option accepts integers (rho: 1 is rho: 1.0); an integer option
// refuses 2.5 and 2.0 alike; a string option wants a string and a
// true/false option a YAML boolean. Checks that involve several options
// (admm-grad's iters at least steps, with steps' default when it is not
// set) apply to every combination of options the grid makes.
//
// A method may be listed more than once with different options (admm1 with
// mask wanda and with mask sparsegpt); two items that are the same once
// defaults are filled in are an error. The dense (unpruned) model is not a
// method to list: every model gets one dense run.
//
// # grid
//
// A mapping from "<method>.<option>" to a non-empty list of distinct
// values, typed and checked as in methods:
//
//	grid:
//	  admm-grad.rho: [0.1, 0.3, 1, 3, 10]
//	  admm-grad.iters: [20, 50]
//
// Every item of methods with that method name runs once per combination
// of its method's grid values (the cartesian product). The method must be
// in methods, and an option in the grid may not also be set in an item of
// that method.
//
// # evaluate
//
// Each run, the dense ones included, is evaluated the same way.
//
//   - ppl: a mapping, or a list of mappings, each one perplexity
//     evaluation. dataset: wikitext2 (default), wikitext2-valid,
//     wikitext2-raw or a text file. protocol: wanda (default; the pruning
//     papers') or llamacpp. seqlen: window length, 0 (default) for the
//     model's context, else at least 2 (wanda) or 3 (llamacpp). max_windows:
//     ≥ 0, 0 (default) for all windows. metric: optional name of the result
//     (letters, digits, '_'), by default <dataset>_ppl, with _llamacpp for
//     that protocol and _<seqlen> when one dataset and protocol are scored at
//     several lengths; two evaluations that would get the same name are an
//     error.
//   - zeroshot: tasks: a list of distinct tasks among boolq, rte,
//     hellaswag, winogrande, arc_easy, arc_challenge, openbookqa and piqa
//     (eval.TaskNames), default the first seven, whose mean the papers
//     report. limit: ≥ 0, the first documents of each task, 0 (default) for
//     all. hellaswag_ctx: capitalize-tail (default) or as-is.
//   - kld: the KL divergence of the run's next-token distributions from the
//     dense model's, on the windows of the wanda protocol. dataset (default
//     wikitext2), seqlen (0 or ≥ 2) and max_windows (≥ 0), as for ppl.
//
// An empty value (zeroshot: or zeroshot: {}) runs that evaluation with its
// defaults.
//
// # Runs
//
// For each model, in order: one dense run (runners.Dense, no pattern, no
// calibration), then for each item of methods in order, each grid
// combination, each sparsity in order and each seed in order, one pruned
// run. Grid combinations take the method's grid keys in sorted order, the
// first varying slowest, and each key's values in the order given. A run's
// method options are those written in its item plus its grid values:
// defaults are filled in when the run resolves them, and recorded then.
// Calibration and evaluation defaults are filled in here. A config may
// expand to at most MaxRuns runs.
//
// # Strictness and errors
//
// Every key not listed above is an error that lists the keys allowed
// there; so are a value of the wrong YAML type (naming the type wanted), a
// key given twice in one mapping, and a value outside its range or set
// (listing the valid values). A config is one YAML document of at most
// MaxConfigBytes; an empty file and several documents in one file are
// errors. Anchors and aliases (&a, *a) are refused: configs need none, and
// refusing them rules out documents that expand exponentially.
//
// Errors are *Error values, with the first problem found, in the form
//
//	file:line:column: key.path: problem
//
// for example
//
//	quickstart.yaml:14:17: methods[4].admm-grad: unknown option "rhoo" (options: rho, iters, steps, schedule, percdamp, per-output)
//	quickstart.yaml:21:25: grid.admm-grad.rho[2]: 0: must be > 0 and finite
//
// where line and column (1-based) are those of the offending key or value
// and key.path leads to it from the top level (left out for the top level
// itself). YAML syntax errors carry the line the decoder reports, and no
// column; errors about the file as a whole (unreadable, too large, empty)
// carry no position.
package experiments
