package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// The Split regexes of the byte-level tokenizers prunebench reads, as their
// tokenizer.json files spell them. They differ only in how many digits make
// a group. Go's regexp has no lookahead (\s+(?!\S)), so each is implemented
// by preSplitter.match with the semantics of the backtracking engine
// (Oniguruma) Hugging Face's tokenizers runs them with. The character
// classes come from Go's unicode tables (Unicode 15.0); a character
// assigned in a later or earlier Unicode version than Oniguruma's may be
// classed differently there.
const (
	llama3Regex = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Regex  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// preSplitter cuts text into the pieces BPE merges within: the matches of
// the Split regex, one after the other. Every character is matched by some
// alternative, so the matches cover the text.
type preSplitter struct {
	// maxDigits is the longest run of \p{N} one piece holds: 3 for
	// LLaMA-3's \p{N}{1,3}, 1 for Qwen's \p{N}.
	maxDigits int
}

// split calls emit with each piece of text in order.
func (s preSplitter) split(text string, emit func(string)) {
	for p := 0; p < len(text); {
		n := s.match(text[p:])
		emit(text[p : p+n])
		p += n
	}
}

// match returns the length of the regex's match at the start of text
// (non-empty). The alternatives are tried in the regex's order and the first
// that matches wins, each taking as much as its greedy quantifiers can while
// still matching, as a backtracking engine does. A malformed UTF-8 byte is a
// character of its own that is neither a letter, a number nor a space.
func (s preSplitter) match(text string) int {
	r, w := utf8.DecodeRuneInString(text)
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if r == '\'' {
		if n := contraction(text[1:]); n > 0 {
			return 1 + n
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+: the optional character is taken when a
	// letter follows it.
	if unicode.IsLetter(r) {
		return w + letters(text[w:])
	}
	if r != '\r' && r != '\n' && !unicode.IsNumber(r) {
		if n := letters(text[w:]); n > 0 {
			return w + n
		}
	}
	// \p{N}{1,3} (LLaMA-3) or \p{N} (Qwen)
	if unicode.IsNumber(r) {
		n := w
		for k := 1; k < s.maxDigits; k++ {
			r2, w2 := utf8.DecodeRuneInString(text[n:])
			if !unicode.IsNumber(r2) {
				break
			}
			n += w2
		}
		return n
	}
	//  ?[^\s\p{L}\p{N}]+[\r\n]*
	lead := 0
	if r == ' ' {
		lead = 1
	}
	if n := others(text[lead:]); n > 0 {
		n += lead
		return n + lineBreaks(text[n:])
	}
	// What is left starts with whitespace; e is the end of its run.
	e := spaces(text)
	// \s*[\r\n]+: \s* backs off to the run's last line break, which [\r\n]+
	// then matches alone (a later one would be part of the run).
	for i := e - 1; i >= 0; i-- {
		if text[i] == '\r' || text[i] == '\n' {
			return i + 1
		}
	}
	// \s+(?!\S): the whole run at the end of the text; before a non-space,
	// the run less its last character, which the next match starts with.
	if e == len(text) {
		return e
	}
	if _, last := utf8.DecodeLastRuneInString(text[:e]); e-last > 0 {
		return e - last
	}
	// \s+: a single space character before a non-space.
	return e
}

// contraction returns the length of the contraction suffix text starts
// with (after its apostrophe), or 0. The group is case-insensitive under
// Unicode simple case folding, which adds U+017F (ſ, long s) to s and S.
func contraction(text string) int {
	for _, suffix := range [...]string{"s", "t", "re", "ve", "m", "ll", "d"} {
		n := 0
		for i := 0; i < len(suffix); i++ {
			r, w := utf8.DecodeRuneInString(text[n:])
			if !foldsTo(r, rune(suffix[i])) {
				n = -1
				break
			}
			n += w
		}
		if n > 0 {
			return n
		}
	}
	return 0
}

// foldsTo reports whether r matches the lower-case ASCII letter c under
// simple case folding.
func foldsTo(r, c rune) bool {
	return r == c || r == c-'a'+'A' || c == 's' && r == 'ſ'
}

// letters returns the length of the run of \p{L} text starts with.
func letters(text string) int {
	n := 0
	for n < len(text) {
		r, w := utf8.DecodeRuneInString(text[n:])
		if !unicode.IsLetter(r) {
			break
		}
		n += w
	}
	return n
}

// others returns the length of the run of [^\s\p{L}\p{N}] text starts with.
// A malformed byte counts as one such character.
func others(text string) int {
	n := 0
	for n < len(text) {
		r, w := utf8.DecodeRuneInString(text[n:])
		if isSpace(r) || unicode.IsLetter(r) || unicode.IsNumber(r) {
			break
		}
		n += w
	}
	return n
}

// spaces returns the length of the run of \s text starts with.
func spaces(text string) int {
	n := 0
	for n < len(text) {
		r, w := utf8.DecodeRuneInString(text[n:])
		if !isSpace(r) {
			break
		}
		n += w
	}
	return n
}

// lineBreaks returns the length of the run of \r and \n text starts with.
func lineBreaks(text string) int {
	n := 0
	for n < len(text) && (text[n] == '\r' || text[n] == '\n') {
		n++
	}
	return n
}

// isSpace is Oniguruma's Unicode \s: the White_Space property (tab to
// carriage return, space, U+0085, U+00A0 and the Zs, Zl and Zp
// characters), which is also exactly what unicode.IsSpace tests. A
// malformed byte decodes as U+FFFD, which is not a space.
func isSpace(r rune) bool { return unicode.IsSpace(r) }
