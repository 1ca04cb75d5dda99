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
	// Source is a corpus name or the path of a text file for contiguous and
	// random (default CorpusWikiText2Valid; see ReadText), and the paths of
	// one or more comma-separated C4 json or json.gz shards for c4 (no
	// default), read in the order given.
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
	Source       string `json:"source"`        // absolute path(s), comma-separated for c4
	SourceSHA256 string `json:"source_sha256"` // per file, comma-separated for c4
	// Files are the files read, in order, with their sizes.
	Files    []FileRef `json:"files"`
	Seed     uint64    `json:"seed"` // 0 for contiguous, which draws nothing
	NSamples int       `json:"nsamples"`
	SeqLen   int       `json:"seqlen"`
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
	// Divided, not multiplied, so that huge values cannot overflow.
	if s.NSamples > MaxCalibTokens/s.SeqLen {
		return s, fmt.Errorf("calibration nsamples %d × seqlen %d: more than %d tokens, the limit for one calibration",
			s.NSamples, s.SeqLen, MaxCalibTokens)
	}
	return s, nil
}

// setFiles records the files read.
func (p *Provenance) setFiles(refs ...FileRef) {
	paths := make([]string, len(refs))
	sums := make([]string, len(refs))
	for i, r := range refs {
		paths[i], sums[i] = r.Path, r.SHA256
	}
	p.Files = refs
	p.Source, p.SourceSHA256 = strings.Join(paths, ","), strings.Join(sums, ",")
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
// NSamples × SeqLen beyond MaxCalibTokens is refused before the source is
// read, and what the source can give before the windows are allocated.
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
		return calibrateC4(spec, encode, prov)
	}
	t, err := ReadText(dir, spec.Source)
	if err != nil {
		return nil, Provenance{}, fmt.Errorf("calibration: %w", err)
	}
	if t.Entry != nil && t.Entry.EvalOnly {
		return nil, Provenance{}, fmt.Errorf("calibration source %s is an evaluation split; calibrate on %s or other data", t.Path, CorpusWikiText2Valid)
	}
	prov.setFiles(t.FileRef)
	toks := encode(t.Text)
	prov.Tokens = len(toks)
	n, L := spec.NSamples, spec.SeqLen
	// What the corpus can give is checked before the windows are allocated.
	switch {
	case spec.Mode == ModeContiguous && len(toks)/L < n:
		return nil, Provenance{}, fmt.Errorf("calibration source %s: %d tokens give only %d non-overlapping windows of %d, need %d (use fewer samples or mode random)", t.Path, len(toks), len(toks)/L, L, n)
	case len(toks) < L:
		return nil, Provenance{}, fmt.Errorf("calibration source %s: %d tokens, shorter than one window of %d", t.Path, len(toks), L)
	}
	out := windows(n, L)
	switch spec.Mode {
	case ModeContiguous:
		prov.Seed = 0
		for k := range out {
			copy(out[k], toks[k*L:])
		}
	case ModeRandom:
		starts := uint64(len(toks) - L + 1)
		sm := NewSplitMix64(spec.Seed)
		for k := range out {
			s := int(sm.Next() % starts)
			copy(out[k], toks[s:])
		}
	}
	return out, prov, nil
}

// windows allocates n windows of L tokens in one block; each has its own
// capacity, so appending to one cannot overwrite the next.
func windows(n, L int) [][]int {
	block := make([]int, n*L)
	out := make([][]int, n)
	for k := range out {
		out[k] = block[k*L : (k+1)*L : (k+1)*L]
	}
	return out
}

// readC4Sources reads comma-separated shards, each a path (C4 shards have
// no short names), hashing each while reading. The shards share the
// MaxC4Bytes budget; a regular file larger than what is left is refused
// before it is read.
func readC4Sources(source string) (docs []string, refs []FileRef, err error) {
	budget := int64(MaxC4Bytes)
	for _, name := range strings.Split(source, ",") {
		d, ref, err := readC4Shard(strings.TrimSpace(name), &budget)
		if err != nil {
			return nil, nil, fmt.Errorf("c4 calibration: %w", err)
		}
		docs = append(docs, d...)
		refs = append(refs, ref)
	}
	return docs, refs, nil
}

func readC4Shard(name string, budget *int64) ([]string, FileRef, error) {
	path, err := ResolvePath(name)
	if err != nil {
		return nil, FileRef{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, FileRef{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, FileRef{}, err
	}
	switch {
	case st.IsDir():
		return nil, FileRef{}, fmt.Errorf("%s: is a directory, expected a C4 shard (.json or .json.gz)", path)
	case st.Mode().IsRegular() && st.Size() > *budget:
		return nil, FileRef{}, tooLarge(path, "C4 calibration data (all shards together)", MaxC4Bytes, false)
	}
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(f, h)}
	d, err := readC4(cr, path, budget)
	if err != nil {
		return nil, FileRef{}, err
	}
	// readC4 reads to the end of the file on success, so the hash covers it.
	ref := FileRef{Path: path, SHA256: hex.EncodeToString(h.Sum(nil)), Size: cr.n}
	rememberIfUnchanged(path, st, ref.SHA256)
	return d, ref, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func calibrateC4(spec CalibSpec, encode func(string) []int, prov Provenance) ([][]int, Provenance, error) {
	docs, refs, err := readC4Sources(spec.Source)
	if err != nil {
		return nil, Provenance{}, err
	}
	prov.setFiles(refs...)
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
	out := windows(spec.NSamples, L)
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
		copy(out[k], toks[j:])
	}
	return out, prov, nil
}
