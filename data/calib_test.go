package data_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	. "github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/internal/memtest"
)

// byteEncode stands in for a tokenizer: BOS (1) then one id per byte.
func byteEncode(s string) []int {
	out := make([]int, 0, len(s)+1)
	out = append(out, 1)
	for i := 0; i < len(s); i++ {
		out = append(out, int(s[i])+3)
	}
	return out
}

func TestCalibrateContiguous(t *testing.T) {
	p := writeTemp(t, "c.txt", []byte("abcdefghijk")) // 12 tokens with BOS
	got, prov, err := Calibrate("", CalibSpec{Source: p, NSamples: 3, SeqLen: 4, Seed: 9}, byteEncode)
	if err != nil {
		t.Fatal(err)
	}
	toks := byteEncode("abcdefghijk")
	want := [][]int{toks[0:4], toks[4:8], toks[8:12]}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("windows %v, want %v", got, want)
	}
	wantProv := Provenance{Mode: ModeContiguous, Source: p, SourceSHA256: prov.SourceSHA256, NSamples: 3, SeqLen: 4, Tokens: 12,
		Files: []FileRef{{Path: p, SHA256: prov.SourceSHA256, Size: 11}}}
	if !reflect.DeepEqual(prov, wantProv) || len(prov.SourceSHA256) != 64 {
		t.Errorf("provenance %+v, want %+v", prov, wantProv)
	}
	// Windows must not alias each other or the token stream.
	got[0][1] = -1
	if got[1][0] == -1 {
		t.Error("windows share memory")
	}

	_, _, err = Calibrate("", CalibSpec{Source: p, NSamples: 4, SeqLen: 4}, byteEncode)
	if err == nil || !strings.Contains(err.Error(), "12 tokens give only 3 non-overlapping windows of 4, need 4") {
		t.Errorf("too short: got %v", err)
	}
}

func TestCalibrateRandom(t *testing.T) {
	text := "the quick brown fox jumps over the lazy dog"
	p := writeTemp(t, "r.txt", []byte(text))
	toks := byteEncode(text) // 44 tokens
	const L, seed = 10, 42
	got, prov, err := Calibrate("", CalibSpec{Source: p, Mode: ModeRandom, NSamples: 5, SeqLen: L, Seed: seed}, byteEncode)
	if err != nil {
		t.Fatal(err)
	}
	// Starts = SplitMix64(42) draws mod (44 − 10 + 1), computed in python3
	// from the EVALUATION.md §2.2 recurrence.
	for k, start := range []int{33, 26, 28, 9, 20} {
		if !slices.Equal(got[k], toks[start:start+L]) {
			t.Errorf("window %d = %v, want tokens from %d", k, got[k], start)
		}
	}
	if prov.Mode != ModeRandom || prov.Seed != seed || prov.Tokens != len(toks) || len(got) != 5 {
		t.Errorf("provenance %+v, %d windows", prov, len(got))
	}
	// A window as long as the corpus has the single start 0.
	got, _, err = Calibrate("", CalibSpec{Source: p, Mode: ModeRandom, NSamples: 2, SeqLen: len(toks)}, byteEncode)
	if err != nil || !slices.Equal(got[1], toks) {
		t.Errorf("full-length window: %v, %v", got, err)
	}
	if _, _, err := Calibrate("", CalibSpec{Source: p, Mode: ModeRandom, SeqLen: len(toks) + 1}, byteEncode); err == nil || !strings.Contains(err.Error(), "shorter than one window") {
		t.Errorf("too short: got %v", err)
	}
}

func TestCalibrateSpecErrors(t *testing.T) {
	p := writeTemp(t, "c.txt", []byte("abc"))
	tests := []struct {
		spec CalibSpec
		enc  func(string) []int
		want string
	}{
		{CalibSpec{Source: p, Mode: "shuffled", SeqLen: 2}, byteEncode, `mode "shuffled"`},
		{CalibSpec{Source: p, SeqLen: 0}, byteEncode, "seqlen 0"},
		{CalibSpec{Source: p, NSamples: -1, SeqLen: 2}, byteEncode, "nsamples -1"},
		{CalibSpec{Source: p, SeqLen: 2}, nil, "encode is nil"},
		{CalibSpec{Mode: ModeC4, SeqLen: 2}, byteEncode, "needs the C4 shard"},
	}
	for _, tc := range tests {
		if _, _, err := Calibrate("", tc.spec, tc.enc); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.spec, err, tc.want)
		}
	}
}

