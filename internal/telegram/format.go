package telegram

import (
	"html"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxMessageLength is the Bot API's limit on a message's text, in UTF-16
// code units after entities are parsed; counting the raw HTML is safe (it is
// never shorter than the parsed text).
const MaxMessageLength = 4096

// MaxCaptionLength is the limit on a document's caption.
const MaxCaptionLength = 1024

// Escape escapes text for HTML parse mode.
func Escape(s string) string { return html.EscapeString(s) }

// Pre formats code as a preformatted block, escaped.
func Pre(code string) string { return "<pre>" + html.EscapeString(code) + "</pre>" }

// UTF16Len is the length Telegram counts.
func UTF16Len(s string) int {
	n := 0
	for _, r := range s {
		if w := utf16.RuneLen(r); w > 0 {
			n += w
		} else {
			n++ // a surrogate half: sent as U+FFFD
		}
	}
	return n
}

// Split cuts text into messages of at most limit UTF-16 units, preferring
// line breaks, then spaces. Callers must not pass text with an HTML element
// spanning a line break (a <pre> block): send that as a document instead.
//
// It runs in time linear in len(text): the remaining length is counted once
// and reduced by what each cut consumes (recounting the rest on every cut
// made a 1 MB text take seconds).
func Split(text string, limit int) []string {
	if limit <= 0 {
		limit = MaxMessageLength
	}
	var parts []string
	remaining := UTF16Len(text)
	for remaining > limit {
		cut := cutPoint(text, limit)
		part := strings.TrimRight(text[:cut], "\n ")
		if part != "" {
			parts = append(parts, part)
		}
		rest := strings.TrimLeft(text[cut:], "\n")
		remaining -= UTF16Len(text[:len(text)-len(rest)])
		text = rest
	}
	if strings.TrimSpace(text) != "" {
		parts = append(parts, text)
	}
	return parts
}

// cutPoint returns a byte index at which text's prefix fits in limit units:
// after the last newline in the fitting prefix, else after the last space,
// else at the last rune boundary that fits. It reads at most limit runes.
func cutPoint(text string, limit int) int {
	units, fit := 0, 0
	for fit < len(text) {
		r, size := utf8.DecodeRuneInString(text[fit:])
		w := utf16.RuneLen(r) // an invalid byte decodes to U+FFFD: 1 unit, 1 byte
		if w < 0 {
			w = 1
		}
		if units+w > limit {
			break
		}
		units += w
		fit += size
	}
	prefix := text[:fit]
	if i := strings.LastIndexByte(prefix, '\n'); i > 0 {
		return i + 1
	}
	if i := strings.LastIndexByte(prefix, ' '); i > 0 {
		return i + 1
	}
	if fit == 0 { // cannot happen with limit >= 2; never loop forever
		return len(text)
	}
	return fit
}
