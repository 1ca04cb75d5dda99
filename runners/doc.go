// Package runners executes pruning runs: it builds a method from its name
// and options, samples the calibration windows, drives prune's layer-wise
// pipeline and reports what happened. The CLI's prune verb is a thin layer
// over it, and the experiment harness (YAML sweeps, resumable runs) will
// drive the same functions.
package runners
