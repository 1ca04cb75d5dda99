package tokenizer

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func preTokens(s preSplitter, text string) []string {
	var out []string
	s.split(text, func(p string) { out = append(out, p) })
	return out
}

// TestPreSplitCases checks hand-worked splits of the parts of the regexes
// that take care: the lookahead, contractions, digit groups, the optional
// character before letters, punctuation runs and line breaks.
func TestPreSplitCases(t *testing.T) {
	llama, qwen := preTokenizers[PreLlama3].split, preTokenizers[PreQwen2].split
	cases := []struct {
		text        string
		llama, qwen []string // qwen nil: as llama
	}{
		{"Hello world", []string{"Hello", " world"}, nil},
		// \s+(?!\S): a run of spaces before a word leaves its last space
		// to the word; at the end of the text it is whole.
		{"  Hello", []string{" ", " Hello"}, nil},
		{"Hello   ", []string{"Hello", "   "}, nil},
		{"a   b", []string{"a", "  ", " b"}, nil},
		{"a \t!", []string{"a", " ", "\t", "!"}, nil},
		{"   ", []string{"   "}, nil},
		// \s*[\r\n]+ stops at the run's last line break.
		{"a  \n\n  b", []string{"a", "  \n\n", " ", " b"}, nil},
		{"x \n", []string{"x", " \n"}, nil},
		{"a \t\nb", []string{"a", " \t\n", "b"}, nil},
		{"\n\n\n", []string{"\n\n\n"}, nil},
		{"hello\r\nworld", []string{"hello", "\r\n", "world"}, nil},
		{"\t\tfoo", []string{"\t", "\tfoo"}, nil},
		// Contractions, case-insensitive (ſ folds to s), before the
		// optional-character alternative.
		{"it's", []string{"it", "'s"}, nil},
		{"IT'S we'LL they'Ve", []string{"IT", "'S", " we", "'LL", " they", "'Ve"}, nil},
		{"'ſ", []string{"'ſ"}, nil},
		{"'sun", []string{"'s", "un"}, nil},
		{"'x 'Re", []string{"'x", " '", "Re"}, nil},
		{"'", []string{"'"}, nil},
		{"don't!!!\n\n", []string{"don", "'t", "!!!\n\n"}, nil},
		// Digits: groups of up to three (LLaMA-3), one by one (Qwen).
		{"12345678", []string{"123", "456", "78"}, []string{"1", "2", "3", "4", "5", "6", "7", "8"}},
		{"1,000", []string{"1", ",", "000"}, []string{"1", ",", "0", "0", "0"}},
		{"a1b", []string{"a", "1", "b"}, nil},
		{"٣٤٥٦Ⅻ", []string{"٣٤٥", "٦Ⅻ"}, []string{"٣", "٤", "٥", "٦", "Ⅻ"}},
		{" 42", []string{" ", "42"}, []string{" ", "4", "2"}},
		// One non-letter, non-digit, non-line-break character joins the
		// letters after it.
		{"x\u00a0y", []string{"x", "\u00a0y"}, nil},
		{"(hello) [x]", []string{"(hello", ")", " [", "x", "]"}, nil},
		{"e\u0301x", []string{"e", "\u0301x"}, nil},
		{"\nword", []string{"\n", "word"}, nil},
		// Punctuation runs, with a leading space and trailing line breaks.
		{" ...", []string{" ..."}, nil},
		{"  ...", []string{" ", " ..."}, nil},
		{" ?\r\n\r\nx", []string{" ?\r\n\r\n", "x"}, nil},
		{"🦙.cpp", []string{"🦙.", "cpp"}, nil},
		// A malformed byte is a character of its own kind.
		{"a\xffb", []string{"a", "\xffb"}, nil},
		{"\xff\xfe 1", []string{"\xff\xfe", " ", "1"}, nil},
	}
	for _, c := range cases {
		if got := preTokens(llama, c.text); !slices.Equal(got, c.llama) {
			t.Errorf("LLaMA-3 %q:\n got %q\nwant %q", c.text, got, c.llama)
		}
		want := c.qwen
		if want == nil {
			want = c.llama
		}
		if got := preTokens(qwen, c.text); !slices.Equal(got, want) {
			t.Errorf("Qwen %q:\n got %q\nwant %q", c.text, got, want)
		}
	}
}

// regexSplit compiles the reference for the scanners: Go's regexp with the
// regex's alternatives in order (Go, like a backtracking engine, prefers
// the first alternative and greedy repeats) and two rewrites. \s is
// spelled as Unicode's White_Space, as Go's \s is ASCII-only. \s+(?!\S)
// becomes (\s+)(?:$|\s): the group ends where the lookahead would have
// succeeded, and the piece ends with the group.
func regexSplit(digits string) *regexp.Regexp {
	const ws = `\t-\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}`
	expr := `^(?:(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}` + digits +
		`| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|(\s+)(?:$|\s)|\s+)`
	expr = strings.ReplaceAll(expr, `[^\s`, `[^`+ws)
	expr = strings.ReplaceAll(expr, `\s`, `[`+ws+`]`)
	return regexp.MustCompile(expr)
}

// refPreTokens splits text with the reference regex.
func refPreTokens(t *testing.T, re *regexp.Regexp, text string) []string {
	var out []string
	for p := 0; p < len(text); {
		m := re.FindStringSubmatchIndex(text[p:])
		if m == nil {
			t.Fatalf("the reference regex matches nothing at byte %d of %q", p, text)
		}
		end := m[1]
		if m[2] >= 0 {
			end = m[3]
		}
		out = append(out, text[p:p+end])
		p += end
	}
	return out
}

// TestPreSplitMatchesRegex compares the scanners with the reference regex
// on random texts over an alphabet of the characters that matter.
func TestPreSplitMatchesRegex(t *testing.T) {
	alphabet := []string{"a", "B", "é", "e\u0301", "中", "1", "٣", "'", "s", "S", "ſ", "t", "re", "LL", "v", "D", "m",
		" ", " ", "  ", "\t", "\n", "\r", "\v", "\u00a0", "\u3000", "\u0085", "\u2028", "!", ".", "🦙", "\u200d", "\xff", "\xe2\x96"}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		name  string
		split preSplitter
		re    *regexp.Regexp
	}{{"LLaMA-3", preTokenizers[PreLlama3].split, regexSplit("{1,3}")}, {"Qwen", preTokenizers[PreQwen2].split, regexSplit("")}} {
		for range 5000 {
			text := randomText(rng, alphabet, 1+rng.IntN(24))
			got, want := preTokens(c.split, text), refPreTokens(t, c.re, text)
			if !slices.Equal(got, want) {
				t.Fatalf("%s %q:\n got %q\nwant %q", c.name, text, got, want)
			}
		}
	}
}
