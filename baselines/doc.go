// Package baselines holds the pruning methods the paper compares against —
// magnitude, Wanda and SparseGPT — each a prune.Method with prunebench's
// semantics: exactly int(numel·s) weights pruned per comparison group, ties
// broken by flat index, N:M meaning N kept of every M inputs. Masks are
// always chosen by prune.Select; this package only computes scores and,
// for SparseGPT, the weight update.
//
// SparseGPT's options are used as given: DefaultSparseGPT holds the
// reference's settings and Validate the ranges (blocksize ≥ 1, percdamp > 0
// and finite); a zero value is refused, not replaced. Its buffers are
// sized by the layer (a block size above the width is one block). The
// context is checked in the factorisation and at every column block;
// magnitude and Wanda, one selection each, check it once.
package baselines
