package data

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Named corpora (EVALUATION.md §1.1, §2.2).
const (
	// CorpusWikiText2 is the HF wikitext-2-raw-v1 test split joined with
	// "\n\n": the default perplexity text.
	CorpusWikiText2 = "wikitext2"
	// CorpusWikiText2Valid is the tokenised WikiText-2 validation set: the
	// default calibration corpus.
	CorpusWikiText2Valid = "wikitext2-valid"
	// CorpusWikiText2Raw is wiki.test.raw (CRLF, no blank lines).
	CorpusWikiText2Raw = "wikitext2-raw"
)

var corpora = map[string]string{
	CorpusWikiText2:      "wikitext-2/wikitext-2-raw-v1.test.joined.txt",
	CorpusWikiText2Valid: "wikitext-2/valid.txt",
	CorpusWikiText2Raw:   "wikitext-2/wiki.test.raw",
}

// Corpus returns the path under the data directory of a named corpus.
func Corpus(name string) (rel string, ok bool) {
	rel, ok = corpora[name]
	return rel, ok
}

// CorpusNames lists the corpus names ReadText accepts besides paths.
func CorpusNames() []string {
	names := make([]string, 0, len(corpora))
	for n := range corpora {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Text is a corpus read into memory.
type Text struct {
	Text string
	// FileRef is the file read: its absolute path, size and sha256.
	FileRef
	// Entry is the registry entry when the file is a registered shared file
	// (its checksum then matched); nil otherwise.
	Entry *Entry
}

// ReadText reads a named corpus (see CorpusNames) from the data directory
// dir only, or else the text file at nameOrPath, a path relative to the
// working directory (never to dir). Another short name is an error
// suggesting ./NAME. The file may hold at most MaxTextBytes; a registered
// shared file, wherever it lies, must match its checksum before it is
// decoded. The bytes are kept verbatim: CRLF line ends and a leading
// byte-order mark stay in the text, because the protocols tokenise files
// exactly as stored. Empty files and invalid UTF-8 are errors.
func ReadText(dir, nameOrPath string) (Text, error) {
	var path string
	var err error
	switch rel, ok := corpora[nameOrPath]; {
	case ok:
		if path, err = ResolveName(dir, rel); err != nil {
			return Text{}, fmt.Errorf("corpus %s: %w", nameOrPath, err)
		}
	case IsName(nameOrPath):
		return Text{}, fmt.Errorf("corpus %s: %w: not a named corpus (%s); for a file in the working directory write ./%s",
			nameOrPath, ErrNotFound, strings.Join(CorpusNames(), ", "), nameOrPath)
	default:
		if path, err = ResolvePath(nameOrPath); err != nil {
			return Text{}, fmt.Errorf("corpus: %w", err)
		}
	}
	b, ref, e, err := ReadFile(path, MaxTextBytes, "text corpora")
	if err != nil {
		return Text{}, fmt.Errorf("corpus: %w", err)
	}
	t := Text{FileRef: ref, Entry: e}
	if t.Text, err = decodeText(ref.Path, b); err != nil {
		return Text{}, err
	}
	return t, nil
}

// decodeText checks that b is non-empty valid UTF-8.
func decodeText(path string, b []byte) (string, error) {
	if len(b) == 0 {
		return "", fmt.Errorf("%s: empty text file", path)
	}
	if utf8.Valid(b) {
		return string(b), nil
	}
	for off := 0; off < len(b); {
		r, n := utf8.DecodeRune(b[off:])
		if r == utf8.RuneError && n == 1 {
			return "", fmt.Errorf("%s: invalid UTF-8 at byte offset %d (byte 0x%02x)", path, off, b[off])
		}
		off += n
	}
	return "", fmt.Errorf("%s: invalid UTF-8", path)
}
