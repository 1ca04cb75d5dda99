package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/prunebench/prunebench/internal/jsonerr"
	"github.com/prunebench/prunebench/internal/smallfile"
)

// MaxTokenizerJSONSize caps the tokenizer.json files LoadHFTokenizer reads:
// LLaMA-3's is 9 MB and Qwen's 11 MB, so 32 MiB leaves room for larger
// vocabularies while bounding what a hostile file costs (decoded, a
// vocabulary takes up to about ten times its file size).
const MaxTokenizerJSONSize = 32 << 20

// LoadHFTokenizer reads a Hugging Face tokenizer: path is a tokenizer.json
// file or the directory holding one, and tokenizer_config.json beside it is
// read too when present. See ParseHFTokenizer for what is accepted.
func LoadHFTokenizer(path string) (*BPE, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "tokenizer.json")
	}
	tj, err := smallfile.Read(path, MaxTokenizerJSONSize)
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	cfgPath := filepath.Join(filepath.Dir(path), "tokenizer_config.json")
	cfg, err := smallfile.Read(cfgPath, MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		cfg, cfgPath = nil, ""
	} else if err != nil {
		return nil, fmt.Errorf("tokenizer_config.json: %w", err)
	}
	t, err := parseHF(tj, cfg)
	if err != nil {
		var ce configError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("%s: %w", cfgPath, ce.error)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// configError marks an error in tokenizer_config.json rather than
// tokenizer.json.
type configError struct{ error }

// ParseHFTokenizer reads the content of a tokenizer.json file and, when
// config is not nil, of the tokenizer_config.json beside it. Accepted are
// the byte-level BPE tokenizers of LLaMA-3 (its Split regex, no normaliser,
// model.ignore_merges) and Qwen2/2.5/3 (its regex, NFC), each exactly as
// their files spell them; any other model type, normaliser, pre-tokeniser,
// decoder or post-processor is an error naming the field, as are added
// tokens with lstrip, rstrip or single_word set, truncation (which would
// cut texts), and tokenizer_config.json's add_eos_token and
// split_special_tokens (not implemented).
//
// The special ids come from tokenizer_config.json's bos_token and
// eos_token, else from the post-processor's template. Whether BOS goes
// first (BPE.AddBOS) is, in this order: tokenizer_config.json's
// add_bos_token; a TemplateProcessing post-processor (whether its single
// template starts with BOS); else llama.cpp's default for the pre-tokeniser
// (DefaultAddBOS), which keeps LLaMA-3's first tokenizer.json files right:
// they have a ByteLevel post-processor and no add_bos_token although the
// model was trained with BOS first.
func ParseHFTokenizer(tokenizerJSON, config []byte) (*BPE, error) {
	t, err := parseHF(tokenizerJSON, config)
	var ce configError
	if errors.As(err, &ce) {
		return nil, fmt.Errorf("tokenizer_config.json: %w", ce.error)
	}
	return t, err
}

type hfFile struct {
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Truncation    json.RawMessage `json:"truncation"`
	Normalizer    *hfTyped        `json:"normalizer"`
	PreTokenizer  *hfTyped        `json:"pre_tokenizer"`
	PostProcessor *hfTyped        `json:"post_processor"`
	Decoder       *hfTyped        `json:"decoder"`
	Model         *hfModel        `json:"model"`
}

type hfAddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// hfTyped is any of the pipeline's components: a type and the fields the
// types prunebench accepts use.
type hfTyped struct {
	Type string `json:"type"`
	// Sequence
	Pretokenizers []hfTyped `json:"pretokenizers"`
	Processors    []hfTyped `json:"processors"`
	// Split
	Pattern  *struct{ Regex *string } `json:"pattern"`
	Behavior string                   `json:"behavior"`
	Invert   bool                     `json:"invert"`
	// ByteLevel
	AddPrefixSpace bool  `json:"add_prefix_space"`
	UseRegex       *bool `json:"use_regex"`
	// TemplateProcessing
	Single        []hfTemplatePiece `json:"single"`
	SpecialTokens map[string]struct {
		IDs []int `json:"ids"`
	} `json:"special_tokens"`
}

type hfTemplatePiece struct {
	SpecialToken *struct {
		ID string `json:"id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID string `json:"id"`
	} `json:"Sequence"`
}

type hfModel struct {
	Type                    string         `json:"type"`
	Dropout                 *float64       `json:"dropout"`
	ContinuingSubwordPrefix *string        `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string        `json:"end_of_word_suffix"`
	ByteFallback            bool           `json:"byte_fallback"`
	IgnoreMerges            bool           `json:"ignore_merges"`
	Vocab                   map[string]int `json:"vocab"`
	Merges                  []hfMerge      `json:"merges"`
}

// hfMerge is one merge in either of tokenizer.json's forms, "left right"
// or ["left", "right"], as "left right".
type hfMerge string

func (m *hfMerge) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		var pair []string
		if err := json.Unmarshal(b, &pair); err != nil {
			return err
		}
		if len(pair) != 2 {
			return fmt.Errorf("a merge array holds %d strings, want 2", len(pair))
		}
		*m = hfMerge(pair[0] + " " + pair[1])
		return nil
	}
	return json.Unmarshal(b, (*string)(m))
}

