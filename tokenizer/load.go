package tokenizer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LoadFile reads a vocabulary file of any kind prunebench knows, chosen by
// name: a tokenizer.json (any *.json), a SentencePiece *.model or a
// llama2.c *.bin vocabulary (all its records). In a directory it reads
// tokenizer.model, tokenizer.bin or tokenizer.json, the first present, as
// a Hugging Face checkpoint is read: LLaMA-2's directories hold both
// tokenizer.model and a tokenizer.json prunebench does not implement (a
// SentencePiece emulation). A GGUF file's vocabulary is the model
// package's to read.
func LoadFile(path string) (Tokenizer, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		names := DirFileNames
		for _, name := range names {
			if _, err := os.Stat(filepath.Join(path, name)); err == nil {
				return LoadFile(filepath.Join(path, name))
			}
		}
		return nil, fmt.Errorf("%s: a directory without %s, %s or %s", path, names[0], names[1], names[2])
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return asTokenizer(LoadHFTokenizer(path))
	case ".model":
		return asTokenizer(LoadSentencePiece(path))
	case ".bin":
		return asTokenizer(LoadLlama2C(path, 0))
	}
	return nil, fmt.Errorf("%s: not a vocabulary file by its name: want tokenizer.json (*.json), a SentencePiece *.model or a llama2.c *.bin", path)
}

// DirFileNames are the vocabulary files a model directory may hold, in the
// order they are looked for (LoadFile, and the model package's loaders).
var DirFileNames = []string{"tokenizer.model", "tokenizer.bin", "tokenizer.json"}

// asTokenizer keeps a failed load's nil pointer from becoming a non-nil
// interface.
func asTokenizer[T Tokenizer](t T, err error) (Tokenizer, error) {
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Display is how a tool shows token id on its own, as llama.cpp's tokenize
// does: its decoded text with any leading space (which Decode drops after
// BOS), or, for a control token (which decodes to ""), its spelling such
// as <|begin_of_text|>.
func Display(t Tokenizer, id int) string {
	if s := t.Decode(-1, id); s != "" {
		return s
	}
	return Spelling(t, id)
}

// Spelling is how t's vocabulary spells token id: SentencePiece's "▁the",
// byte-level BPE's "Ġthe", llama2.c's " the" (see each Piece method); ""
// outside the vocabulary, and the decoded text for a Tokenizer without a
// Piece method.
func Spelling(t Tokenizer, id int) string {
	if p, ok := t.(interface{ Piece(int) string }); ok {
		return p.Piece(id)
	}
	return t.Decode(-1, id)
}
