package tokenizer

import "slices"

// addedTokens finds a vocabulary's added tokens (special tokens such as
// <|begin_of_text|>, and user-defined ones such as Qwen's <think>) in raw
// text, before any normalisation or pre-tokenisation, the way Hugging Face's
// AddedVocabulary does: leftmost match first, the longest token among those
// starting there.
type addedTokens struct {
	ids map[string]int
	// lengths lists, for each first byte, the lengths of the tokens
	// starting with it, longest first: a position costs one lookup per
	// distinct length, however many tokens there are.
	lengths [256][]int
}

func newAddedTokens(ids map[string]int) *addedTokens {
	a := &addedTokens{ids: ids}
	for text := range ids {
		l := &a.lengths[text[0]]
		if !slices.Contains(*l, len(text)) {
			*l = append(*l, len(text))
		}
	}
	for i := range a.lengths {
		slices.SortFunc(a.lengths[i], func(x, y int) int { return y - x })
	}
	return a
}

// split calls plain for each stretch of text between added tokens and
// token for each token's id, in order.
func (a *addedTokens) split(text string, plain func(string), token func(id int)) {
	start := 0
	for i := 0; i < len(text); i++ {
		for _, n := range a.lengths[text[i]] {
			if n > len(text)-i {
				continue
			}
			id, ok := a.ids[text[i:i+n]]
			if !ok {
				continue
			}
			if start < i {
				plain(text[start:i])
			}
			token(id)
			start = i + n
			i = start - 1
			break
		}
	}
	if start < len(text) {
		plain(text[start:])
	}
}