type hfConfig struct {
	AddBOSToken        *bool           `json:"add_bos_token"`
	AddEOSToken        bool            `json:"add_eos_token"`
	SplitSpecialTokens bool            `json:"split_special_tokens"`
	BOSToken           json.RawMessage `json:"bos_token"`
	EOSToken           json.RawMessage `json:"eos_token"`
}

func parseHF(tokenizerJSON, config []byte) (*BPE, error) {
	var f hfFile
	if err := decodeJSON(tokenizerJSON, &f); err != nil {
		return nil, err
	}
	if f.Model == nil {
		return nil, fmt.Errorf("model: missing")
	}
	if len(f.Truncation) > 0 && string(f.Truncation) != "null" {
		return nil, fmt.Errorf("truncation is set; prunebench encodes whole texts")
	}
	v, err := f.vocab()
	if err != nil {
		return nil, err
	}
	if v.Pre, err = f.pre(); err != nil {
		return nil, err
	}
	if err := f.checkDecoder(); err != nil {
		return nil, err
	}
	tmpl, err := f.template(v.Tokens)
	if err != nil {
		return nil, err
	}
	v.BOS, v.EOS = tmpl.bos, -1
	var c hfConfig
	if config != nil {
		if err := decodeJSON(config, &c); err != nil {
			return nil, configError{err}
		}
		switch {
		case c.AddEOSToken:
			return nil, configError{fmt.Errorf("add_eos_token is true, which is not implemented (Encode's eos argument appends EOS)")}
		case c.SplitSpecialTokens:
			return nil, configError{fmt.Errorf("split_special_tokens is true, which is not implemented (special tokens are always recognised in the text)")}
		}
		for _, s := range []struct {
			field string
			raw   json.RawMessage
			id    *int
		}{{"bos_token", c.BOSToken, &v.BOS}, {"eos_token", c.EOSToken, &v.EOS}} {
			if len(s.raw) == 0 {
				continue // absent: the template's, or none
			}
			if *s.id, err = specialID(s.raw, v); err != nil {
				return nil, configError{fmt.Errorf("%s: %w", s.field, err)}
			}
		}
	}
	if tmpl.bos >= 0 && tmpl.bos != v.BOS {
		return nil, fmt.Errorf("post_processor: the template starts with token %d, but bos_token is %d", tmpl.bos, v.BOS)
	}
	switch {
	case c.AddBOSToken != nil:
		v.AddBOS = *c.AddBOSToken
	case tmpl.found:
		v.AddBOS = tmpl.bos >= 0
	default:
		v.AddBOS = DefaultAddBOS(v.Pre) && v.BOS >= 0
	}
	if v.AddBOS && v.BOS < 0 {
		return nil, configError{fmt.Errorf("add_bos_token is true but there is no bos_token")}
	}
	return NewBPE(v)
}

// decodeJSON decodes one JSON value, refusing anything but white space
// after it (Decoder.More alone lets a stray } or ] through).
func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("not valid JSON for this file: %w", jsonerr.Describe(err))
	}
	if off := d.InputOffset(); len(bytes.TrimSpace(b[off:])) > 0 {
		return fmt.Errorf("data after the JSON value at byte %d", off)
	}
	return nil
}

