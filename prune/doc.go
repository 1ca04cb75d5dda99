// Package prune is the shared vocabulary of pruning: sparsity Patterns
// (unstructured ratio or N:M), masks and the one place where masks are
// selected from scores, per-input statistics (Gram matrices), the Method
// interface every algorithm implements, the sequential block-streamed
// layer-wise pipeline, and sparsity/reconstruction-error accounting.
//
// Conventions follow PRUNING.md: a weight is out×in row-major, k =
// int(numel·s) weights are pruned per comparison group, ties are broken by
// flat row-major index, and N:M keeps N of every M consecutive inputs.
package prune
