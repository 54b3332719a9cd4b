package projectmap

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxTermLen drops longer runs (hashes, base64, minified code): they would
// never be searched for and only bloat the index.
const maxTermLen = 48

// Terms splits text into search words: runs of letters, digits and
// underscores, lower-cased, with identifiers split into their parts. An
// identifier made of several parts yields the parts and also the parts
// joined, so "HealthHandler", "health_handler" and "healthHandler" all yield
// "healthhandler", "health" and "handler", and each matches the others.
// Digits stay with the letters before them ("utf8", "v2"). Duplicates are
// kept: the number of occurrences is what ranking counts.
func Terms(text string) []string {
	var out []string
	appendTerms(&out, text)
	return out
}

func appendTerms(out *[]string, text string) {
	start := -1
	for i := 0; i <= len(text); {
		r, size := rune(0), 1
		if i < len(text) {
			r, size = utf8.DecodeRuneInString(text[i:])
		}
		word := i < len(text) && (r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r))
		if word && start < 0 {
			start = i
		}
		if !word && start >= 0 {
			appendIdentifier(out, text[start:i])
			start = -1
		}
		i += size
	}
}

// appendIdentifier appends an identifier's terms.
func appendIdentifier(out *[]string, id string) {
	if len(id) > maxTermLen {
		return
	}
	parts := splitIdentifier(id)
	switch len(parts) {
	case 0:
		return
	case 1:
		*out = append(*out, parts[0])
		return
	}
	*out = append(*out, strings.Join(parts, ""))
	*out = append(*out, parts...)
}

// splitIdentifier splits at underscores and at case changes: a lower-case
// letter or digit followed by an upper-case one ("fooBar"), and the last
// capital of an acronym followed by a lower-case letter ("HTTPServer").
func splitIdentifier(id string) []string {
	var parts []string
	for _, chunk := range strings.Split(id, "_") {
		if chunk == "" {
			continue
		}
		rs := []rune(chunk)
		begin := 0
		for i := 1; i < len(rs); i++ {
			prev, cur := rs[i-1], rs[i]
			boundary := unicode.IsUpper(cur) && (unicode.IsLower(prev) || unicode.IsDigit(prev)) ||
				unicode.IsUpper(prev) && unicode.IsUpper(cur) && i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if boundary {
				parts = append(parts, strings.ToLower(string(rs[begin:i])))
				begin = i
			}
		}
		parts = append(parts, strings.ToLower(string(rs[begin:])))
	}
	return parts
}

// QueryTerms is the distinct search words of an instruction, in order of
// first appearance.
func QueryTerms(instruction string) []string {
	seen := make(map[string]bool)
	var out []string
	for _, t := range Terms(instruction) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}
