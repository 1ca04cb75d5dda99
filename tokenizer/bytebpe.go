package tokenizer

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// BPEVocab is a byte-level BPE vocabulary as a GGUF file stores it with
// tokenizer.ggml.model = "gpt2", and the form every BPE is built from
// (LoadHFTokenizer converts a tokenizer.json to it).
type BPEVocab struct {
	// Tokens is tokenizer.ggml.tokens in id order: ordinary tokens spelled
	// in GPT-2's byte-to-unicode alphabet ("Ġthe" for " the"), added tokens
	// (types 3 and 4) as their raw text.
	Tokens []string
	// Types is tokenizer.ggml.token_type: 1 normal, 3 control (special
	// tokens, matched in the input and decoded to nothing), 4 user defined
	// (matched in the input, decoded to their text); 2, 5 and 6 (unknown,
	// unused, byte) are held like normal tokens.
	Types []int32
	// Merges is tokenizer.ggml.merges: "left right" (two ordinary tokens
	// whose concatenation is one too), highest priority first.
	Merges []string
	// Pre is tokenizer.ggml.pre, naming the pre-tokeniser the way llama.cpp
	// does: "llama-bpe" (LLaMA-3's regex; a pre-token that is itself a
	// token is not merged) or "qwen2" (Qwen2/2.5/3's regex, after NFC
	// normalisation as their tokenizer.json asks; llama.cpp skips it, so
	// text not in NFC may tokenize differently there).
	Pre string
	// BOS and EOS are the special ids, -1 when absent.
	BOS, EOS int
	// AddBOS is tokenizer.ggml.add_bos_token: whether the model expects BOS
	// before a text. A GGUF file without the key means DefaultAddBOS(Pre).
	AddBOS bool
}

// Pre-tokeniser names (tokenizer.ggml.pre).
const (
	PreLlama3 = "llama-bpe"
	PreQwen2  = "qwen2"
)

// DefaultAddBOS is llama.cpp's add_bos_token for a GGUF file that does not
// set it: on for LLaMA-3, off for Qwen.
func DefaultAddBOS(pre string) bool { return pre == PreLlama3 }

// preTokenizer is what Pre selects.
type preTokenizer struct {
	split preSplitter
	// ignoreMerges emits a pre-token that is itself an ordinary token as
	// that token (tokenizer.json's model.ignore_merges).
	ignoreMerges bool
	nfc          bool
}

var preTokenizers = map[string]preTokenizer{
	PreLlama3: {split: preSplitter{maxDigits: 3}, ignoreMerges: true},
	PreQwen2:  {split: preSplitter{maxDigits: 1}, nfc: true},
}

// maxMerges keeps ranks exact as float32 merge priorities.
const maxMerges = 1 << 24

// BPE is a byte-level BPE tokenizer with Hugging Face tokenizers' semantics
// (LLaMA-3, Qwen2/2.5/3): added tokens are matched in the raw text first;
// the rest is normalised (NFC for Qwen), cut into pre-tokens by the
// tokenizer's Split regex, spelled as bytes, and each pre-token's bytes are
// merged pair by pair, the pair of lowest merge rank first (leftmost on
// ties). There is no dummy prefix and no unknown token: every byte is a
// token.
type BPE struct {
	v   BPEVocab
	pre preTokenizer
	// raw is the text each id stands for: the bytes of an ordinary token,
	// the text of an added one.
	raw []string
	// vocab maps the raw bytes of each ordinary token to its id, for
	// ignoreMerges.
	vocab  map[string]int
	byteID [256]int32
	// ranks maps a pair of ids (left<<32 | right) to its merge rank;
	// results[rank] is the merged id.
	ranks   map[uint64]int32
	results []int32
	added   *addedTokens
}

var _ Tokenizer = (*BPE)(nil)

