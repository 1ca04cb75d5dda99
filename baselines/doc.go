// Package baselines holds the pruning methods the paper compares against —
// magnitude, Wanda and SparseGPT — each a prune.Method with prunebench's
// semantics: exactly int(numel·s) weights pruned per comparison group, ties
// broken by flat index, N:M meaning N kept of every M inputs. Masks are
// always chosen by prune.Select; this package only computes scores and,
// for SparseGPT, the weight update.
package baselines
