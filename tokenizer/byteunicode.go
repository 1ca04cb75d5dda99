package tokenizer

import "fmt"

// Byte-level BPE vocabularies (GPT-2's, and so LLaMA-3's and Qwen's) spell
// every byte as a printable character so that tokens are valid text: the
// printable bytes of Latin-1 stand for themselves and the other 68 (controls,
// space, DEL, the non-breaking and soft hyphens...) become U+0100 onwards in
// byte order, so a space is "Ġ" (U+0120) and a newline "Ċ" (U+010A).
var byteChars, charBytes = byteAlphabet()

// byteAlphabetEnd bounds the alphabet's characters: 256 + the 68 shifted bytes.
const byteAlphabetEnd = 256 + 68

func byteAlphabet() (chars [256]string, bytes [byteAlphabetEnd]int16) {
	for i := range bytes {
		bytes[i] = -1
	}
	shifted := 0
	for b := range 256 {
		r := rune(b)
		if !(b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE) {
			r = rune(256 + shifted)
			shifted++
		}
		chars[b] = string(r)
		bytes[r] = int16(b)
	}
	return chars, bytes
}

// byteLevelString spells raw bytes in the byte-level alphabet.
func byteLevelString(raw string) string {
	var b []byte
	for i := 0; i < len(raw); i++ {
		b = append(b, byteChars[raw[i]]...)
	}
	return string(b)
}

// byteLevelBytes returns the raw bytes a byte-level token spells, failing
// on characters outside the alphabet (malformed UTF-8 among them: it
// decodes as U+FFFD).
func byteLevelBytes(tok string) (string, error) {
	b := make([]byte, 0, len(tok))
	for i, r := range tok {
		if r < 0 || r >= byteAlphabetEnd || charBytes[r] < 0 {
			return "", fmt.Errorf("character %q at byte %d is not in the byte-level alphabet", r, i)
		}
		b = append(b, byte(charBytes[r]))
	}
	return string(b), nil
}
