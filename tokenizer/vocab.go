package tokenizer

import (
	"fmt"
	"slices"
	"strings"
)

// Vocab is a SentencePiece BPE vocabulary in the form NewSentencePiece takes
// it and a GGUF file stores it (tokenizer.ggml.tokens, .scores, .token_type,
// the special ids and add_space_prefix): pieces spell a space as ▁, and
// types are SentencePiece's enum (1 NORMAL, 2 UNKNOWN, 3 CONTROL,
// 4 USER_DEFINED, 5 UNUSED, 6 BYTE).
type Vocab struct {
	Pieces []string
	Scores []float32
	Types  []int32
	// BOS, EOS and Unk are the special ids.
	BOS, EOS, Unk int
	// AddDummyPrefix prepends ▁ to non-empty text before encoding.
	AddDummyPrefix bool
}

// Vocab returns a copy of t's vocabulary. It fails when t's normaliser
// does something a GGUF vocabulary cannot say, since NewSentencePiece (and
// llama.cpp) would then encode differently: removing extra whitespace,
// leaving spaces unescaped, or a byte_fallback flag other than "on exactly
// when all 256 <0xHH> pieces exist".
func (t *SentencePiece) Vocab() (Vocab, error) {
	bytes := 0
	for _, id := range t.byteID {
		if id >= 0 {
			bytes++
		}
	}
	switch {
	case t.removeExtraWhitespaces:
		return Vocab{}, fmt.Errorf("sentencepiece vocabulary: normalizer_spec.remove_extra_whitespaces is set, which a GGUF vocabulary cannot express")
	case !t.escapeWhitespaces:
		return Vocab{}, fmt.Errorf("sentencepiece vocabulary: normalizer_spec.escape_whitespaces is off, which a GGUF vocabulary cannot express")
	case t.byteFallback != (bytes == 256):
		return Vocab{}, fmt.Errorf("sentencepiece vocabulary: byte_fallback is %v with %d of the 256 <0xHH> pieces; a GGUF vocabulary falls back to bytes exactly when all exist",
			t.byteFallback, bytes)
	}
	return Vocab{
		Pieces: slices.Clone(t.pieces), Scores: slices.Clone(t.scores), Types: slices.Clone(t.types),
		BOS: t.bos, EOS: t.eos, Unk: t.unk, AddDummyPrefix: t.addDummyPrefix,
	}, nil
}

// Vocab returns t as a SentencePiece vocabulary, undoing what llama2.c's
// tokenizer.py did to the pieces (FORMATS.md §3): spaces become ▁ again,
// "\n<s>\n" and "\n</s>\n" become the CONTROL pieces <s> and </s>, id 0 is
// UNKNOWN, ids 3..258 are the BYTE pieces, and entries run.c never merges
// into (score at or below -1e10) are UNUSED. NewSentencePiece builds from it
// a tokenizer that encodes as t does, except for text that spells a byte or
// special piece, which run.c may merge into and SentencePiece does not.
func (t *Llama2C) Vocab() (Vocab, error) {
	v := Vocab{
		Pieces: make([]string, len(t.pieces)), Scores: slices.Clone(t.scores), Types: make([]int32, len(t.pieces)),
		BOS: llama2cBOS, EOS: llama2cEOS, Unk: 0, AddDummyPrefix: true,
	}
	for i, p := range t.pieces {
		switch {
		case i == v.Unk:
			v.Types[i] = typeUnknown
		case i == llama2cBOS || i == llama2cEOS:
			p = strings.Trim(p, "\n")
			v.Types[i] = typeControl
		case i >= llama2cByteOffset && i < llama2cByteOffset+256:
			v.Types[i] = typeByte
		default:
			p = strings.ReplaceAll(p, " ", spaceSymbol)
			v.Types[i] = typeNormal
			if t.scores[i] <= llama2cMinScore {
				v.Types[i] = typeUnused
			}
		}
		if p == "" {
			return Vocab{}, fmt.Errorf("llama2.c vocabulary: entry %d is empty, which a SentencePiece vocabulary cannot hold", i)
		}
		v.Pieces[i] = p
	}
	return v, nil
}
