// Package textfile says what devbot takes for a text file: the only kind
// it keeps, edits and shows (the bot's uploads, devbot edit's input).
package textfile

import (
	"bytes"
	"unicode/utf8"
)

// Rule is the rule in the words replies use.
const Rule = "UTF-8, no NUL bytes"

// Is reports whether data is text: valid UTF-8 without a NUL byte (which
// no source file holds and every binary format soon does).
func Is(data []byte) bool {
	return utf8.Valid(data) && bytes.IndexByte(data, 0) < 0
}
