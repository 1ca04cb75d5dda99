package tokenizer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// bpeToken is one token a test adds after the 256 bytes.
type bpeToken struct {
	text string // byte-level spelling, or the raw text of an added token
	typ  int32
}

// byteVocab is a vocabulary of the 256 bytes (ids 0..255 in byte order),
// then extra, with merges.
func byteVocab(pre string, extra []bpeToken, merges ...string) BPEVocab {
	v := BPEVocab{Pre: pre, BOS: -1, EOS: -1, Merges: merges}
	for b := range 256 {
		v.Tokens = append(v.Tokens, byteChars[b])
		v.Types = append(v.Types, typeNormal)
	}
	for _, e := range extra {
		v.Tokens = append(v.Tokens, e.text)
		v.Types = append(v.Types, e.typ)
	}
	return v
}

func normal(texts ...string) []bpeToken {
	var out []bpeToken
	for _, s := range texts {
		out = append(out, bpeToken{s, typeNormal})
	}
	return out
}

func mustBPE(t testing.TB, v BPEVocab) *BPE {
	t.Helper()
	tok, err := NewBPE(v)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// spell returns the pieces of ids as the vocabulary spells them.
func spell(tok *BPE, ids []int) []string {
	out := []string{}
	for _, id := range ids {
		out = append(out, tok.Piece(id))
	}
	return out
}

func TestBPEMergeSemantics(t *testing.T) {
	cases := []struct {
		name   string
		pre    string
		extra  []bpeToken
		merges []string
		text   string
		want   []string
	}{
		// A merge is a pair of tokens: "abc" is a token, but only the
		// pair (a, bc) makes it, and b c outranks a b.
		{"pair not text", PreQwen2, normal("ab", "bc", "abc"), []string{"b c", "a b", "a bc"}, "abc", []string{"abc"}},
		{"no merge for the pair", PreQwen2, normal("ab", "bc", "abc"), []string{"a b", "b c", "a bc"}, "abc", []string{"ab", "c"}},
		{"leftmost on ties", PreQwen2, normal("aa"), []string{"a a"}, "aaa", []string{"aa", "a"}},
		{"lowest rank first", PreQwen2, normal("aa", "ab"), []string{"a b", "a a"}, "aab", []string{"a", "ab"}},
		// ignore_merges (LLaMA-3): a pre-token that is a token is emitted
		// whole even when the merges cannot build it.
		{"ignore merges", PreLlama3, normal("ab", "abc"), []string{"a b"}, "abc", []string{"abc"}},
		{"merges without ignore_merges", PreQwen2, normal("ab", "abc"), []string{"a b"}, "abc", []string{"ab", "c"}},
		// Merges never cross pre-tokens; a space is Ġ.
		{"pre-token boundary", PreQwen2, normal("Ġb", "aĠ"), []string{"a Ġ", "Ġ b"}, "a b", []string{"a", "Ġb"}},
		// Qwen normalises to NFC first: e + U+0301 is é, bytes C3 A9.
		{"NFC", PreQwen2, normal("Ã©"), []string{"Ã ©"}, "e\u0301", []string{"Ã©"}},
		{"no NFC for LLaMA-3", PreLlama3, normal("Ã©"), []string{"Ã ©"}, "e\u0301", []string{"e", "Ì", "ģ"}},
	}
	for _, c := range cases {
		tok := mustBPE(t, byteVocab(c.pre, c.extra, c.merges...))
		if got := spell(tok, tok.Encode(c.text, false, false)); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q encodes to %q, want %q", c.name, c.text, got, c.want)
		}
	}
}

func TestBPEAddedTokens(t *testing.T) {
	v := byteVocab(PreLlama3, []bpeToken{{"<|x|>", typeControl}, {"<t>", typeUserDefined}, {"<tt>", typeUserDefined}, {"<|s|>", typeControl}})
	v.BOS, v.EOS, v.AddBOS = 259, 256, true
	tok := mustBPE(t, v)
	ids := tok.Encode("a<|x|>b<t><tt> <|x", true, true)
	want := []int{259, 'a', 256, 'b', 257, 258, ' ', '<', '|', 'x', 256}
	if !slices.Equal(ids, want) {
		t.Fatalf("got %v, want %v", ids, want)
	}
	var got []string
	for _, id := range ids {
		got = append(got, tok.Decode(-1, id))
	}
	if want := []string{"", "a", "", "b", "<t>", "<tt>", " ", "<", "|", "x", ""}; !slices.Equal(got, want) {
		t.Errorf("decodes to %q, want %q", got, want)
	}
	if !tok.AddBOS() || tok.BOS() != 259 || tok.EOS() != 256 || tok.VocabSize() != 260 {
		t.Errorf("AddBOS, BOS, EOS, VocabSize = %v, %d, %d, %d", tok.AddBOS(), tok.BOS(), tok.EOS(), tok.VocabSize())
	}
	if d := Display(tok, 256); d != "<|x|>" {
		t.Errorf("Display of a control token = %q", d)
	}
	if p := tok.Piece(' '); p != "Ġ" {
		t.Errorf("Piece(' ') = %q", p)
	}
}

