package langcheck

import (
	"bytes"
	"fmt"
)

// checkMarkdown reports fenced code blocks (``` or ~~~) that are opened and
// never closed: everything else is valid Markdown. A fence is a run of at
// least three backticks or tildes after any blockquote markers (>), list
// markers (-, *, +, 1. or 1)) and spaces; a backtick fence's info string
// may not contain a backtick (so ```code``` on one line is inline code). A
// fence is closed by a line holding only a run of the same character at
// least as long.
func checkMarkdown(content []byte) []Problem {
	var (
		open     bool
		fenceCh  byte
		fenceLen int
		openLine int
		openCol  int
	)
	line := 0
	for len(content) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(content, '\n'); i >= 0 {
			l, content = content[:i], content[i+1:]
		} else {
			l, content = content, nil
		}
		l = bytes.TrimRight(l, "\r")
		rest, col := stripMarkdownPrefix(l, !open)
		ch, n := fenceRun(rest)
		if n < 3 {
			continue
		}
		after := bytes.TrimSpace(rest[n:])
		if open {
			if ch == fenceCh && n >= fenceLen && len(after) == 0 {
				open = false
			}
			continue
		}
		if ch == '`' && bytes.IndexByte(after, '`') >= 0 {
			continue
		}
		open, fenceCh, fenceLen, openLine, openCol = true, ch, n, line, col
	}
	if !open {
		return nil
	}
	return []Problem{{Line: openLine, Column: openCol,
		Message: fmt.Sprintf("code fence %s opened here is never closed", bytes.Repeat([]byte{fenceCh}, fenceLen))}}
}

// stripMarkdownPrefix skips leading blanks and blockquote markers and, when
// lists is set, list markers; it returns the rest and its 1-based column.
func stripMarkdownPrefix(l []byte, lists bool) ([]byte, int) {
	i := 0
	for i < len(l) {
		switch c := l[i]; {
		case c == ' ' || c == '\t' || c == '>':
			i++
		case lists && (c == '-' || c == '*' || c == '+') && i+1 < len(l) && (l[i+1] == ' ' || l[i+1] == '\t'):
			i += 2
		case lists && c >= '0' && c <= '9':
			j := i
			for j < len(l) && j-i < 9 && l[j] >= '0' && l[j] <= '9' {
				j++
			}
			if j+1 < len(l) && (l[j] == '.' || l[j] == ')') && (l[j+1] == ' ' || l[j+1] == '\t') {
				i = j + 2
				continue
			}
			return l[i:], i + 1
		default:
			return l[i:], i + 1
		}
	}
	return l[i:], i + 1
}

// fenceRun returns the character and length of a run of ` or ~ starting l.
func fenceRun(l []byte) (byte, int) {
	if len(l) == 0 || (l[0] != '`' && l[0] != '~') {
		return 0, 0
	}
	n := 0
	for n < len(l) && l[n] == l[0] {
		n++
	}
	return l[0], n
}
