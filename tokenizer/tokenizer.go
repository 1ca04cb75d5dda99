package tokenizer

// MaxFileSize caps the vocabulary files LoadSentencePiece and LoadLlama2C
// read: Llama-2's are 0.5 MB and the largest SentencePiece BPE models (a
// 256k vocabulary) about 4 MB, so anything larger is not a vocabulary and is
// refused before it is read. Parsed, a vocabulary takes a small multiple of
// its file size, so the cap also bounds the memory a hostile file can cost.
// (tokenizer.json files have their own cap, MaxTokenizerJSONSize.)
const MaxFileSize = 16 << 20

// Tokenizer turns text into token ids and back.
type Tokenizer interface {
	// Encode tokenizes text; bos and eos add the special ids (when the
	// vocabulary has them). SentencePiece and llama2.c vocabularies add
	// the dummy prefix (a leading space piece) to non-empty text;
	// byte-level BPE has none.
	Encode(text string, bos, eos bool) []int
	// Decode returns the text of token id as it follows token prev.
	// SentencePiece and llama2.c follow run.c's rules: after BOS the
	// leading space (the dummy prefix) is dropped and byte pieces <0xHH>
	// become their raw byte. Byte-level BPE ignores prev and returns the
	// token's bytes. Either way a token may hold part of a UTF-8
	// character, so only the concatenation over a sequence is text.
	// SentencePiece and byte-level BPE decode control tokens (BOS, EOS)
	// to "".
	Decode(prev, id int) string
	// VocabSize is the number of ids.
	VocabSize() int
	// BOS and EOS are the special ids (1 and 2 for LLaMA-1/2), -1 when the
	// vocabulary has none (Qwen has no BOS).
	BOS() int
	EOS() int
}
