package langcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// checkJSON validates JSON with the standard library's encoding/json and
// turns the byte offset of its syntax error into a line and column. With
// comments (JSONC: tsconfig.json, .vscode/*.json, *.jsonc), // and /* */
// comments and trailing commas are blanked out first, keeping offsets.
func checkJSON(content []byte, comments bool) []Problem {
	if comments {
		content = stripJSONC(blankBOM(content))
	} else if bytes.HasPrefix(content, bom) {
		return []Problem{{Line: 1, Column: 1, Message: "JSON text must not start with a byte order mark (U+FEFF)"}}
	}
	if json.Valid(content) {
		return nil
	}
	var raw json.RawMessage
	err := json.Unmarshal(content, &raw)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		if err == nil {
			return nil
		}
		return []Problem{{Message: err.Error()}}
	}
	off := int(se.Offset)
	// Offset counts the bytes read, the offending one included.
	if off > 0 && off <= len(content) && !strings.HasPrefix(se.Error(), "unexpected end") {
		off--
	}
	line, col := newLines(content).pos(off)
	return []Problem{{Line: line, Column: col, Message: se.Error()}}
}

// stripJSONC returns a copy of b with comments and trailing commas (a
// comma followed only by blanks and comments before } or ]) replaced by
// spaces; newlines are kept so that positions stay the same.
func stripJSONC(b []byte) []byte {
	out := append([]byte(nil), b...)
	blank := func(i, j int) {
		for k := i; k < j; k++ {
			if out[k] != '\n' && out[k] != '\r' {
				out[k] = ' '
			}
		}
	}
	lastComma := -1
	for i := 0; i < len(out); i++ {
		switch c := out[i]; {
		case c == '"':
			lastComma = -1
			for i++; i < len(out) && out[i] != '"' && out[i] != '\n'; i++ {
				if out[i] == '\\' {
					i++
				}
			}
		case c == '/' && i+1 < len(out) && out[i+1] == '/':
			j := i
			for j < len(out) && out[j] != '\n' {
				j++
			}
			blank(i, j)
			i = j - 1
		case c == '/' && i+1 < len(out) && out[i+1] == '*':
			j := bytes.Index(out[i+2:], []byte("*/"))
			if j < 0 {
				return out // unterminated: let the JSON parser complain
			}
			blank(i, i+2+j+2)
			i += 2 + j + 1
		case c == ',':
			lastComma = i
		case c == '}' || c == ']':
			if lastComma >= 0 {
				out[lastComma] = ' '
			}
			lastComma = -1
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			lastComma = -1
		}
	}
	return out
}