func TestCalibrateRefusesTestSplit(t *testing.T) {
	dir := datatest.Dir(t)
	for _, src := range []string{CorpusWikiText2, CorpusWikiText2Raw, filepath.Join(dir, "wikitext-2/test.txt")} {
		_, _, err := Calibrate(dir, CalibSpec{Source: src, SeqLen: 16, NSamples: 1}, byteEncode)
		if err == nil || !strings.Contains(err.Error(), "evaluation split") {
			t.Errorf("%s: got %v", src, err)
		}
	}
}

// TestCalibrateWikiText2Valid runs the default source with a byte-level
// encoder: 1,121,681 bytes + BOS give 1,095 windows of 1,024.
func TestCalibrateWikiText2Valid(t *testing.T) {
	dir := datatest.Dir(t)
	got, prov, err := Calibrate(dir, CalibSpec{SeqLen: 1024}, byteEncode)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := Lookup("wikitext-2/valid.txt")
	if len(got) != DefaultNSamples || prov.Tokens != 1121682 || prov.SourceSHA256 != e.SHA256 || prov.Source != filepath.Join(dir, e.Rel) {
		t.Errorf("%d windows, provenance %+v", len(got), prov)
	}
	if got[0][0] != 1 || got[1][0] == 1 {
		t.Error("only window 0 should start with BOS")
	}
	_, _, err = Calibrate(dir, CalibSpec{SeqLen: 16384}, byteEncode)
	if err == nil || !strings.Contains(err.Error(), "only 68 non-overlapping windows of 16384, need 128") {
		t.Errorf("16384: got %v", err)
	}
}

// c4Docs are the documents of the C4 sampler test; TestCalibrateC4's golden
// picks were computed from the same definition in python3.
func c4Docs() []string {
	lens := []int{3, 12, 5, 30, 7, 9, 2, 15, 8, 40, 1, 6}
	docs := make([]string, len(lens))
	for d, n := range lens {
		b := make([]byte, n)
		for k := range b {
			b[k] = byte('a' + (d+k)%26)
		}
		docs[d] = string(b)
	}
	return docs
}

func writeC4(t *testing.T, docs []string, gzipped bool) string {
	t.Helper()
	var sb strings.Builder
	for _, d := range docs {
		b, err := json.Marshal(map[string]string{"text": d, "url": "https://example.org"})
		if err != nil {
			t.Fatal(err)
		}
		sb.Write(b)
		sb.WriteByte('\n')
	}
	b := []byte(sb.String())
	name := "c4.json"
	if gzipped {
		b, name = gz(t, b), "c4.json.gz"
	}
	return writeTemp(t, name, b)
}

func TestCalibrateC4(t *testing.T) {
	// Produced with CPython 3.11.7 running wanda's get_c4 loop over c4Docs
	// with enc = lambda s: [1] + [b + 3 for b in s.encode()]:
	//   random.seed(seed); for each sample: draw i = randint(0, len−1) until
	//   len(enc(docs[i])) > L; j = randint(0, len(enc) − L − 1).
	type pick struct{ doc, start int }
	tests := []struct {
		seed  uint64
		L, n  int
		picks []pick
		draws int
	}{
		{0, 8, 6, []pick{{8, 0}, {7, 5}, {9, 13}, {8, 0}, {1, 4}, {8, 0}}, 15},
		{7, 14, 4, []pick{{9, 1}, {3, 1}, {3, 2}, {9, 3}}, 21},
	}
	docs := c4Docs()
	for _, gzipped := range []bool{false, true} {
		path := writeC4(t, docs, gzipped)
		for _, tc := range tests {
			name := fmt.Sprintf("seed %d gzip %v", tc.seed, gzipped)
			got, prov, err := Calibrate("", CalibSpec{Source: path, Mode: ModeC4, NSamples: tc.n, SeqLen: tc.L, Seed: tc.seed}, byteEncode)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for k, p := range tc.picks {
				if want := byteEncode(docs[p.doc])[p.start : p.start+tc.L]; !slices.Equal(got[k], want) {
					t.Errorf("%s: sample %d = %v, want doc %d from %d", name, k, got[k], p.doc, p.start)
				}
			}
			sum, _, err := HashFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if prov.Draws != tc.draws || prov.Documents != len(docs) || prov.SourceSHA256 != sum || prov.Source != path {
				t.Errorf("%s: provenance %+v, want %d draws and sha %s", name, prov, tc.draws, sum)
			}
		}
	}
}

