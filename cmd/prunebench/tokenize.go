package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/prunebench/prunebench/internal/smallfile"
	"github.com/prunebench/prunebench/runners"
	"github.com/prunebench/prunebench/tokenizer"
)

// maxTextFile caps --file: token ids take eight times the text, and a
// check of token counts has no use for more.
const maxTextFile = 256 << 20

func runTokenize(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("tokenize", stderr, &c)
	vocab := fs.String("tokenizer", "", "a vocabulary file instead of --model: tokenizer.json, a SentencePiece tokenizer.model, a llama2.c tokenizer .bin, or a directory holding one")
	text := fs.String("text", "", "the text to tokenize")
	file := fs.String("file", "", "read the text from this file (- for stdin)")
	bos := fs.Bool("bos", false, "put BOS first")
	onlyIDs := fs.Bool("ids", false, "print the ids only, as a list [1, 2, 3]")
	onlyCount := fs.Bool("count", false, "print the number of tokens only")
	if err := parse(fs, args); err != nil {
		return err
	}
	textSet := false
	fs.Visit(func(f *flag.Flag) { textSet = textSet || f.Name == "text" })
	switch {
	case (c.model == "") == (*vocab == ""):
		return usagef("want exactly one of --model and --tokenizer")
	case textSet == (*file != ""):
		return usagef("want exactly one of --text and --file")
	case *onlyIDs && *onlyCount:
		return usagef("--ids and --count exclude each other")
	}
	if *file != "" {
		var err error
		if *text, err = readText(*file); err != nil {
			return err
		}
	}
	tok, source, err := c.openTokenizer(ctx, *vocab, stderr)
	if err != nil {
		return err
	}
	if *bos && tok.BOS() < 0 {
		return fmt.Errorf("--bos: the vocabulary of %s has no BOS token", source)
	}
	ids := tok.Encode(*text, *bos, false)
	if ids == nil {
		ids = []int{} // [] in the output, not null
	}
	if c.json {
		return printTokensJSON(stdout, tok, source, ids, *onlyIDs, *onlyCount)
	}
	out := bufio.NewWriter(stdout)
	switch {
	case *onlyCount:
		fmt.Fprintln(out, len(ids))
	case *onlyIDs:
		b := []byte{'['}
		for i, id := range ids {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = strconv.AppendInt(b, int64(id), 10)
		}
		out.Write(append(b, "]\n"...))
	default:
		for _, id := range ids {
			fmt.Fprintf(out, "%6d -> '%s'\n", id, tokenizer.Display(tok, id))
		}
	}
	return out.Flush()
}

// openTokenizer returns the vocabulary file's tokenizer, or the model's,
// with what to call it.
func (c *common) openTokenizer(ctx context.Context, vocab string, stderr io.Writer) (tokenizer.Tokenizer, string, error) {
	if vocab != "" {
		tok, err := tokenizer.LoadFile(vocab)
		return tok, vocab, err
	}
	if err := c.needModel(ctx, stderr); err != nil {
		return nil, "", err
	}
	tok, err := runners.ModelTokenizer(c.dataDir, c.model)
	return tok, c.model, err
}

// readText reads --file, or stdin for "-".
func readText(path string) (string, error) {
	if path != "-" {
		b, err := smallfile.Read(path, maxTextFile)
		if err != nil {
			return "", fmt.Errorf("--file: %w", err)
		}
		return string(b), nil
	}
	b, err := io.ReadAll(io.LimitReader(os.Stdin, maxTextFile+1))
	if err != nil {
		return "", fmt.Errorf("--file -: reading stdin: %w", err)
	}
	if len(b) > maxTextFile {
		return "", fmt.Errorf("--file -: more than the %d-byte limit", maxTextFile)
	}
	return string(b), nil
}

// tokensJSON is tokenize --json's output. Pieces are the vocabulary's
// spellings (tokenizer.Spelling), which unlike decoded pieces are whole
// characters.
type tokensJSON struct {
	Tokenizer string    `json:"tokenizer"`
	VocabSize int       `json:"vocab_size"`
	Count     int       `json:"count"`
	IDs       *[]int    `json:"ids,omitempty"`
	Pieces    *[]string `json:"pieces,omitempty"`
}

func printTokensJSON(w io.Writer, tok tokenizer.Tokenizer, source string, ids []int, onlyIDs, onlyCount bool) error {
	r := tokensJSON{Tokenizer: source, VocabSize: tok.VocabSize(), Count: len(ids)}
	if !onlyCount {
		r.IDs = &ids
	}
	if !onlyCount && !onlyIDs {
		pieces := make([]string, len(ids))
		for i, id := range ids {
			pieces[i] = tokenizer.Spelling(tok, id)
		}
		r.Pieces = &pieces
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // <s> and <|begin_of_text|> as they are
	return enc.Encode(r)
}
