// Package results stores what runs produce and turns it into paper tables,
// regression checks and plots. It is pure data: it knows records, not
// models or methods, so that a results file can be read, compared and
// plotted without the machinery that made it.
//
// # Results files
//
// A results file is JSON Lines: one Record per finished run, appended when
// the run ends (Append) and never rewritten, so that an interrupted
// experiment loses at most the run in progress and resumes by skipping the
// IDs already there (Read, IDs). Each record is written with a single
// write under an advisory lock and synced, so a crash can leave only a
// torn last line: one without its newline. Read ignores such a line when
// it does not parse and reports it for a warning; the next Append cuts it
// off before writing (or, when the line is a whole record that only lost
// its newline, completes it), so the file heals without a separate repair
// step. Anything else that does not parse — a bad line in the middle, a
// record without id, method name or metrics — is an error naming file:line,
// because it means the file was edited or mixed up, not interrupted. An ID
// recorded twice is accepted only with identical metrics (a repeated
// append); different numbers under one ID would make tables ambiguous.
//
// Merge joins several results files (a sharded sweep's) by run ID under
// the same rule, keeping each record as it is, provenance included, and
// Write replaces a file with the union at once.
//
// # Tables
//
// PaperTable prints one metric in the layout of the paper: a row per
// method, the dense model first (its value in the first column, as it has
// no sparsity), then the methods in the caller's order; a column per
// sparsity, unstructured ratios ascending and then N:M patterns. Rows and
// columns can also be models or method options, for ablations. Settings
// that differ between the runs of one method (grid options, calibration)
// are printed in the row label, "admm-grad ρ=0.1 iters=20", so two rows
// never hide a difference; runs differing only in the calibration seed
// share a cell as mean ± sample std. Several models make one table each,
// as papers print them. Caption builds the line above a table from the
// records themselves, so it cannot disagree with them.
//
// # Compare
//
// Compare pairs the runs of two files by their settings — model name,
// method and options, pattern, calibration including the seed — not by ID,
// because the point of a comparison is to see what changed when the code,
// model files or data changed, and the ID hashes those too. A metric
// regresses when it moved in its worse direction (HigherIsBetter) by more
// than the relative tolerance, or became NaN (or infinite the wrong way)
// from a finite value. Missing runs and metrics are listed but are not
// regressions: a partial run is not a worse one.
//
// # Plots
//
// Plot draws a metric against a numeric option or the sparsity, one line
// per method (or model, pattern, option value), with the dense model as a
// dashed level, and writes PNG or SVG through a temporary file so a failed
// plot never leaves a partial image.
package results
