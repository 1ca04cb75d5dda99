// Package eval scores a language model the way the pruning papers do:
// perplexity on WikiText-2 and zero-shot accuracy on the lm-evaluation-harness
// tasks. docs/EVALUATION.md is the specification; this comment only maps it
// onto the code.
//
// # Perplexity
//
// Two protocols, kept apart because their numbers are not comparable:
//
//   - wanda (Wanda, SparseGPT, ADMM): the joined WikiText-2 test text is
//     tokenised once with a single BOS, cut into non-overlapping windows of the
//     model's context length (the tail is dropped), and ppl is exp of the mean
//     over windows of each window's mean cross-entropy.
//   - llamacpp: windows of n_ctx (512) whose first token is replaced by BOS,
//     scoring only the second half of each window.
//
// A window must be long enough to score a token: MinSeqLen is 2 for wanda
// and 3 for llamacpp, refused before any work. A NaN or infinite
// log-likelihood stops the run with an error naming the window and position
// (NaN logits come from NaN or infinite weights), and a perplexity whose
// exp overflows is an error giving the mean NLL: no run returns a NaN or
// infinite number. The first LM.ForwardContext call gets one window and
// later ones as many as take about half a second (at most BatchTokens
// tokens). The context goes to every call, and the model looks at it inside
// each block, so cancellation is noticed within moments even during the
// first window (minutes long at seqlen 4096 on a 7B model). Progress lines
// come at most every 5 s and at the end.
//
// # Zero-shot tasks
//
// The tasks follow lm-evaluation-harness at commit df3da98 with the papers'
// settings: no few-shot examples, no description and no BOS. The task names
// are TaskNames; the papers' mean uses the first seven (PaperTaskNames).
//
// LoadTask reads a task's documents from its file in the data directory
// (tasks/boolq/dev.jsonl, …; the working directory is never looked at) or
// from an explicit path (LoadOptions.Path, never joined to the data
// directory), and records the files read in Task.Files and
// TaskResult.Files. The file is read within data.MaxTaskBytes, verified
// against the registry when it is a registered file wherever it lies, then
// decompressed when it starts with the gzip or bzip2 magic, again within
// data.MaxTaskBytes, and only then parsed; a line longer than
// data.MaxLineBytes is an error naming file:line. The layout is detected
// from the content: the shared files (Google BoolQ JSON Lines, GLUE RTE TSV
// with CSV quoting, the six-line HellaSwag text in bzip2, nutcracker JSON
// Lines) and the upstream layouts users download (super_glue and HF JSON
// Lines, rowanz HellaSwag, winogrande_xl, ai2_arc, openbookqa, piqa with its
// separate labels file). Every document becomes a list of requests (context,
// continuation) built with the harness's prompt for the task, the gold index,
// and the choice strings that acc_norm divides by.
//
// Evaluate turns each request into tokens exactly as the harness does: when
// the context ends in whitespace that whitespace moves to the front of the
// continuation; context+continuation is encoded as a whole and the context on
// its own, and the continuation is whatever follows the context's length in
// the whole encoding, even when a merge straddles the boundary; the input is
// left-truncated to the model's context length. A continuation longer than
// the context itself (6 PIQA solutions with stories260K's 512 tokens) keeps
// only its last L tokens scored, the ones with a position before them;
// lm-eval would stop with a shape error there. The score of a request is
// the summed log-probability of its continuation tokens, from a log-softmax
// computed in float64 at only those positions.
//
// All requests of a document go into one ForwardContext call, right-padded
// to the longest. Padding after a sequence cannot change that sequence's logits
// because attention is causal: position t only attends to positions ≤ t.
// Scores therefore do not depend on how requests are batched, unlike
// lm-eval's padded batches, and a test holds batched and one-at-a-time
// scores to 1e-5. Two documents are evaluated at a time.
//
// Evaluate passes the context to every ForwardContext call, which stops
// within moments of cancellation, and stops at the first NaN or infinite
// log-likelihood with an error naming the task, the file:line and index of
// the document, and the request.
//
// Metrics are lm-eval's: acc is the argmax of the log-likelihoods (ties to
// the first maximum, except BoolQ where a tie means "no"), acc_norm divides
// each log-likelihood by the choice's length in Unicode code points, and the
// standard error is the analytic sqrt(p(1−p)/(n−1)).
package eval
