// Package runners executes pruning runs: it builds a method from its name
// and options, samples the calibration windows, drives prune's layer-wise
// pipeline and reports what happened. The CLI's prune verb is a thin layer
// over it, and the experiment harness (YAML sweeps, resumable runs) will
// drive the same functions.
//
// Method options are resolved in one pass (MethodSpec.build): each given
// option overrides the method package's default and each missing one is
// filled from it, so MethodSpec.Resolved, which reports record, cannot
// differ from what NewMethod builds. Prune validates the whole spec (the
// method, the pattern against every linear, seqlen 2..context, nsamples ≥
// 1, chunk ≥ 0) before the calibration, the first step that allocates by
// those numbers; what the corpus can provide is data.Calibrate's check.
package runners
