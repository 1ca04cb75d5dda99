package tokenizer

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/prunebench/prunebench/internal/smallfile"
)

// SentencePiece piece types (ModelProto.SentencePiece.Type; GGUF's
// tokenizer.ggml.token_type uses the same numbers).
const (
	typeNormal      = 1
	typeUnknown     = 2
	typeControl     = 3
	typeUserDefined = 4
	typeUnused      = 5
	typeByte        = 6
)

// TrainerSpec.model_type values.
const (
	modelUnigram = 1
	modelBPE     = 2
)

// spaceSymbol is U+2581, which SentencePiece writes for a space.
const spaceSymbol = "\u2581"

// SentencePiece is a SentencePiece BPE model read from tokenizer.model or
// built from a GGUF vocabulary.
type SentencePiece struct {
	pieces []string
	scores []float32
	types  []int32
	ids    map[string]int

	bos, eos, unk int
	// byteID[b] is the id of piece <0xHH> for b; used only with byteFallback.
	byteID       [256]int
	byteFallback bool

	addDummyPrefix         bool
	removeExtraWhitespaces bool
	escapeWhitespaces      bool

	merger *merger
}

var _ Tokenizer = (*SentencePiece)(nil)

// spOptions is what both sources (protobuf, GGUF) provide.
type spOptions struct {
	pieces []string
	scores []float32
	types  []int32

	bos, eos, unk int
	// byteFallback is the model's flag; nil means "on exactly when all 256
	// byte pieces exist", which is how a GGUF vocabulary (which has no flag)
	// is treated.
	byteFallback *bool

	addDummyPrefix, removeExtraWhitespaces, escapeWhitespaces bool
}

// NewSentencePiece builds a BPE tokenizer from a GGUF vocabulary
// (tokenizer.ggml.tokens, .scores, .token_type and the special ids). GGUF
// stores no normaliser: spaces are escaped and kept, and byte fallback is on
// when all 256 <0xHH> BYTE pieces are present.
func NewSentencePiece(pieces []string, scores []float32, types []int32, bos, eos, unk int, addDummyPrefix bool) (*SentencePiece, error) {
	if len(scores) != len(pieces) || len(types) != len(pieces) {
		return nil, fmt.Errorf("sentencepiece vocabulary: %d pieces, %d scores and %d types; want equal counts",
			len(pieces), len(scores), len(types))
	}
	return newSentencePiece(spOptions{
		pieces: pieces, scores: scores, types: types,
		bos: bos, eos: eos, unk: unk,
		addDummyPrefix: addDummyPrefix, escapeWhitespaces: true,
	})
}

func newSentencePiece(o spOptions) (*SentencePiece, error) {
	n := len(o.pieces)
	if n == 0 {
		return nil, fmt.Errorf("sentencepiece vocabulary: no pieces")
	}
	t := &SentencePiece{
		pieces: o.pieces, scores: o.scores, types: o.types,
		ids: make(map[string]int, n),
		bos: o.bos, eos: o.eos, unk: o.unk,
		addDummyPrefix:         o.addDummyPrefix,
		removeExtraWhitespaces: o.removeExtraWhitespaces,
		escapeWhitespaces:      o.escapeWhitespaces,
	}
	for i := range t.byteID {
		t.byteID[i] = -1
	}
	bytes := 0
	for i, p := range o.pieces {
		if p == "" {
			return nil, fmt.Errorf("sentencepiece vocabulary: piece %d is empty", i)
		}
		if j, dup := t.ids[p]; dup {
			return nil, fmt.Errorf("sentencepiece vocabulary: piece %d %q duplicates piece %d", i, p, j)
		}
		t.ids[p] = i
		if math.IsNaN(float64(o.scores[i])) {
			return nil, fmt.Errorf("sentencepiece vocabulary: piece %d %q: score is NaN", i, p)
		}
		switch o.types[i] {
		case typeNormal, typeUnknown, typeControl, typeUserDefined, typeUnused:
		case typeByte:
			b, ok := bytePiece(p)
			if !ok {
				return nil, fmt.Errorf("sentencepiece vocabulary: piece %d %q has type BYTE but is not <0xHH>", i, p)
			}
			if t.byteID[b] < 0 {
				bytes++
			}
			t.byteID[b] = i
		default:
			return nil, fmt.Errorf("sentencepiece vocabulary: piece %d %q: type %d, want 1..6", i, p, o.types[i])
		}
	}
	for _, s := range []struct {
		name string
		id   int
	}{{"bos", o.bos}, {"eos", o.eos}, {"unk", o.unk}} {
		if s.id < 0 || s.id >= n {
			return nil, fmt.Errorf("sentencepiece vocabulary: %s id %d outside the %d pieces", s.name, s.id, n)
		}
	}
	if o.types[o.unk] != typeUnknown {
		return nil, fmt.Errorf("sentencepiece vocabulary: unk id %d is %q of type %d, want type %d (UNKNOWN)",
			o.unk, o.pieces[o.unk], o.types[o.unk], typeUnknown)
	}
	t.byteFallback = bytes == 256
	if o.byteFallback != nil {
		if *o.byteFallback && !t.byteFallback {
			return nil, fmt.Errorf("sentencepiece vocabulary: byte_fallback is set but only %d of the 256 <0xHH> BYTE pieces exist", bytes)
		}
		t.byteFallback = *o.byteFallback
	}
	t.merger = newMerger(t.pieces, t.scores, t.ids, func(id int) bool {
		return t.types[id] == typeNormal || t.types[id] == typeUserDefined
	})
	return t, nil
}

