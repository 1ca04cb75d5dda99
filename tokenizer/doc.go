// Package tokenizer implements the two LLaMA tokenizers prunebench meets in
// pure Go: llama2.c vocabulary files (run.c's encoder) and SentencePiece BPE
// models, read from tokenizer.model or from a GGUF file's embedded vocabulary.
//
// Both are exposed through Tokenizer so that model loading, perplexity and
// zero-shot scoring never care which file a vocabulary came from.
package tokenizer
