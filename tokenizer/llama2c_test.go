package tokenizer

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// smallVocab: ids 259.. are " ", "a", "b", "c", " a", "ab", " ab", "bc",
// "dd" (unmergeable by run.c's -1e10 floor), "d".
func smallVocab() []vocabRecord {
	return append(llama2cBase(),
		vocabRecord{" ", -100}, vocabRecord{"a", -100}, vocabRecord{"b", -100}, vocabRecord{"c", -100},
		vocabRecord{" a", -1}, vocabRecord{"ab", -2}, vocabRecord{" ab", -3}, vocabRecord{"bc", -2},
		vocabRecord{"dd", -1e10}, vocabRecord{"d", -100})
}

func TestLlama2CEncode(t *testing.T) {
	tok := mustLlama2C(t, smallVocab())
	for _, c := range []struct {
		text     string
		bos, eos bool
		want     []int
	}{
		{"", false, false, []int{}},
		{"", true, true, []int{1, 2}},
		// " a" (-1) beats "ab" (-2), then " ab" (-3).
		{"ab", true, false, []int{1, 265}},
		// " a" first; then "bc" (-2) beats " ab" (-3).
		{"abc", false, false, []int{263, 266}},
		// "ab" and "bc" tie at -2: the leftmost wins.
		{"cabc", false, false, []int{259, 262, 264, 262}},
		// "dd" scores -1e10, which run.c never merges.
		{"dd", false, false, []int{259, 268, 268}},
		// "é" is not an entry: its two bytes fall back to byte+3.
		{"é", false, true, []int{259, 0xC3 + 3, 0xA9 + 3, 2}},
		// A stray continuation byte is a code point of its own.
		{"\x80a", false, false, []int{259, 0x80 + 3, 260}},
	} {
		got := tok.Encode(c.text, c.bos, c.eos)
		if !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q, %v, %v) = %v, want %v", c.text, c.bos, c.eos, got, c.want)
		}
	}
}

func TestLlama2CDecode(t *testing.T) {
	tok := mustLlama2C(t, smallVocab())
	for _, c := range []struct {
		prev, id int
		want     string
	}{
		{0, 263, " a"},
		{1, 263, "a"}, // after BOS the leading space goes
		{1, 259, ""},
		{5, 3 + 'A', "A"},
		{1, 3 + 0xC3, "\xC3"},
		{0, 1, "\n<s>\n"},
		{0, -1, ""},
		{0, 999, ""},
	} {
		if got := tok.Decode(c.prev, c.id); got != c.want {
			t.Errorf("Decode(%d, %d) = %q, want %q", c.prev, c.id, got, c.want)
		}
	}
	if tok.Piece(263) != " a" || tok.Piece(-1) != "" || tok.Piece(1000) != "" {
		t.Errorf("Piece: got %q %q %q", tok.Piece(263), tok.Piece(-1), tok.Piece(1000))
	}
	if tok.VocabSize() != 269 || tok.BOS() != 1 || tok.EOS() != 2 {
		t.Errorf("VocabSize, BOS, EOS = %d, %d, %d", tok.VocabSize(), tok.BOS(), tok.EOS())
	}
}

func TestBytePiece(t *testing.T) {
	for _, c := range []struct {
		in   string
		want byte
		ok   bool
	}{
		{"<0x0A>", 0x0A, true}, {"<0xff>", 0xFF, true}, {"<0xG0>", 0, false},
		{"<0x0A", 0, false}, {"<0x0A>>", 0, false}, {"<1x0A>", 0, false},
	} {
		b, ok := bytePiece(c.in)
		if ok != c.ok || ok && b != c.want {
			t.Errorf("bytePiece(%q) = %#x, %v; want %#x, %v", c.in, b, ok, c.want, c.ok)
		}
	}
}

func TestParseLlama2CVocabSize(t *testing.T) {
	recs := smallVocab()
	data := llama2cFile(maxLen(recs), recs)
	for _, n := range []int{0, len(recs)} {
		tok, err := ParseLlama2C(data, n)
		if err != nil {
			t.Fatalf("vocabSize %d: %v", n, err)
		}
		if tok.VocabSize() != len(recs) {
			t.Errorf("vocabSize %d: got %d records, want %d", n, tok.VocabSize(), len(recs))
		}
	}
}

func TestParseLlama2CErrors(t *testing.T) {
	good := smallVocab()
	goodData := llama2cFile(maxLen(good), good)
	withRecord := func(i int, r vocabRecord) []byte {
		recs := slices.Clone(good)
		recs[i] = r
		return llama2cFile(maxLen(recs), recs)
	}
	for _, c := range []struct {
		name      string
		data      []byte
		vocabSize int
		want      string
	}{
		{"empty", nil, 0, "too short for the uint32 max_token_length"},
		{"negative size", goodData, -1, "negative"},
		{"short by records", goodData, len(good) + 1, "record 269 at byte 3724: truncated header (0 of 8 bytes); want 270 records"},
		{"truncated header", goodData[:len(goodData)-3], 0, "record 268 at byte 3715: truncated header (6 of 8 bytes)"},
		{"truncated text", goodData[:len(goodData)-1], len(good), "record 268 at byte 3715: length 1 but only 0 bytes remain; want 269 records"},
		{"trailing bytes", goodData, len(good) - 1, "9 bytes follow the 268 records requested"},
		{"longer than max", llama2cFile(3, good), 0, "record 0 at byte 4: length 5 exceeds max_token_length 3"},
		{"absurd length", append(goodData[:4:4], 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff), 0, "length 4294967295 exceeds max_token_length 6"},
		{"NaN score", withRecord(7, vocabRecord{"<0x04>", float32(math.NaN())}), 0, "record 7 at byte 100: score is NaN"},
		{"too few records", llama2cFile(6, good[:100]), 0, "100 records, want at least 259"},
		{"byte piece", withRecord(13, vocabRecord{"x", 0}), 0, `record 13 is "x", want "<0x0A>"`},
		{"no space", withRecord(259, vocabRecord{"z", 0}), 0, `no " " record`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseLlama2C(c.data, c.vocabSize)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestLoadLlama2CNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.bin")
	if err := os.WriteFile(path, []byte{1, 2}, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadLlama2C(path, 0)
	if err == nil || !strings.HasPrefix(err.Error(), path+": ") {
		t.Fatalf("error %v does not name %s", err, path)
	}
	if _, err := LoadLlama2C(filepath.Join(t.TempDir(), "missing.bin"), 0); err == nil {
		t.Fatal("missing file: no error")
	}
}
