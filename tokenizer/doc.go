// Package tokenizer implements the two LLaMA tokenizers prunebench meets in
// pure Go: llama2.c vocabulary files (run.c's encoder) and SentencePiece BPE
// models, read from tokenizer.model or from a GGUF file's embedded vocabulary.
//
// Both are exposed through Tokenizer so that model loading, perplexity and
// zero-shot scoring never care which file a vocabulary came from.
//
// Both encoders are the same greedy BPE (merge the highest-scoring adjacent
// pair, leftmost on ties, until none is left) and share one merge engine that
// differs only in which entries may be merge results. The engine gives the
// quadratic reference loop's result exactly but encodes the 1.3 MB WikiText-2
// test split in one call: pairs wait in a priority queue, and the text is cut
// where no vocabulary entry could ever span the cut, so that the stretches
// merge independently on all cores.
//
// Vocabulary files are read whole, so they are capped at MaxFileSize and must
// be regular files; counts and lengths inside them are checked against the
// bytes left before they size anything. SentencePiece.MarshalModel writes a
// vocabulary (a GGUF file's, say) as tokenizer.model with every field the
// parser reads set explicitly, so the file reads back to the same tokenizer.
package tokenizer
