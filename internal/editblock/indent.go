package editblock

import (
	"bytes"
	"strings"
	"unicode"
)

// indented is the cascade's second step on the fast path: search occurs
// nowhere as written, so look for it at one uniform leading-white-space
// offset (both sections outdented by what they share first, as the line
// way does), in the current content. ok only when there is exactly one
// such place and it lies in the original, outside the spans replaced; the
// span returned is in the original's coordinates, with REPLACE re-indented.
// Anything else is left to the line way, which decides it the same way.
func (d *doc) indented(search, replace []string) (span, bool) {
	outdent := -1
	for _, ls := range [][]string{search, replace} {
		for _, l := range ls {
			if !isBlank(l) {
				if n := len(leadingSpace(l)); outdent < 0 || n < outdent {
					outdent = n
				}
			}
		}
	}
	if outdent < 0 {
		return span{}, false
	}
	cut := func(ls []string) []string {
		out := make([]string, len(ls))
		for i, l := range ls {
			if isBlank(l) {
				out[i] = l
			} else {
				out[i] = l[outdent:]
			}
		}
		return out
	}
	search, replace = cut(search), cut(replace)
	// The anchor is the longest line: the fewest places to try.
	anchor := -1
	for k, l := range search {
		if !isBlank(l) && (anchor < 0 || len(l) > len(search[anchor])) {
			anchor = k
		}
	}
	if anchor < 0 {
		return span{}, false
	}
	c := d.current()
	wsA := leadingSpace(search[anchor])
	tr := []byte(search[anchor][len(wsA):])
	found, n := -1, 0
	var add string
	var end int
	for from := 0; from+len(tr) <= len(c); {
		i := bytes.Index(c[from:], tr)
		if i < 0 {
			break
		}
		p := from + i
		from = p + 1
		if p+len(tr) >= len(c) || c[p+len(tr)] != '\n' {
			continue
		}
		ls := bytes.LastIndexByte(c[:p], '\n') + 1
		ws := c[ls:p]
		if len(bytes.TrimLeftFunc(ws, unicode.IsSpace)) != 0 || !bytes.HasSuffix(ws, []byte(wsA)) {
			continue
		}
		a := string(ws[:len(ws)-len(wsA)])
		start, stop, ok := matchAround(c, ls, anchor, search, a)
		if !ok {
			continue
		}
		if n++; n == 2 {
			return span{}, false
		}
		found, end, add = start, stop, a
	}
	if n != 1 {
		return span{}, false
	}
	s, e, ok := d.toOrig(found, end)
	if !ok {
		return span{}, false
	}
	repl := make([]string, len(replace))
	for i, l := range replace {
		if isBlank(l) {
			repl[i] = l
		} else {
			repl[i] = add + l
		}
	}
	return span{s: s, e: e, repl: joinLines(repl)}, true
}

// matchAround checks that the lines around the anchor line (starting at
// offset ls in c, line anchor of search) are search's lines with the
// prefix add (a blank line matches a blank line), and returns the offsets
// where the match starts and ends.
func matchAround(c []byte, ls, anchor int, search []string, add string) (start, end int, ok bool) {
	line := func(at int) (string, int, bool) { // the line at offset at, and the next line's offset
		if at >= len(c) {
			return "", 0, false
		}
		j := bytes.IndexByte(c[at:], '\n')
		if j < 0 {
			return "", 0, false
		}
		return string(c[at : at+j]), at + j + 1, true
	}
	same := func(fileLine, want string) bool {
		if isBlank(want) {
			return strings.TrimLeftFunc(fileLine, unicode.IsSpace) == ""
		}
		return len(fileLine) == len(add)+len(want) && strings.HasPrefix(fileLine, add) && fileLine[len(add):] == want
	}
	start = ls
	for k := anchor - 1; k >= 0; k-- {
		if start == 0 {
			return 0, 0, false
		}
		prev := bytes.LastIndexByte(c[:start-1], '\n') + 1
		l, _, _ := line(prev)
		if !same(l, search[k]) {
			return 0, 0, false
		}
		start = prev
	}
	at := ls
	for k := anchor; k < len(search); k++ {
		l, next, ok := line(at)
		if !ok || !same(l, search[k]) {
			return 0, 0, false
		}
		at = next
	}
	return start, at, true
}

// current returns the content as the spans so far leave it (the original
// itself when there are none).
func (d *doc) current() []byte {
	if len(d.edits) == 0 {
		return d.orig
	}
	d.flat = d.flat[:0]
	at := 0
	for _, e := range d.edits {
		d.flat = append(d.flat, d.orig[at:e.s]...)
		d.flat = append(d.flat, e.repl...)
		at = e.e
	}
	d.flat = append(d.flat, d.orig[at:]...)
	return d.flat
}

// toOrig maps [s, e) of the current content to the original, when it lies
// outside every replacement.
func (d *doc) toOrig(s, e int) (int, int, bool) {
	shift := 0 // current minus original offset, so far
	for _, ed := range d.edits {
		rs := ed.s + shift // the replacement's start in the current content
		re := rs + len(ed.repl)
		if e <= rs {
			break
		}
		if s < re && e > rs || (len(ed.repl) == 0 && s < rs && e > rs) {
			return 0, 0, false
		}
		shift += len(ed.repl) - (ed.e - ed.s)
	}
	return s - shift, e - shift, true
}
