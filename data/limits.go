package data

import (
	"errors"
	"fmt"
)

// Limits on what prunebench reads into memory. Each is far above what the
// shared files and the papers' settings need, and low enough that a hostile
// or mistaken input (an endless device, a compression bomb, a 10 GB file, a
// huge --nsamples) is refused before it exhausts memory. Errors name the
// limit in MiB or tokens.
const (
	// MaxTextBytes caps a text corpus (perplexity text, contiguous and
	// random calibration text). Tokenising holds about 48 bytes per byte of
	// text at its peak today (a 16 MiB text: 0.85 GB resident), so 8 MiB
	// keeps it near 0.4 GB; WikiText-2's test split is 1.3 MB.
	MaxTextBytes = 8 << 20
	// MaxTaskBytes caps a zero-shot task file, both as stored and after
	// decompression. The largest upstream layout, rowanz's
	// hellaswag_val.jsonl, is about 11 MB.
	MaxTaskBytes = 128 << 20
	// MaxC4Bytes caps the C4 JSON read for one calibration, decompressed and
	// summed over all shards, each line charged 32 bytes more for its place
	// in memory: every document stays in memory, and one
	// c4-train shard is about 0.8 GB of JSON.
	MaxC4Bytes = 1 << 30
	// MaxLineBytes caps one line of a JSON Lines, TSV or C4 file.
	MaxLineBytes = 16 << 20
	// MaxCalibTokens caps nsamples × seqlen of one calibration: 16 times the
	// papers' largest budget (128 × 4096).
	MaxCalibTokens = 1 << 23
)

// ErrTooLarge is returned (wrapped) when an input exceeds one of the limits.
var ErrTooLarge = errors.New("too large")

// limitError is an input beyond a limit; it matches ErrTooLarge.
type limitError struct{ msg string }

func (e *limitError) Error() string        { return e.msg }
func (e *limitError) Is(target error) bool { return target == ErrTooLarge }

// tooLarge reports input beyond limit bytes. what names the kind of file
// and so the limit ("text corpora"); decompressed tells whether the limit
// was crossed by the decompressed content rather than by the file.
func tooLarge(path, what string, limit int64, decompressed bool) error {
	verb := "is larger than"
	if decompressed {
		verb = "decompresses to more than"
	}
	return &limitError{fmt.Sprintf("%s: %s %d MiB, the limit for %s", path, verb, limit>>20, what)}
}
