package projectmap

// EstimateTokens estimates how many tokens a model's tokenizer makes of b.
//
// BPE tokenizers of current models (cl100k, o200k, Llama 3, Gemini) turn
// English prose and source code into about one token per 3.5 to 4.5 bytes of
// ASCII; a non-ASCII character (Cyrillic, CJK, emoji) costs about one token or
// more. The estimate is therefore one token per 4 ASCII bytes, rounded up,
// plus one per non-ASCII character. It errs high on non-Latin text, which is
// the safe side for a budget, and it is additive: the estimate of a
// concatenation is never more than the sum of the parts' estimates, so a
// context assembled from parts that fit stays within the budget.
func EstimateTokens(b []byte) int {
	ascii, multi := 0, 0
	for _, c := range b {
		switch {
		case c < 0x80:
			ascii++
		case c >= 0xC0: // the first byte of a multi-byte character
			multi++
		}
	}
	return (ascii+3)/4 + multi
}

// EstimateString is EstimateTokens of a string.
func EstimateString(s string) int {
	ascii, multi := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x80:
			ascii++
		case c >= 0xC0:
			multi++
		}
	}
	return (ascii+3)/4 + multi
}
