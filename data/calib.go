package data

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// Calibration modes (EVALUATION.md §2.2).
const (
	ModeContiguous = "contiguous"
	ModeRandom     = "random"
	ModeC4         = "c4"
)

// DefaultNSamples is the papers' 128 calibration samples.
const DefaultNSamples = 128

// CalibSpec chooses calibration windows.
type CalibSpec struct {
	// Source is a corpus name or text file for contiguous and random (default
	// CorpusWikiText2Valid), and one or more comma-separated C4 json or
	// json.gz shards for c4 (no default), read in the order given.
	Source string
	// Mode is ModeContiguous (default), ModeRandom or ModeC4.
	Mode string
	// NSamples defaults to DefaultNSamples.
	NSamples int
	// SeqLen is the window length; the caller passes the model context.
	SeqLen int
	// Seed seeds SplitMix64 (random) or CPython's random.seed (c4); the
	// papers use 0. Contiguous mode ignores it.
	Seed uint64
}

// Provenance records where calibration windows came from, to be stored with
// every result.
type Provenance struct {
	Mode         string `json:"mode"`
	Source       string `json:"source"`        // path(s), comma-separated for c4
	SourceSHA256 string `json:"source_sha256"` // per file, comma-separated for c4
	Seed         uint64 `json:"seed"`          // 0 for contiguous, which draws nothing
	NSamples     int    `json:"nsamples"`
	SeqLen       int    `json:"seqlen"`
	// Tokens is the length of the tokenised corpus (contiguous, random) or
	// the total length of the distinct documents tokenised (c4).
	Tokens int `json:"tokens"`
	// Documents and Draws (c4 only): documents in the shards, and document
	// draws made including rejections.
	Documents int `json:"documents,omitempty"`
	Draws     int `json:"draws,omitempty"`
}

func (s CalibSpec) withDefaults() (CalibSpec, error) {
	if s.Mode == "" {
		s.Mode = ModeContiguous
	}
	if s.NSamples == 0 {
		s.NSamples = DefaultNSamples
	}
	switch s.Mode {
	case ModeContiguous, ModeRandom:
		if s.Source == "" {
			s.Source = CorpusWikiText2Valid
		}
	case ModeC4:
		if s.Source == "" {
			return s, fmt.Errorf("calibration mode c4 needs the C4 shard path(s) as source, e.g. c4-train.00000-of-01024.json.gz")
		}
	default:
		return s, fmt.Errorf("calibration mode %q: expected %s, %s or %s", s.Mode, ModeContiguous, ModeRandom, ModeC4)
	}
	if s.NSamples < 0 {
		return s, fmt.Errorf("calibration nsamples %d: must be positive", s.NSamples)
	}
	if s.SeqLen <= 0 {
		return s, fmt.Errorf("calibration seqlen %d: must be positive (the model context)", s.SeqLen)
	}
	return s, nil
}