// vocab builds the tokens, types and merges of a BPE model: the ids of
// model.vocab and added_tokens together must run from 0 without a gap.
func (f *hfFile) vocab() (BPEVocab, error) {
	m := f.Model
	switch {
	case m.Type != "BPE":
		return BPEVocab{}, fmt.Errorf("model.type is %q; only BPE is implemented", m.Type)
	case m.Dropout != nil && *m.Dropout != 0:
		return BPEVocab{}, fmt.Errorf("model.dropout is %g; only deterministic BPE (null) is implemented", *m.Dropout)
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "":
		return BPEVocab{}, fmt.Errorf("model.continuing_subword_prefix is %q; not implemented", *m.ContinuingSubwordPrefix)
	case m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return BPEVocab{}, fmt.Errorf("model.end_of_word_suffix is %q; not implemented", *m.EndOfWordSuffix)
	case m.ByteFallback:
		return BPEVocab{}, fmt.Errorf("model.byte_fallback is true; byte-level BPE needs none and it is not implemented")
	}
	// An added token may also be a model.vocab entry of the same id
	// (GPT-2's <|endoftext|>), spelled as itself or byte-level.
	inVocab := func(a hfAddedToken) bool {
		id, ok := m.Vocab[a.Content]
		if !ok {
			id, ok = m.Vocab[byteLevelString(a.Content)]
		}
		return ok && id == a.ID
	}
	n := len(m.Vocab)
	for _, a := range f.AddedTokens {
		if !inVocab(a) {
			n++
		}
	}
	v := BPEVocab{Tokens: make([]string, n), Types: make([]int32, n)}
	set := make([]bool, n)
	for tok, id := range m.Vocab {
		if id < 0 || id >= n {
			return BPEVocab{}, fmt.Errorf("model.vocab[%q] is %d; with the added tokens the ids must run 0..%d", tok, id, n-1)
		}
		if set[id] {
			return BPEVocab{}, fmt.Errorf("model.vocab[%q] is %d, an id another entry has", tok, id)
		}
		v.Tokens[id], v.Types[id], set[id] = tok, typeNormal, true
	}
	for i, a := range f.AddedTokens {
		where := fmt.Sprintf("added_tokens[%d] (%q)", i, a.Content)
		switch {
		case a.LStrip || a.RStrip || a.SingleWord:
			return BPEVocab{}, fmt.Errorf("%s: lstrip, rstrip and single_word are not implemented", where)
		case a.Content == "":
			return BPEVocab{}, fmt.Errorf("%s: content is empty", where)
		case a.Normalized && f.Normalizer != nil:
			return BPEVocab{}, fmt.Errorf("%s: normalized is true with a normalizer, which is not implemented", where)
		case a.ID < 0 || a.ID >= n:
			return BPEVocab{}, fmt.Errorf("%s: id %d; with model.vocab the ids must run 0..%d", where, a.ID, n-1)
		case set[a.ID] && !inVocab(a):
			return BPEVocab{}, fmt.Errorf("%s: id %d is %q in model.vocab", where, a.ID, v.Tokens[a.ID])
		}
		if v.Types[a.ID] == typeControl || v.Types[a.ID] == typeUserDefined {
			return BPEVocab{}, fmt.Errorf("%s: id %d is taken by an earlier added token", where, a.ID)
		}
		v.Tokens[a.ID], v.Types[a.ID], set[a.ID] = a.Content, typeUserDefined, true
		if a.Special {
			v.Types[a.ID] = typeControl
		}
	}
	for id, ok := range set {
		if !ok {
			return BPEVocab{}, fmt.Errorf("model.vocab and added_tokens: no token has id %d (ids must run 0..%d)", id, n-1)
		}
	}
	v.Merges = make([]string, len(m.Merges))
	for i, mg := range m.Merges {
		v.Merges[i] = string(mg)
	}
	return v, nil
}

