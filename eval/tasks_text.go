package eval

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Prompts and string helpers with Python's semantics, because the harness's
// prompts are Python string operations and a different notion of
// "whitespace" or "capitalize" would change the requests.

// pyIsSpace is Python's str.isspace for one code point: Go's White_Space set
// plus the four ASCII separators U+001C..U+001F, which Python counts as
// whitespace.
func pyIsSpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// pyStrip is Python's str.strip().
func pyStrip(s string) string { return strings.TrimFunc(s, pyIsSpace) }

// pyCapitalize is Python's str.capitalize(): the first character in title
// case and the rest in lower case. Python's few one-to-many case mappings
// (ß → Ss) are not reproduced; no task text is affected.
func pyCapitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToTitle(r)) + strings.ToLower(s[n:])
}

var bracketSpan = regexp.MustCompile(`\[.*?\]`)

// hellaswagPreprocess is lm-eval's HellaSwag.preprocess.
func hellaswagPreprocess(s string) string {
	s = pyStrip(s)
	s = strings.ReplaceAll(s, " [title]", ". ")
	s = bracketSpan.ReplaceAllLiteralString(s, "")
	return strings.ReplaceAll(s, "  ", " ")
}

// capitalizeTail approximates lm-eval's capitalize(ctx_b) on a context in
// which ctx_a and ctx_b were already joined (the six-line file): when the
// text ends with ". " and a fragment that starts lower-case and has no ".",
// that fragment is taken to be ctx_b and capitalised.
func capitalizeTail(s string) string {
	i := strings.LastIndex(s, ". ")
	if i < 0 {
		return s
	}
	frag := s[i+2:]
	r, _ := utf8.DecodeRuneInString(frag)
	if frag == "" || !unicode.IsLower(r) || strings.Contains(frag, ".") {
		return s
	}
	return s[:i+2] + pyCapitalize(frag)
}

// The HellaSwag context modes for the six-line file (LoadOptions.HellaSwagCtx).
const (
	HellaSwagCapitalizeTail = "capitalize-tail"
	HellaSwagAsIs           = "as-is"
)

// mcDoc is the multiple-choice layout: one context, continuation " "+choice
// for each choice.
func mcDoc(line int, context string, choices []string, gold int) Doc {
	d := Doc{Line: line, Choices: choices, Gold: gold}
	for _, c := range choices {
		d.Contexts = append(d.Contexts, context)
		d.Continuations = append(d.Continuations, " "+c)
	}
	return d
}

func boolqDoc(line int, passage, question string, answer bool) Doc {
	gold := 1
	if answer {
		gold = 0
	}
	return mcDoc(line, passage+"\nQuestion: "+question+"?\nAnswer:", []string{"yes", "no"}, gold)
}

// rteDoc takes GLUE's label: 0 = entailment (" True"), 1 = not_entailment.
func rteDoc(line int, sentence1, sentence2 string, label int) Doc {
	return mcDoc(line, sentence1+"\nQuestion: "+sentence2+" True or False?\nAnswer:", []string{"True", "False"}, label)
}

func arcDoc(line int, question string, choices []string, gold int) Doc {
	return mcDoc(line, "Question: "+question+"\nAnswer:", choices, gold)
}

func openbookqaDoc(line int, stem string, choices []string, gold int) Doc {
	return mcDoc(line, stem, choices, gold)
}

func piqaDoc(line int, goal string, sols []string, gold int) Doc {
	return mcDoc(line, "Question: "+goal+"\nAnswer:", sols, gold)
}

// winograndeDoc is lm-eval's partial scoring: each option replaces the
// blank and ends its context; the rest of the sentence is the continuation
// shared by both.
func winograndeDoc(line int, sentence string, options []string, gold int) (Doc, error) {
	i := strings.Index(sentence, "_")
	if i < 0 {
		return Doc{}, fmt.Errorf("sentence has no blank %q", "_")
	}
	d := Doc{Line: line, Choices: options, Gold: gold}
	cont := " " + pyStrip(sentence[i+1:])
	for _, o := range options {
		d.Contexts = append(d.Contexts, sentence[:i]+o)
		d.Continuations = append(d.Continuations, cont)
	}
	return d, nil
}
