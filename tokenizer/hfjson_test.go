package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// smallHF is a LLaMA-3-style tokenizer.json over the 256 bytes, "ab" (id
// 256, merged from a and b) and the special token <|bos|> (id 257), as a
// tree the tests edit before serialising it.
func smallHF() map[string]any {
	vocab := map[string]any{"ab": 256}
	for b := range 256 {
		vocab[byteChars[b]] = b
	}
	return map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil,
		"added_tokens": []any{map[string]any{"id": 257, "content": "<|bos|>", "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": true}},
		"normalizer": nil,
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": llama3Regex}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		}},
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": false, "byte_fallback": false, "ignore_merges": true,
			"vocab": vocab, "merges": []any{"a b"}},
	}
}

// smallQwen is smallHF as Qwen's tokenizer.json would have it.
func smallQwen() map[string]any {
	tree := set(smallHF(), "normalizer", map[string]any{"type": "NFC"})
	set(tree, "model.ignore_merges", false)
	return set(tree, "pre_tokenizer.pretokenizers.0.pattern.Regex", qwen2Regex)
}

// set replaces the value at a dotted path ("model.type",
// "added_tokens.0.lstrip") of a tree from smallHF.
func set(tree map[string]any, path string, v any) map[string]any {
	keys := strings.Split(path, ".")
	var node any = tree
	for i, k := range keys {
		last := i == len(keys)-1
		switch n := node.(type) {
		case map[string]any:
			if last {
				n[k] = v
			}
			node = n[k]
		case []any:
			j := int(k[0] - '0')
			if last {
				n[j] = v
			}
			node = n[j]
		}
	}
	return tree
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseHFTokenizer(t *testing.T) {
	tok, err := ParseHFTokenizer(marshal(t, smallHF()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("ab<|bos|>a b", false, false); !slices.Equal(got, []int{256, 257, 'a', ' ', 'b'}) {
		t.Errorf("Encode = %v", got)
	}
	// Without tokenizer_config.json nor a template there is no BOS.
	if tok.BOS() != -1 || tok.EOS() != -1 || tok.AddBOS() || tok.Pre() != PreLlama3 {
		t.Errorf("BOS, EOS, AddBOS, Pre = %d, %d, %v, %q", tok.BOS(), tok.EOS(), tok.AddBOS(), tok.Pre())
	}
	// An added token that is also a model.vocab entry (byte-level spelled)
	// of the same id.
	shared := smallHF()
	set(shared, "model.vocab.ĠX", 257)
	set(shared, "added_tokens.0.content", " X")
	tok, err = ParseHFTokenizer(marshal(t, shared), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("a X", false, false); tok.VocabSize() != 258 || !slices.Equal(got, []int{'a', 257}) {
		t.Errorf("an added token in model.vocab: %d tokens, encodes to %v", tok.VocabSize(), got)
	}
	// The newer array form of merges.
	if _, err := ParseHFTokenizer(marshal(t, set(smallHF(), "model.merges", []any{[]any{"a", "b"}})), nil); err != nil {
		t.Errorf("merges as arrays: %v", err)
	}
}

// bosTemplate is the post-processor of LLaMA-3.1's tokenizer.json: BOS,
// then the text.
func bosTemplate() map[string]any {
	return map[string]any{"type": "Sequence", "processors": []any{
		map[string]any{"type": "ByteLevel"},
		map[string]any{"type": "TemplateProcessing",
			"single": []any{map[string]any{"SpecialToken": map[string]any{"id": "<|bos|>", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"special_tokens": map[string]any{"<|bos|>": map[string]any{"id": "<|bos|>", "ids": []any{257}, "tokens": []any{"<|bos|>"}}}},
	}}
}

// TestHFBOS covers where the special ids and AddBOS come from.
func TestHFBOS(t *testing.T) {
	template := bosTemplate()
	noBOS := map[string]any{"type": "TemplateProcessing", "single": []any{map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}}}
	cases := []struct {
		name     string
		tree     map[string]any
		config   string
		bos, eos int
		addBOS   bool
	}{
		{"LLaMA-3's first files: llama.cpp's default", smallHF(), `{"bos_token": "<|bos|>", "eos_token": "<|bos|>"}`, 257, 257, true},
		{"add_bos_token false wins", smallHF(), `{"bos_token": {"content": "<|bos|>"}, "add_bos_token": false}`, 257, -1, false},
		{"template", set(smallHF(), "post_processor", template), ``, 257, -1, true},
		{"template, config without bos_token", set(smallHF(), "post_processor", template), `{"eos_token": "ab"}`, 257, 256, true},
		{"template without BOS", set(smallHF(), "post_processor", noBOS), `{"bos_token": "<|bos|>"}`, 257, -1, false},
		{"ordinary token as EOS", smallHF(), `{"eos_token": "ab", "bos_token": null}`, -1, 256, false},
		{"Qwen: no BOS", smallQwen(), `{"bos_token": null, "eos_token": "<|bos|>"}`, -1, 257, false},
	}
	for _, c := range cases {
		var cfg []byte
		if c.config != "" {
			cfg = []byte(c.config)
		}
		tok, err := ParseHFTokenizer(marshal(t, c.tree), cfg)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if tok.BOS() != c.bos || tok.EOS() != c.eos || tok.AddBOS() != c.addBOS {
			t.Errorf("%s: BOS, EOS, AddBOS = %d, %d, %v; want %d, %d, %v", c.name, tok.BOS(), tok.EOS(), tok.AddBOS(), c.bos, c.eos, c.addBOS)
		}
	}
}

// TestHFErrors gives files that are wrong in one field each: the error
// names the field.
func TestHFErrors(t *testing.T) {
	trailing := map[string]any{"type": "TemplateProcessing", "single": []any{
		map[string]any{"Sequence": map[string]any{"id": "A"}}, map[string]any{"SpecialToken": map[string]any{"id": "<|bos|>"}}}}
	cases := []struct {
		name   string
		file   []byte
		config string
		want   string
	}{
		{"not JSON", []byte("{"), "", "not valid JSON"},
		{"trailing data", []byte(`{"model": null} {}`), "", "data after the JSON value"},
		{"stray brace", []byte(`{"model": null}}`), "", "data after the JSON value"},
		{"stray bracket", []byte(`{"model": null}]`), "", "data after the JSON value"},
		{"no model", []byte(`{}`), "", "model: missing"},
		{"model type", marshal(t, set(smallHF(), "model.type", "WordPiece")), "", `model.type is "WordPiece"`},
		{"byte fallback", marshal(t, set(smallHF(), "model.byte_fallback", true)), "", "model.byte_fallback is true"},
		{"dropout", marshal(t, set(smallHF(), "model.dropout", 0.1)), "", "model.dropout is 0.1"},
		{"suffix", marshal(t, set(smallHF(), "model.end_of_word_suffix", "</w>")), "", `model.end_of_word_suffix is "</w>"`},
		{"merge array", marshal(t, set(smallHF(), "model.merges", []any{[]any{"a"}})), "", "holds 1 strings, want 2"},
		{"merge names no token", marshal(t, set(smallHF(), "model.merges", []any{"a c"})), "", `merge 0 "a c": "ac" is not a token`},
		{"vocab id range", marshal(t, set(smallHF(), "model.vocab.ab", 999)), "", `model.vocab["ab"] is 999`},
		{"vocab id gap", marshal(t, set(smallHF(), "added_tokens.0.id", 258)), "", "id 258"},
		{"added token lstrip", marshal(t, set(smallHF(), "added_tokens.0.lstrip", true)), "", `added_tokens[0] ("<|bos|>"): lstrip, rstrip and single_word`},
		{"added token id taken", marshal(t, set(smallHF(), "added_tokens.0.id", 256)), "", `added_tokens[0] ("<|bos|>"): id 256 is "ab" in model.vocab`},
		{"normalizer", marshal(t, set(smallHF(), "normalizer", map[string]any{"type": "NFKC"})), "", "normalizer is NFKC; llama-bpe's pre-tokenizer goes with null"},
		{"qwen without NFC", marshal(t, set(smallHF(), "pre_tokenizer.pretokenizers.0.pattern.Regex", qwen2Regex)), "", "normalizer is null; qwen2's pre-tokenizer goes with NFC"},
		{"regex", marshal(t, set(smallHF(), "pre_tokenizer.pretokenizers.0.pattern.Regex", `\s+`)), "", `pattern.Regex "\\s+" is not LLaMA-3's or Qwen2's`},
		{"split behaviour", marshal(t, set(smallHF(), "pre_tokenizer.pretokenizers.0.behavior", "Removed")), "", `behavior "Removed"`},
		{"byte level regex", marshal(t, set(smallHF(), "pre_tokenizer.pretokenizers.1.use_regex", true)), "", "pretokenizers[1]: ByteLevel must have"},
		{"pre-tokenizer", marshal(t, set(smallHF(), "pre_tokenizer", map[string]any{"type": "Whitespace"})), "", `pre_tokenizer: type "Whitespace"`},
		{"ignore_merges", marshal(t, set(smallHF(), "model.ignore_merges", false)), "", "model.ignore_merges is false; llama-bpe's"},
		{"decoder", marshal(t, set(smallHF(), "decoder", map[string]any{"type": "WordPiece"})), "", `decoder.type is "WordPiece"`},
		{"post-processor", marshal(t, set(smallHF(), "post_processor", map[string]any{"type": "BertProcessing"})), "", `post_processor.type is "BertProcessing"`},
		{"template with EOS", marshal(t, set(smallHF(), "post_processor", trailing)), "", "post_processor.single: want the sequence"},
		{"truncation", marshal(t, set(smallHF(), "truncation", map[string]any{"max_length": 8})), "", "truncation is set"},
		{"config bos", marshal(t, smallHF()), `{"bos_token": "<s>"}`, `tokenizer_config.json: bos_token: "<s>" is not a token`},
		{"template and config disagree", marshal(t, set(smallHF(), "post_processor", bosTemplate())), `{"bos_token": null}`,
			"post_processor: the template starts with token 257, but bos_token is -1"},
		{"config bos type", marshal(t, smallHF()), `{"bos_token": 3}`, `bos_token: want a string`},
		{"config add_bos without bos", marshal(t, smallHF()), `{"add_bos_token": true}`, "add_bos_token is true but there is no bos_token"},
		{"config add_eos", marshal(t, smallHF()), `{"add_eos_token": true}`, "add_eos_token is true"},
		{"config split_special_tokens", marshal(t, smallHF()), `{"split_special_tokens": true}`, "split_special_tokens is true"},
		{"config not JSON", marshal(t, smallHF()), `[`, "tokenizer_config.json: not valid JSON"},
	}
	for _, c := range cases {
		var cfg []byte
		if c.config != "" {
			cfg = []byte(c.config)
		}
		if _, err := ParseHFTokenizer(c.file, cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v\nwant %q", c.name, err, c.want)
		}
	}
}

// TestLoadHFTokenizer checks the directory and file forms and that errors
// name the file at fault.
func TestLoadHFTokenizer(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	file := write("tokenizer.json", marshal(t, smallHF()))
	write("tokenizer_config.json", []byte(`{"bos_token": "<|bos|>"}`))
	for _, p := range []string{dir, file} {
		tok, err := LoadHFTokenizer(p)
		if err != nil {
			t.Fatal(err)
		}
		if tok.BOS() != 257 || !tok.AddBOS() {
			t.Errorf("%s: BOS %d, AddBOS %v; want 257, true (tokenizer_config.json beside it)", p, tok.BOS(), tok.AddBOS())
		}
	}
	write("tokenizer_config.json", []byte(`{"bos_token": 1}`))
	if _, err := LoadHFTokenizer(file); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "tokenizer_config.json")+": bos_token") {
		t.Errorf("bad config: %v", err)
	}
	bad := write("bad.json", marshal(t, set(smallHF(), "model.type", "Unigram")))
	if _, err := LoadHFTokenizer(bad); err == nil || !strings.Contains(err.Error(), bad+`: model.type is "Unigram"`) {
		t.Errorf("bad file: %v", err)
	}
	if _, err := LoadHFTokenizer(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), marshal(t, smallHF()), 0o644); err != nil {
		t.Fatal(err)
	}
	sp := filepath.Join(dir, "sp.model")
	if err := os.WriteFile(sp, spModel(smallPieces(), bpeTrainer, llamaNormalizer), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "tok.bin")
	if err := os.WriteFile(bin, llama2cFile(maxLen(smallVocab()), smallVocab()), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{dir: "*tokenizer.BPE", sp: "*tokenizer.SentencePiece", bin: "*tokenizer.Llama2C"} {
		tok, err := LoadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if got := fmt.Sprintf("%T", tok); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	// A directory's tokenizer.model wins over its tokenizer.json.
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.model"), spModel(smallPieces(), bpeTrainer, llamaNormalizer), 0o644); err != nil {
		t.Fatal(err)
	}
	if tok, err := LoadFile(dir); err != nil || fmt.Sprintf("%T", tok) != "*tokenizer.SentencePiece" {
		t.Errorf("a directory with tokenizer.model and tokenizer.json: %T, %v", tok, err)
	}
	if _, err := LoadFile(t.TempDir()); err == nil || !strings.Contains(err.Error(), "a directory without tokenizer.model, tokenizer.bin or tokenizer.json") {
		t.Errorf("an empty directory: %v", err)
	}
	if tok, err := LoadFile(filepath.Join(dir, "x.txt")); err == nil || tok != nil || !strings.Contains(err.Error(), "not a vocabulary file by its name") {
		t.Errorf("x.txt: %v, %v", tok, err)
	}
	if tok, err := LoadFile(filepath.Join(dir, "none.model")); err == nil || tok != nil {
		t.Errorf("a missing file gave %v, %v", tok, err)
	}
}