func TestCalibrateC4Shards(t *testing.T) {
	docs := c4Docs()
	whole := writeC4(t, docs, false)
	a, b := writeC4(t, docs[:5], true), writeC4(t, docs[5:], false)
	spec := CalibSpec{Source: whole, Mode: ModeC4, NSamples: 6, SeqLen: 8}
	want, _, err := Calibrate("", spec, byteEncode)
	if err != nil {
		t.Fatal(err)
	}
	spec.Source = a + ", " + b
	got, prov, err := Calibrate("", spec, byteEncode)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("split shards give %v, the whole file %v", got, want)
	}
	if prov.Source != a+","+b || strings.Count(prov.SourceSHA256, ",") != 1 {
		t.Errorf("provenance %+v", prov)
	}
}

func TestCalibrateC4Errors(t *testing.T) {
	short := writeC4(t, []string{"ab", "c"}, false)
	_, _, err := Calibrate("", CalibSpec{Source: short, Mode: ModeC4, SeqLen: 3}, byteEncode)
	if err == nil || !strings.Contains(err.Error(), "none of the 2 documents") {
		t.Errorf("all short: got %v", err)
	}
	empty := writeTemp(t, "empty.json", nil)
	if _, _, err := Calibrate("", CalibSpec{Source: empty, Mode: ModeC4, SeqLen: 3}, byteEncode); err == nil || !strings.Contains(err.Error(), "no documents") {
		t.Errorf("empty shard: got %v", err)
	}
	bad := writeTemp(t, "bad.json", []byte("{\"text\":\"a\"}\nnot json\n"))
	if _, _, err := Calibrate("", CalibSpec{Source: bad, Mode: ModeC4, SeqLen: 3}, byteEncode); err == nil || !strings.Contains(err.Error(), bad+": line 2") {
		t.Errorf("bad shard: got %v", err)
	}
	missing := filepath.Join(t.TempDir(), "nope.json.gz")
	if _, _, err := Calibrate("", CalibSpec{Source: missing, Mode: ModeC4, SeqLen: 3}, byteEncode); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing shard: got %v", err)
	}
}

// TestCalibrateSizesBeforeReading: sizes from flags are refused before the
// source is read or anything is allocated (the source here is endless).
func TestCalibrateSizesBeforeReading(t *testing.T) {
	tests := []struct {
		name string
		spec CalibSpec
		want string
	}{
		{"contiguous", CalibSpec{Source: "/dev/zero", NSamples: 1_000_000_000, SeqLen: 64},
			"calibration nsamples 1000000000 × seqlen 64: more than 8388608 tokens, the limit for one calibration"},
		{"random", CalibSpec{Source: "/dev/zero", Mode: ModeRandom, NSamples: 200_000, SeqLen: 64},
			"nsamples 200000 × seqlen 64: more than 8388608 tokens"},
		{"c4", CalibSpec{Source: "/dev/zero", Mode: ModeC4, NSamples: 1, SeqLen: 1 << 40},
			"nsamples 1 × seqlen 1099511627776: more than 8388608 tokens"},
		{"overflowing product", CalibSpec{Source: "/dev/zero", NSamples: 1 << 62, SeqLen: 1 << 62},
			"more than 8388608 tokens"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			n := memtest.Allocated(func() { _, _, err = Calibrate("", tc.spec, byteEncode) })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
			if n > 1<<20 {
				t.Errorf("allocated %d MiB before refusing", n>>20)
			}
		})
	}
}