// LoadSentencePiece reads a tokenizer.model file; see ParseSentencePiece.
func LoadSentencePiece(path string) (*SentencePiece, error) {
	data, err := smallfile.Read(path, MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("sentencepiece model: %w", err)
	}
	t, err := ParseSentencePiece(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParseSentencePiece reads a serialised ModelProto. Only BPE models are
// accepted, and only without a character-normalisation map: prunebench does
// not implement Unigram or NFKC rules, and guessing would tokenise wrongly
// without any error. Unknown fields are skipped; absent fields take their
// proto2 defaults. trainer_spec.vocab_size is not consulted: the pieces are
// the vocabulary, and extended models often leave the trainer's count stale.
func ParseSentencePiece(data []byte) (*SentencePiece, error) {
	o := spOptions{
		bos: 1, eos: 2, unk: 0,
		addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true,
	}
	byteFallback := false
	o.byteFallback = &byteFallback
	modelType := int32(modelUnigram)
	r := &pbReader{buf: data, name: "ModelProto"}
	for r.more() {
		f, err := r.next()
		if err != nil {
			return nil, fmt.Errorf("sentencepiece model: %w", err)
		}
		switch f.num {
		case 1:
			err = parsePiece(r, f, &o)
		case 2:
			err = parseTrainerSpec(r, f, &o, &modelType)
		case 3:
			err = parseNormalizerSpec(r, f, &o)
		}
		if err != nil {
			return nil, fmt.Errorf("sentencepiece model: %w", err)
		}
	}
	switch modelType {
	case modelBPE:
	case modelUnigram:
		return nil, fmt.Errorf("sentencepiece model: trainer_spec.model_type is 1 (Unigram, also the default when absent); only BPE (2) is supported")
	default:
		return nil, fmt.Errorf("sentencepiece model: trainer_spec.model_type is %d; only BPE (2) is supported", modelType)
	}
	t, err := newSentencePiece(o)
	if err != nil {
		return nil, fmt.Errorf("sentencepiece model: %w", err)
	}
	return t, nil
}

func parsePiece(parent *pbReader, f pbField, o *spOptions) error {
	r, err := parent.sub(f, fmt.Sprintf("ModelProto.pieces[%d]", len(o.pieces)))
	if err != nil {
		return err
	}
	var piece string
	var score float32
	typ := int32(typeNormal)
	for r.more() {
		g, err := r.next()
		if err != nil {
			return err
		}
		switch g.num {
		case 1:
			if err := r.want(g, wireBytes, "piece"); err != nil {
				return err
			}
			piece = string(g.bytes)
		case 2:
			score, err = r.float32(g, "score")
		case 3:
			typ, err = r.int32(g, "type")
		}
		if err != nil {
			return err
		}
	}
	if piece == "" {
		// Refused here rather than after the loop, so that a file of empty
		// piece messages cannot grow the lists at many times its size.
		return r.errorf(0, "piece %d is empty", len(o.pieces))
	}
	o.pieces = append(o.pieces, piece)
	o.scores = append(o.scores, score)
	o.types = append(o.types, typ)
	return nil
}

func parseTrainerSpec(parent *pbReader, f pbField, o *spOptions, modelType *int32) error {
	r, err := parent.sub(f, "ModelProto.trainer_spec")
	if err != nil {
		return err
	}
	for r.more() {
		g, err := r.next()
		if err != nil {
			return err
		}
		var id int32
		switch g.num {
		case 3:
			*modelType, err = r.int32(g, "model_type")
		case 35:
			*o.byteFallback, err = r.bool(g, "byte_fallback")
		case 40:
			id, err = r.int32(g, "unk_id")
			o.unk = int(id)
		case 41:
			id, err = r.int32(g, "bos_id")
			o.bos = int(id)
		case 42:
			id, err = r.int32(g, "eos_id")
			o.eos = int(id)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func parseNormalizerSpec(parent *pbReader, f pbField, o *spOptions) error {
	r, err := parent.sub(f, "ModelProto.normalizer_spec")
	if err != nil {
		return err
	}
	var name string
	for r.more() {
		g, err := r.next()
		if err != nil {
			return err
		}
		switch g.num {
		case 1:
			err = r.want(g, wireBytes, "name")
			name = string(g.bytes)
		case 2:
			err = r.want(g, wireBytes, "precompiled_charsmap")
			if err == nil && len(g.bytes) > 0 {
				err = r.errorf(g.at, "precompiled_charsmap holds %d bytes (normaliser %q): character normalisation is not implemented", len(g.bytes), name)
			}
		case 3:
			o.addDummyPrefix, err = r.bool(g, "add_dummy_prefix")
		case 4:
			o.removeExtraWhitespaces, err = r.bool(g, "remove_extra_whitespaces")
		case 5:
			o.escapeWhitespaces, err = r.bool(g, "escape_whitespaces")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// MarshalModel serialises t as a SentencePiece ModelProto, the content of a
// tokenizer.model file, so that a vocabulary that came without one (a GGUF
// file's) can be saved beside a Hugging Face checkpoint. Every field
// ParseSentencePiece reads is written explicitly, proto2 defaults included,
// so parsing the result gives a tokenizer that encodes and decodes exactly
// as t does; SentencePiece and transformers read it as the same BPE model.
func (t *SentencePiece) MarshalModel() []byte {
	var out, msg []byte
	for i, p := range t.pieces {
		msg = appendBytes(msg[:0], 1, []byte(p))
		msg = appendFloat32(msg, 2, t.scores[i])
		msg = appendInt32(msg, 3, t.types[i])
		out = appendBytes(out, 1, msg)
	}
	msg = appendInt32(msg[:0], 3, modelBPE)
	msg = appendInt32(msg, 4, int32(len(t.pieces)))
	msg = appendBool(msg, 35, t.byteFallback)
	msg = appendInt32(msg, 40, int32(t.unk))
	msg = appendInt32(msg, 41, int32(t.bos))
	msg = appendInt32(msg, 42, int32(t.eos))
	out = appendBytes(out, 2, msg)
	// "identity": no character normalisation, which is all the parser accepts.
	msg = appendBytes(msg[:0], 1, []byte("identity"))
	msg = appendBool(msg, 3, t.addDummyPrefix)
	msg = appendBool(msg, 4, t.removeExtraWhitespaces)
	msg = appendBool(msg, 5, t.escapeWhitespaces)
	return appendBytes(out, 3, msg)
}

// normalize applies the normaliser options in SentencePiece's order:
// whitespace cleanup, dummy prefix, space escaping.
func (t *SentencePiece) normalize(text string) string {
	if t.removeExtraWhitespaces {
		text = strings.Join(strings.FieldsFunc(text, func(r rune) bool { return r == ' ' }), " ")
	}
	if text == "" {
		return ""
	}
	if t.addDummyPrefix {
		text = " " + text
	}
	if t.escapeWhitespaces {
		text = strings.ReplaceAll(text, " ", spaceSymbol)
	}
	return text
}

// Encode tokenises like SentencePiece's BPE model: normalise, split into
// characters (a malformed UTF-8 byte becomes U+FFFD, as SentencePiece's
// normaliser does), merge into NORMAL/USER_DEFINED pieces by highest score
// (leftmost on ties), then spell each character that is still not a piece
// with its <0xHH> byte pieces, or as one unk per run of such characters when
// byte fallback is off. Literal special-token text such as "<s>" is not
// split out.
func (t *SentencePiece) Encode(text string, bos, eos bool) []int {
	norm := t.normalize(text)
	var out []int
	if bos {
		out = append(out, t.bos)
	}
	prevUnk := false
	emit := func(s symbol) {
		switch {
		case s.id >= 0:
			out = append(out, s.id)
		case t.byteFallback:
			for k := 0; k < len(s.text); k++ {
				out = append(out, t.byteID[s.text[k]])
			}
		case !prevUnk:
			out = append(out, t.unk)
		}
		prevUnk = s.id < 0
	}
	sm := streamMerger{m: t.merger, emit: emit}
	for i := 0; i < len(norm); {
		r, w := utf8.DecodeRuneInString(norm[i:])
		c := norm[i : i+w]
		if r == utf8.RuneError && w == 1 {
			c = string(utf8.RuneError)
		}
		id, ok := t.ids[c]
		if !ok || id == t.unk {
			id = -1
		}
		sm.add(symbol{text: c, id: id})
		i += w
	}
	sm.flush(true)
	if eos {
		out = append(out, t.eos)
	}
	return out
}

// Decode returns the text of id after prev: ▁ becomes a space, the leading
// space after BOS (the dummy prefix) is dropped, BYTE pieces become their raw
// byte and CONTROL pieces decode to "". Ids outside the vocabulary decode to
// "".
func (t *SentencePiece) Decode(prev, id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	switch t.types[id] {
	case typeControl:
		return ""
	case typeByte:
		b, _ := bytePiece(t.pieces[id])
		return string([]byte{b})
	}
	s := strings.ReplaceAll(t.pieces[id], spaceSymbol, " ")
	if prev == t.bos {
		s = strings.TrimPrefix(s, " ")
	}
	return s
}

// Piece returns the piece text of id, with ▁ for spaces ("" outside the
// vocabulary).
func (t *SentencePiece) Piece(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// VocabSize is the number of pieces.
func (t *SentencePiece) VocabSize() int { return len(t.pieces) }

// BOS is the beginning-of-sequence id (trainer_spec.bos_id).
func (t *SentencePiece) BOS() int { return t.bos }

// EOS is the end-of-sequence id (trainer_spec.eos_id).
func (t *SentencePiece) EOS() int { return t.eos }