func TestNewBPEErrors(t *testing.T) {
	good := func() BPEVocab { return byteVocab(PreLlama3, normal("ab"), "a b") }
	cases := []struct {
		name string
		edit func(*BPEVocab)
		want string
	}{
		{"unknown pre", func(v *BPEVocab) { v.Pre = "gpt-2" }, `pre-tokenizer "gpt-2" is not implemented`},
		{"no tokens", func(v *BPEVocab) { v.Tokens, v.Types = nil, nil }, "no tokens"},
		{"type count", func(v *BPEVocab) { v.Types = v.Types[1:] }, "256 token types"},
		{"bos range", func(v *BPEVocab) { v.BOS = 257 }, "bos id 257 outside the 257 tokens"},
		{"add bos without bos", func(v *BPEVocab) { v.AddBOS = true }, "no BOS token"},
		{"bad type", func(v *BPEVocab) { v.Types[256] = 7 }, "type 7, want 1..6"},
		{"not byte-level", func(v *BPEVocab) { v.Tokens[256] = "a b" }, `token 256 "a b": character ' ' at byte 1 is not in the byte-level alphabet`},
		{"duplicate", func(v *BPEVocab) { v.Tokens[256] = "a" }, `token 256 "a" duplicates token 97`},
		{"missing byte", func(v *BPEVocab) { v.Types[10] = typeControl }, "byte 0x0A"},
		{"empty added", func(v *BPEVocab) { v.Tokens[256], v.Types[256] = "", typeControl }, "token 256 (type 3) is empty"},
		{"merge form", func(v *BPEVocab) { v.Merges = []string{"ab"} }, `merge 0 "ab": want two tokens`},
		{"merge result", func(v *BPEVocab) { v.Merges = []string{"b a"} }, `merge 0 "b a": "ba" is not a token`},
		{"merge repeated", func(v *BPEVocab) { v.Merges = []string{"a b", "a b"} }, `merge 1 "a b" repeats merge 0`},
	}
	for _, c := range cases {
		v := good()
		c.edit(&v)
		if _, err := NewBPE(v); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := NewBPE(good()); err != nil {
		t.Fatal(err)
	}
}

// naiveBPE is Hugging Face's encode with a quadratic merge loop: added
// tokens, normalisation, pre-tokens, ignore_merges, then repeatedly the
// adjacent pair of lowest rank, leftmost on ties.
func naiveBPE(tok *BPE, text string) []int {
	var out []int
	tok.added.split(text, func(s string) {
		if tok.pre.nfc {
			s = norm.NFC.String(s)
		}
		tok.pre.split.split(s, func(w string) {
			if id, ok := tok.vocab[w]; ok && tok.pre.ignoreMerges {
				out = append(out, id)
				return
			}
			var ids []int
			for i := 0; i < len(w); i++ {
				ids = append(ids, int(tok.byteID[w[i]]))
			}
			for {
				best, at := int32(-1), -1
				for i := 0; i+1 < len(ids); i++ {
					r, ok := tok.ranks[uint64(ids[i])<<32|uint64(ids[i+1])]
					if ok && (at < 0 || r < best) {
						best, at = r, i
					}
				}
				if at < 0 {
					break
				}
				ids[at] = int(tok.results[best])
				ids = slices.Delete(ids, at+1, at+2)
			}
			out = append(out, ids...)
		})
	}, func(id int) { out = append(out, id) })
	return out
}

// randomRanks builds a vocabulary of random merges over a few letters, so
// that many pairs compete, in both pre-tokenisers.
func randomRanks(rng *rand.Rand, pre string) BPEVocab {
	v := byteVocab(pre, nil)
	have := map[string]bool{}
	letters := []string{"a", "b", "c", "Ġ"}
	toks := slices.Clone(letters)
	for len(v.Merges) < 60 {
		l, r := toks[rng.IntN(len(toks))], toks[rng.IntN(len(toks))]
		if have[l+" "+r] || len(l+r) > 12 {
			continue
		}
		have[l+" "+r] = true
		v.Merges = append(v.Merges, l+" "+r)
		if !slices.Contains(v.Tokens, l+r) {
			v.Tokens = append(v.Tokens, l+r)
			v.Types = append(v.Types, typeNormal)
			toks = append(toks, l+r)
		}
	}
	return v
}

func TestBPEMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 40 {
		pre := []string{PreLlama3, PreQwen2}[i%2]
		tok := mustBPE(t, randomRanks(rng, pre))
		for range 50 {
			text := randomText(rng, []string{"a", "b", "c", " ", "a", "b", "ab", "\n"}, rng.IntN(40))
			if got, want := tok.Encode(text, false, false), naiveBPE(tok, text); !slices.Equal(got, want) {
				t.Fatalf("%s merges %q\ntext %q:\n got %v\nwant %v", pre, tok.v.Merges, text, got, want)
			}
		}
	}
}

// TestBPEVocabRoundTrip checks that BPEVocab gives back what NewBPE took and
// does not share its slices.
func TestBPEVocabRoundTrip(t *testing.T) {
	v := byteVocab(PreQwen2, []bpeToken{{"ab", typeNormal}, {"<|e|>", typeControl}}, "a b")
	v.EOS = 257
	tok := mustBPE(t, v)
	got := tok.BPEVocab()
	if fmt.Sprint(got) != fmt.Sprint(v) {
		t.Fatalf("BPEVocab() = %+v\nwant %+v", got, v)
	}
	got.Tokens[256] = "zz"
	if tok.Piece(256) != "ab" {
		t.Error("BPEVocab shares its slices with the tokenizer")
	}
}