// NewBPE builds a tokenizer from a vocabulary, checking it whole: counts
// agree, ids are in range, ordinary tokens are spelled in the byte-level
// alphabet and unique, all 256 bytes are tokens, every merge joins two
// ordinary tokens into a third and occurs once, and Pre is one of PreLlama3
// and PreQwen2 (other pre-tokenisers are not implemented).
func NewBPE(v BPEVocab) (*BPE, error) {
	n := len(v.Tokens)
	pre, ok := preTokenizers[v.Pre]
	switch {
	case !ok:
		return nil, fmt.Errorf("bpe vocabulary: pre-tokenizer %q is not implemented (want %q or %q)", v.Pre, PreLlama3, PreQwen2)
	case n == 0:
		return nil, fmt.Errorf("bpe vocabulary: no tokens")
	case len(v.Types) != n:
		return nil, fmt.Errorf("bpe vocabulary: %d tokens and %d token types; want equal counts", n, len(v.Types))
	case len(v.Merges) >= maxMerges:
		return nil, fmt.Errorf("bpe vocabulary: %d merges, more than the %d supported", len(v.Merges), maxMerges)
	}
	for _, s := range []struct {
		name string
		id   int
	}{{"bos", v.BOS}, {"eos", v.EOS}} {
		if s.id < -1 || s.id >= n {
			return nil, fmt.Errorf("bpe vocabulary: %s id %d outside the %d tokens", s.name, s.id, n)
		}
	}
	if v.AddBOS && v.BOS < 0 {
		return nil, fmt.Errorf("bpe vocabulary: add_bos_token is set but there is no BOS token")
	}
	t := &BPE{
		v: BPEVocab{
			Tokens: slices.Clone(v.Tokens), Types: slices.Clone(v.Types), Merges: slices.Clone(v.Merges),
			Pre: v.Pre, BOS: v.BOS, EOS: v.EOS, AddBOS: v.AddBOS,
		},
		pre:   pre,
		raw:   make([]string, n),
		vocab: make(map[string]int, n),
		ranks: make(map[uint64]int32, len(v.Merges)),
	}
	added := map[string]int{}
	for i, tok := range v.Tokens {
		switch v.Types[i] {
		case typeControl, typeUserDefined:
			if tok == "" {
				return nil, fmt.Errorf("bpe vocabulary: token %d (type %d) is empty", i, v.Types[i])
			}
			if j, dup := added[tok]; dup {
				return nil, fmt.Errorf("bpe vocabulary: token %d %q duplicates token %d", i, tok, j)
			}
			added[tok] = i
			t.raw[i] = tok
		case typeNormal, typeUnknown, typeUnused, typeByte:
			raw, err := byteLevelBytes(tok)
			if err != nil {
				return nil, fmt.Errorf("bpe vocabulary: token %d %q: %w", i, tok, err)
			}
			if raw == "" {
				return nil, fmt.Errorf("bpe vocabulary: token %d is empty", i)
			}
			if j, dup := t.vocab[raw]; dup {
				return nil, fmt.Errorf("bpe vocabulary: token %d %q duplicates token %d", i, tok, j)
			}
			t.vocab[raw] = i
			t.raw[i] = raw
		default:
			return nil, fmt.Errorf("bpe vocabulary: token %d %q: type %d, want 1..6", i, tok, v.Types[i])
		}
	}
	for b := range 256 {
		id, ok := t.vocab[string([]byte{byte(b)})]
		if !ok {
			return nil, fmt.Errorf("bpe vocabulary: byte 0x%02X (%q) is not a token; byte-level BPE needs all 256", b, byteChars[b])
		}
		t.byteID[b] = int32(id)
	}
	t.results = make([]int32, len(v.Merges))
	for rank, m := range v.Merges {
		l, r, ok := strings.Cut(m, " ")
		if !ok || strings.Contains(r, " ") {
			return nil, fmt.Errorf("bpe vocabulary: merge %d %q: want two tokens separated by one space", rank, m)
		}
		ids := [3]int{}
		for k, s := range [3]string{l, r, l + r} {
			raw, err := byteLevelBytes(s)
			if err != nil {
				return nil, fmt.Errorf("bpe vocabulary: merge %d %q: %w", rank, m, err)
			}
			id, ok := t.vocab[raw]
			if !ok || raw == "" {
				return nil, fmt.Errorf("bpe vocabulary: merge %d %q: %q is not a token", rank, m, s)
			}
			ids[k] = id
		}
		key := uint64(ids[0])<<32 | uint64(ids[1])
		if prev, dup := t.ranks[key]; dup {
			return nil, fmt.Errorf("bpe vocabulary: merge %d %q repeats merge %d", rank, m, prev)
		}
		t.ranks[key] = int32(rank)
		t.results[rank] = int32(ids[2])
	}
	t.added = newAddedTokens(added)
	return t, nil
}

// BPEVocab returns a copy of t's vocabulary; NewBPE builds from it a
// tokenizer that encodes and decodes as t does.
func (t *BPE) BPEVocab() BPEVocab {
	v := t.v
	v.Tokens, v.Types, v.Merges = slices.Clone(v.Tokens), slices.Clone(v.Types), slices.Clone(v.Merges)
	return v
}

