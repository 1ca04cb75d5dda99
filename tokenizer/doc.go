// Package tokenizer implements the LLaMA-family tokenizers prunebench meets
// in pure Go: llama2.c vocabulary files (run.c's encoder), SentencePiece BPE
// models, read from tokenizer.model or from a GGUF file's embedded
// vocabulary, and the byte-level BPE of LLaMA-3 and Qwen2/2.5/3, read from
// Hugging Face's tokenizer.json or a GGUF "gpt2" vocabulary. LoadFile picks
// the reader by file.
//
// All are exposed through Tokenizer so that model loading, perplexity and
// zero-shot scoring never care which file a vocabulary came from.
//
// The first two are the same greedy BPE (merge the highest-scoring adjacent
// pair, leftmost on ties, until none is left) and share one merge engine that
// differs only in which entries may be merge results. The engine gives the
// quadratic reference loop's result exactly but encodes the 1.3 MB WikiText-2
// test split in one call: pairs wait in a priority queue, and the text is cut
// where no vocabulary entry could ever span the cut, so that the stretches
// merge independently on all cores.
//
// Byte-level BPE (BPE) runs on the same engine with Hugging Face's rule
// instead: a merge is a pair of tokens with a rank, and the pair of lowest
// rank goes first, so two pairs spelling the same text can rank differently
// and a pair not in the merge list never merges. The text is first cut at
// added tokens (<|begin_of_text|>...), then normalised (NFC for Qwen), then
// cut into pre-tokens by the tokenizer's Split regex, which merges never
// cross. Go's regexp cannot run those regexes (they look ahead), so each
// known one is a hand-written scanner with the backtracking engine's
// semantics, and any other is refused rather than approximated; so are
// normalisers, post-processors and token options that are not implemented.
// A tokenizer.json is converted to the GGUF form (BPEVocab) and built from
// it, so a vocabulary encodes the same from either file.
//
// Vocabulary files are read whole, so they are capped at MaxFileSize
// (tokenizer.json at MaxTokenizerJSONSize) and must be regular files; counts
// and lengths inside them are checked against the bytes left before they
// size anything. SentencePiece.MarshalModel writes a vocabulary (a GGUF
// file's, say) as tokenizer.model with every field the parser reads set
// explicitly, so the file reads back to the same tokenizer.
package tokenizer
