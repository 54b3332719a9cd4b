package editblock

import (
	"strings"
	"unicode"
)

// table interns line texts, so that matching compares integers and a
// search costs time proportional to the file, not to the file times the
// block.
type table struct {
	ids  map[string]int32
	strs []string
	trim []int32 // id of the line without leading white space; -1 until computed
}

func newTable(capacity int) *table {
	return &table{ids: make(map[string]int32, capacity)}
}

func (t *table) id(s string) int32 {
	if id, ok := t.ids[s]; ok {
		return id
	}
	id := int32(len(t.strs))
	t.ids[s] = id
	t.strs = append(t.strs, s)
	t.trim = append(t.trim, -1)
	return id
}

// trimmed returns the id of line id without its leading white space, as
// Python's str.lstrip (so every blank line has the id of "").
func (t *table) trimmed(id int32) int32 {
	if tr := t.trim[id]; tr >= 0 {
		return tr
	}
	s := strings.TrimLeftFunc(t.strs[id], unicode.IsSpace)
	tr := t.id(s)
	t.trim[id] = tr
	return tr
}

// text is a file as lines. Lines are split on "\n" only (a form feed or a
// U+2028 is content); a line's "\r" is kept apart so that a CRLF file and
// an LF reply match, and written back per line, so the file keeps its line
// endings and its final-newline state.
type text struct {
	tab     *table
	ids     []int32
	crlf    []bool // the line ends with "\r\n" (for the last line: would)
	dosEOL  bool   // new lines end with "\r\n"
	finalNL bool   // the content ends with a line ending
	bom     bool   // the content starts with a UTF-8 byte order mark, kept apart from the first line
}

// newText splits content. An empty content has no lines.
func newText(content []byte, tab *table) *text {
	s := string(content)
	t := &text{tab: tab, finalNL: true}
	if rest, ok := strings.CutPrefix(s, "\ufeff"); ok {
		// Editors hide the mark and models never copy it: without it the
		// first line matches, and it is written back.
		s, t.bom = rest, true
	}
	if s == "" {
		return t
	}
	if strings.HasSuffix(s, "\n") {
		s = s[:len(s)-1]
	} else {
		t.finalNL = false
	}
	n := strings.Count(s, "\n") + 1
	t.ids = make([]int32, 0, n)
	t.crlf = make([]bool, 0, n)
	dos := 0
	for line := range strings.SplitSeq(s, "\n") {
		cr := strings.HasSuffix(line, "\r")
		if cr {
			line = line[:len(line)-1]
			dos++
		}
		t.ids = append(t.ids, tab.id(line))
		t.crlf = append(t.crlf, cr)
	}
	// The last line of a file without a final newline says nothing about
	// the style; count only terminated lines.
	terminated := len(t.ids)
	if !t.finalNL {
		terminated--
		if t.crlf[len(t.crlf)-1] {
			dos-- // a lone "\r" at the very end is content, not a line ending
			t.crlf[len(t.crlf)-1] = false
			t.ids[len(t.ids)-1] = tab.id(t.tab.strs[t.ids[len(t.ids)-1]] + "\r")
		}
	}
	t.dosEOL = terminated > 0 && dos*2 > terminated
	return t
}

func (t *text) clone() *text {
	c := *t
	c.ids = append([]int32(nil), t.ids...)
	c.crlf = append([]bool(nil), t.crlf...)
	return &c
}

// replace puts lines in place of n lines at pos. New lines take the file's
// line-ending style.
func (t *text) replace(pos, n int, lines []string) {
	ids := make([]int32, len(lines))
	crlf := make([]bool, len(lines))
	for i, l := range lines {
		ids[i] = t.tab.id(l)
		crlf[i] = t.dosEOL
	}
	t.ids = append(t.ids[:pos:pos], append(ids, t.ids[pos+n:]...)...)
	t.crlf = append(t.crlf[:pos:pos], append(crlf, t.crlf[pos+n:]...)...)
}

// line returns line i's text.
func (t *text) line(i int) string { return t.tab.strs[t.ids[i]] }

// bytes renders the text.
func (t *text) bytes() []byte {
	size := 0
	for _, id := range t.ids {
		size += len(t.tab.strs[id]) + 2
	}
	var b strings.Builder
	b.Grow(size + 3)
	if t.bom && len(t.ids) > 0 {
		b.WriteString("\ufeff")
	}
	for i := range t.ids {
		b.WriteString(t.rendered(i))
	}
	return []byte(b.String())
}

// rendered returns line i with its line ending as it will be written.
func (t *text) rendered(i int) string {
	s := t.tab.strs[t.ids[i]]
	if i == len(t.ids)-1 && !t.finalNL {
		return s
	}
	if t.crlf[i] {
		return s + "\r\n"
	}
	return s + "\n"
}

// splitLines splits a section of a reply into lines: "\n" only, one
// trailing "\r" dropped per line.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	s = strings.TrimSuffix(s, "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

func leadingSpace(s string) string {
	return s[:len(s)-len(strings.TrimLeftFunc(s, unicode.IsSpace))]
}