// Calibrate returns spec.NSamples windows of spec.SeqLen token ids. encode
// must tokenise the way the model was trained and evaluated: with BOS and
// the SentencePiece dummy prefix. The windows are fresh slices the caller may
// modify.
//
//   - contiguous: the first NSamples non-overlapping windows of the whole
//     tokenised source.
//   - random: window k starts at SplitMix64(Seed) draw k mod (ntok−SeqLen+1);
//     windows may overlap.
//   - c4: the reference rejection sampler over C4 documents with CPython's
//     generator (EVALUATION.md §2.1).
//
// Evaluation splits (registered files marked EvalOnly) are refused.
func Calibrate(dir string, spec CalibSpec, encode func(text string) []int) ([][]int, Provenance, error) {
	spec, err := spec.withDefaults()
	if err != nil {
		return nil, Provenance{}, err
	}
	if encode == nil {
		return nil, Provenance{}, fmt.Errorf("calibration: no tokenizer (encode is nil)")
	}
	prov := Provenance{Mode: spec.Mode, NSamples: spec.NSamples, SeqLen: spec.SeqLen, Seed: spec.Seed}
	if spec.Mode == ModeC4 {
		return calibrateC4(dir, spec, encode, prov)
	}
	t, err := ReadText(dir, spec.Source)
	if err != nil {
		return nil, Provenance{}, fmt.Errorf("calibration: %w", err)
	}
	if t.Entry != nil && t.Entry.EvalOnly {
		return nil, Provenance{}, fmt.Errorf("calibration source %s is an evaluation split; calibrate on %s or other data", t.Path, CorpusWikiText2Valid)
	}
	prov.Source, prov.SourceSHA256 = t.Path, t.SHA256
	toks := encode(t.Text)
	prov.Tokens = len(toks)
	n, L := spec.NSamples, spec.SeqLen
	out := make([][]int, n)
	switch spec.Mode {
	case ModeContiguous:
		prov.Seed = 0
		if fit := len(toks) / L; fit < n {
			return nil, Provenance{}, fmt.Errorf("calibration source %s: %d tokens give only %d non-overlapping windows of %d, need %d (use fewer samples or mode random)", t.Path, len(toks), fit, L, n)
		}
		for k := range out {
			out[k] = append([]int(nil), toks[k*L:(k+1)*L]...)
		}
	case ModeRandom:
		if len(toks) < L {
			return nil, Provenance{}, fmt.Errorf("calibration source %s: %d tokens, shorter than one window of %d", t.Path, len(toks), L)
		}
		starts := uint64(len(toks) - L + 1)
		sm := NewSplitMix64(spec.Seed)
		for k := range out {
			s := int(sm.Next() % starts)
			out[k] = append([]int(nil), toks[s:s+L]...)
		}
	}
	return out, prov, nil
}

// readC4Sources reads comma-separated shards, hashing each while reading.
func readC4Sources(dir, source string) (docs []string, paths, sums []string, err error) {
	for _, name := range strings.Split(source, ",") {
		name = strings.TrimSpace(name)
		path, err := Find(dir, name)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("c4 calibration: %w", err)
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("c4 calibration: %w", err)
		}
		h := sha256.New()
		d, err := ReadC4(io.TeeReader(f, h), path)
		if err == nil {
			// The tee hashes only what ReadC4 consumed; finish the file.
			_, err = io.Copy(h, f)
		}
		f.Close()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("c4 calibration: %w", err)
		}
		docs = append(docs, d...)
		paths = append(paths, path)
		sums = append(sums, hex.EncodeToString(h.Sum(nil)))
	}
	return docs, paths, sums, nil
}

func calibrateC4(dir string, spec CalibSpec, encode func(string) []int, prov Provenance) ([][]int, Provenance, error) {
	docs, paths, sums, err := readC4Sources(dir, spec.Source)
	if err != nil {
		return nil, Provenance{}, err
	}
	prov.Source, prov.SourceSHA256 = strings.Join(paths, ","), strings.Join(sums, ",")
	prov.Documents = len(docs)
	if len(docs) == 0 {
		return nil, Provenance{}, fmt.Errorf("c4 calibration: no documents in %s", prov.Source)
	}
	L := spec.SeqLen
	rng := NewPyRandom(spec.Seed)
	// Lengths of documents already tokenised: a redraw of a short one is
	// rejected without tokenising it again, and once every document is
	// known short the loop would never end.
	short := map[int]bool{}
	seen := map[int]bool{}
	out := make([][]int, spec.NSamples)
	for k := range out {
		var toks []int
		for {
			i := int(rng.below(uint64(len(docs))))
			prov.Draws++
			if short[i] {
				continue
			}
			toks = encode(docs[i])
			if !seen[i] {
				seen[i] = true
				prov.Tokens += len(toks)
			}
			// Strictly longer, as in the reference.
			if len(toks) > L {
				break
			}
			short[i] = true
			if len(short) == len(docs) {
				return nil, Provenance{}, fmt.Errorf("c4 calibration: none of the %d documents in %s has more than %d tokens", len(docs), prov.Source, L)
			}
		}
		j := int(rng.below(uint64(len(toks) - L)))
		out[k] = append([]int(nil), toks[j:j+L]...)
	}
	return out, prov, nil
}
