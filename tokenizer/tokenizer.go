package tokenizer

// MaxFileSize caps the vocabulary files LoadSentencePiece and LoadLlama2C
// read: Llama-2's are 0.5 MB and the largest SentencePiece BPE models (a
// 256k vocabulary) about 4 MB, so anything larger is not a vocabulary and is
// refused before it is read. Parsed, a vocabulary takes a small multiple of
// its file size, so the cap also bounds the memory a hostile file can cost.
const MaxFileSize = 16 << 20

// Tokenizer turns text into token ids and back.
type Tokenizer interface {
	// Encode tokenizes text. The dummy prefix (a leading space piece) is
	// added to non-empty text; bos and eos add the special ids.
	Encode(text string, bos, eos bool) []int
	// Decode returns the text of token id as it follows token prev, with
	// run.c's rules: after BOS a leading space is dropped and byte pieces
	// <0xHH> become their raw byte.
	Decode(prev, id int) string
	// VocabSize is the number of ids.
	VocabSize() int
	// BOS and EOS are the special ids (1 and 2 for LLaMA).
	BOS() int
	EOS() int
}
