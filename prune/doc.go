// Package prune is the shared vocabulary of pruning: sparsity Patterns
// (unstructured ratio or N:M), masks and the one place where masks are
// selected from scores, per-input statistics (Gram matrices), the Method
// interface every algorithm implements, the sequential block-streamed
// layer-wise pipeline, and sparsity/reconstruction-error accounting.
//
// Conventions follow PRUNING.md: a weight is out×in row-major, k =
// int(numel·s) weights are pruned per comparison group, ties are broken by
// flat row-major index, and N:M keeps N of every M consecutive inputs.
//
// Cancellation: Method.Prune and Run take a context. Run looks at it before
// every block, between calibration chunks of the block forward, inside the
// statistics and relative-error products, and between linears; methods
// look at it at least about once a second of work, and the block forward
// (model.BlockForwardContext) between attention heads. After every method the pipeline checks that the
// weights are finite, whatever the method checked itself, so that a NaN
// fails at its linear instead of in the evaluation.
package prune
