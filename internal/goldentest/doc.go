// Package goldentest loads the per-layer golden cases of ../shared/golden
// (README.md there) for the pruning methods' tests: the dense weight, the
// statistics built from the stored X the way the references fed it, and
// the reference tensors.
package goldentest