// join is the merge rule of BPE: pairs of ids, lowest rank first.
func (t *BPE) join(l, r symbol, _ *[]byte) (int32, float32, bool) {
	rank, ok := t.ranks[uint64(l.id)<<32|uint64(r.id)]
	if !ok {
		return 0, 0, false
	}
	return t.results[rank], -float32(rank), true
}

func (t *BPE) piece(id int32) string { return t.raw[id] }

// maxCached bounds the pre-tokens one Encode call remembers the tokens of.
const maxCached = 1 << 16

// encoder is the state of one Encode call.
type encoder struct {
	t     *BPE
	out   []int
	syms  []symbol
	ws    workspace
	cache map[string][]int
}

// Encode tokenizes text: bos and eos add the special ids when the
// vocabulary has them (no dummy prefix: byte-level BPE spells a leading
// space like any other). Added tokens are recognised in text as Hugging
// Face does by default (split_special_tokens=False), so text containing
// "<|endoftext|>" encodes it as that token; llama.cpp recognises control
// tokens only when asked to parse special tokens, which its perplexity
// tool does not. Malformed UTF-8 is encoded byte for byte (each malformed
// byte is a pre-token character that is neither a letter, a number nor a
// space; NFC leaves it as it is), so decoding gives the text back, NFC
// normalised for Qwen, malformed bytes included.
func (t *BPE) Encode(text string, bos, eos bool) []int {
	e := &encoder{t: t, cache: map[string][]int{}}
	if bos && t.v.BOS >= 0 {
		e.out = append(e.out, t.v.BOS)
	}
	t.added.split(text, e.plain, func(id int) { e.out = append(e.out, id) })
	if eos && t.v.EOS >= 0 {
		e.out = append(e.out, t.v.EOS)
	}
	return e.out
}

// plain encodes text that holds no added token.
func (e *encoder) plain(text string) {
	if e.t.pre.nfc {
		text = norm.NFC.String(text)
	}
	e.t.pre.split.split(text, e.word)
}

// word encodes one pre-token.
func (e *encoder) word(w string) {
	if ids, ok := e.cache[w]; ok {
		e.out = append(e.out, ids...)
		return
	}
	start := len(e.out)
	if id, ok := e.t.vocab[w]; ok && e.t.pre.ignoreMerges {
		e.out = append(e.out, id)
	} else {
		e.syms = e.syms[:0]
		for i := 0; i < len(w); i++ {
			e.syms = append(e.syms, symbol{id: int(e.t.byteID[w[i]])})
		}
		for _, s := range e.ws.merge(e.t, e.syms) {
			e.out = append(e.out, s.id)
		}
	}
	if len(e.cache) < maxCached {
		e.cache[w] = e.out[start:len(e.out):len(e.out)]
	}
}

// Decode returns the bytes token id stands for, as llama.cpp does; prev
// does not matter, as byte-level BPE spells spaces like any other byte.
// (Hugging Face's decode may also tidy spaces before punctuation,
// clean_up_tokenization_spaces; this does not.) A token may hold part of
// a UTF-8 character, so only the concatenation of a sequence's decodings is
// text. Control tokens (BOS, EOS, <|im_start|>...) decode to "" as
// SentencePiece's do; ids outside the vocabulary to "".
func (t *BPE) Decode(prev, id int) string {
	if id < 0 || id >= len(t.raw) || t.v.Types[id] == typeControl {
		return ""
	}
	return t.raw[id]
}

// Piece returns how the vocabulary spells token id ("" outside it), as
// SentencePiece.Piece does: an ordinary token in the byte-level alphabet
// ("Ġthe" for " the"; always valid UTF-8), an added token as its text.
func (t *BPE) Piece(id int) string {
	if id < 0 || id >= len(t.raw) {
		return ""
	}
	return t.v.Tokens[id]
}

// VocabSize is the number of tokens.
func (t *BPE) VocabSize() int { return len(t.raw) }

// BOS is the beginning-of-sequence id, -1 when the vocabulary has none
// (Qwen's).
func (t *BPE) BOS() int { return t.v.BOS }

// EOS is the end-of-sequence id, -1 when the vocabulary has none.
func (t *BPE) EOS() int { return t.v.EOS }

// AddBOS reports whether the tokenizer's configuration puts BOS before a
// text (see LoadHFTokenizer and BPEVocab.AddBOS); Encode adds it only when
// asked.
func (t *BPE) AddBOS() bool { return t.v.AddBOS }

// Pre names the pre-tokeniser (PreLlama3 or PreQwen2).
func (t *BPE) Pre() string { return t.v.Pre }