// pre recognises the normaliser, pre-tokeniser and ignore_merges of one of
// the known tokenizers and returns its name.
func (f *hfFile) pre() (string, error) {
	p := f.PreTokenizer
	if p == nil {
		return "", fmt.Errorf("pre_tokenizer is null; want a Split regex then ByteLevel")
	}
	if p.Type != "Sequence" || len(p.Pretokenizers) != 2 {
		return "", fmt.Errorf("pre_tokenizer: type %q with %d pre-tokenizers; want a Sequence of Split and ByteLevel", p.Type, len(p.Pretokenizers))
	}
	split, bl := p.Pretokenizers[0], p.Pretokenizers[1]
	switch {
	case split.Type != "Split":
		return "", fmt.Errorf("pre_tokenizer.pretokenizers[0].type is %q, want Split", split.Type)
	case split.Pattern == nil || split.Pattern.Regex == nil:
		return "", fmt.Errorf("pre_tokenizer.pretokenizers[0].pattern: want a Regex")
	case split.Behavior != "Isolated" || split.Invert:
		return "", fmt.Errorf("pre_tokenizer.pretokenizers[0]: behavior %q, invert %v; want Isolated, false", split.Behavior, split.Invert)
	case bl.Type != "ByteLevel":
		return "", fmt.Errorf("pre_tokenizer.pretokenizers[1].type is %q, want ByteLevel", bl.Type)
	case bl.AddPrefixSpace || bl.UseRegex == nil || *bl.UseRegex:
		return "", fmt.Errorf("pre_tokenizer.pretokenizers[1]: ByteLevel must have add_prefix_space and use_regex false")
	}
	norm := "null"
	if f.Normalizer != nil {
		norm = f.Normalizer.Type
	}
	var name, wantNorm string
	switch *split.Pattern.Regex {
	case llama3Regex:
		name, wantNorm = PreLlama3, "null"
	case qwen2Regex:
		name, wantNorm = PreQwen2, "NFC"
	default:
		return "", fmt.Errorf("pre_tokenizer.pretokenizers[0].pattern.Regex %q is not LLaMA-3's or Qwen2's, the ones implemented", *split.Pattern.Regex)
	}
	if norm != wantNorm {
		return "", fmt.Errorf("normalizer is %s; %s's pre-tokenizer goes with %s", norm, name, wantNorm)
	}
	if f.Model.IgnoreMerges != preTokenizers[name].ignoreMerges {
		return "", fmt.Errorf("model.ignore_merges is %v; %s's pre-tokenizer goes with %v", f.Model.IgnoreMerges, name, preTokenizers[name].ignoreMerges)
	}
	return name, nil
}

func (f *hfFile) checkDecoder() error {
	if f.Decoder != nil && f.Decoder.Type != "ByteLevel" {
		return fmt.Errorf("decoder.type is %q; want ByteLevel", f.Decoder.Type)
	}
	return nil
}

// hfTemplate is what the post-processor says about BOS: found when it is a
// TemplateProcessing, bos the id its single template starts with (-1 for
// none).
type hfTemplate struct {
	found bool
	bos   int
}

func (f *hfFile) template(tokens []string) (hfTemplate, error) {
	p := f.PostProcessor
	procs := []hfTyped{}
	switch {
	case p == nil:
	case p.Type == "Sequence":
		procs = p.Processors
	default:
		procs = append(procs, *p)
	}
	t := hfTemplate{bos: -1}
	for i, q := range procs {
		where := "post_processor"
		if p.Type == "Sequence" {
			where = fmt.Sprintf("post_processor.processors[%d]", i)
		}
		switch q.Type {
		case "ByteLevel":
		case "TemplateProcessing":
			if t.found {
				return t, fmt.Errorf("%s: a second TemplateProcessing", where)
			}
			t.found = true
			var err error
			if t.bos, err = q.singleBOS(tokens); err != nil {
				return t, fmt.Errorf("%s.single: %w", where, err)
			}
		default:
			return t, fmt.Errorf("%s.type is %q; want ByteLevel or TemplateProcessing", where, q.Type)
		}
	}
	return t, nil
}

// singleBOS reads a single-sequence template: the sequence, optionally
// after one special token, which it returns (-1 for none).
func (q *hfTyped) singleBOS(tokens []string) (int, error) {
	s := q.Single
	bos := -1
	if len(s) == 2 && s[0].SpecialToken != nil {
		name := s[0].SpecialToken.ID
		ids := q.SpecialTokens[name].IDs
		if len(ids) != 1 || ids[0] < 0 || ids[0] >= len(tokens) {
			return 0, fmt.Errorf("special token %q: special_tokens gives ids %v, want one token's", name, ids)
		}
		bos, s = ids[0], s[1:]
	}
	if len(s) != 1 || s[0].Sequence == nil || s[0].SpecialToken != nil {
		return 0, fmt.Errorf("want the sequence, optionally after one special token (BOS); other templates are not implemented")
	}
	return bos, nil
}

// specialID resolves tokenizer_config.json's bos_token or eos_token: a
// string, an object with "content", or null (-1).
func specialID(raw json.RawMessage, v BPEVocab) (int, error) {
	if string(raw) == "null" {
		return -1, nil
	}
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		var obj struct{ Content *string }
		if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
			return 0, fmt.Errorf("want a string, an object with content, or null")
		}
		text = *obj.Content
	}
	for id, tok := range v.Tokens {
		added := v.Types[id] == typeControl || v.Types[id] == typeUserDefined
		if added && tok == text || !added && tok == byteLevelString(text) {
			return id, nil
		}
	}
	return 0, fmt.Errorf("%q is not a token", text)
}
