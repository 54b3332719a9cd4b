package langcheck

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Python is checked at the level of its tokenizer, with CPython's messages,
// because no pure-Go parser accepts today's Python (gpython's follows 3.4).
// It catches: unterminated strings (single- or triple-quoted, with any
// r/b/u/f/t prefix); f-strings are followed into their replacement fields
// as Python 3.12 does (nested quotes, nested f-strings, format specs);
// unclosed, unmatched and mismatched brackets; indentation: an unexpected
// indent, a dedent to a level never opened, tabs and spaces mixed
// inconsistently (Python's own rule: columns compared with tabs as 8 and as
// 1 must agree), a line ending with ':' not followed by an indented block;
// a backslash continuation followed by something other than the end of the
// line; characters that cannot appear outside strings and comments ($, ?,
// `, NUL, control characters, non-breaking spaces, curly quotes and other
// non-identifier Unicode).
//
// It does not check the grammar: a misspelled keyword, a missing operator
// or comma, "print x", an 'else' without 'if', invalid targets,
// invalid escape sequences and number literals, 'return' outside a
// function all pass.

const maxFStringNesting = 150 // CPython's limit

type pyIndent struct{ col, alt int }

type pyBracket struct {
	ch        byte
	line, col int
}

type pyChecker struct {
	src       []byte
	i         int
	line      int
	lineStart int // offset where the current line starts
	brackets  []pyBracket
	indents   []pyIndent
	ps        []Problem
	stop      bool // a problem after which nothing more is reliable

	// the logical line being read
	started    bool   // it has a token
	first      string // its first word
	firstLine  int
	lastColon  bool // its last token is ':'
	colonSeen  bool // it has a ':' outside brackets
	endLine    int  // where its last token ends
	endCol     int
	prevWord   string // the previous logical line's first word...
	prevColon  bool   // ...whether it has a ':' outside brackets...
	prevLine   int    // ...and where it ends
	prevCol    int
	pendBlock  bool // the previous logical line ended with ':'
	pendLine   int
	pendWord   string
	latin      bool // a non-UTF-8 coding is declared: don't judge non-ASCII
	fdepth     int  // f-string nesting
	lineIsCont bool // the current physical line continues a logical line
}

var pyCodingRe = regexp.MustCompile(`^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)`)

// pythonNonUTF8Coding tells whether a PEP 263 coding declaration names an
// encoding other than UTF-8 (then the file need not be UTF-8).
func pythonNonUTF8Coding(b []byte) bool {
	for n := 0; n < 2 && len(b) > 0; n++ {
		l := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			l, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if m := pyCodingRe.FindSubmatch(l); m != nil {
			enc := strings.ToLower(strings.ReplaceAll(string(m[1]), "_", "-"))
			return enc != "utf-8" && enc != "utf8" && !strings.HasPrefix(enc, "utf-8-")
		}
		if t := bytes.TrimLeft(l, " \t\f"); len(t) > 0 && t[0] != '#' {
			return false
		}
	}
	return false
}

func checkPython(content []byte) []Problem {
	c := &pyChecker{src: content, line: 1, indents: []pyIndent{{0, 0}}, latin: pythonNonUTF8Coding(content)}
	if bytes.HasPrefix(content, bom) {
		c.i = len(bom)
	}
	c.run()
	return c.ps
}

func (c *pyChecker) add(line, col int, format string, args ...any) {
	if len(c.ps) < maxProblems {
		c.ps = append(c.ps, Problem{Line: line, Column: col, Message: fmt.Sprintf(format, args...)})
	}
	if len(c.ps) >= maxProblems {
		c.stop = true
	}
}

func (c *pyChecker) col(off int) int { return off - c.lineStart + 1 }

// newline consumes a line break (\n, \r\n or \r) at c.i.
func (c *pyChecker) newline() {
	if c.src[c.i] == '\r' && c.i+1 < len(c.src) && c.src[c.i+1] == '\n' {
		c.i++
	}
	c.i++
	c.line++
	c.lineStart = c.i
}

func isNL(b byte) bool { return b == '\n' || b == '\r' }

func (c *pyChecker) run() {
	atLineStart := true
	for c.i < len(c.src) && !c.stop {
		if atLineStart {
			atLineStart = false
			if len(c.brackets) == 0 && !c.lineIsCont && c.indentation() {
				continue
			}
			c.lineIsCont = false
		}
		ch := c.src[c.i]
		if ch != ' ' && ch != '\t' && ch != '\f' && ch != '#' && ch != '\\' && !isNL(ch) {
			before := c.i
			c.step(ch)
			if c.i > before {
				c.endLine, c.endCol = c.line, c.col(c.i)
			}
			continue
		}
		switch {
		case isNL(ch):
			c.newline()
			if len(c.brackets) == 0 {
				c.endLogical()
			}
			atLineStart = true
		case ch == ' ' || ch == '\t' || ch == '\f':
			c.i++
		case ch == '#':
			for c.i < len(c.src) && !isNL(c.src[c.i]) {
				c.i++
			}
		case ch == '\\':
			c.continuation()
			atLineStart = true
			c.lineIsCont = true
		}
	}
	c.finish()
}

// step reads the token starting with ch at c.i.
func (c *pyChecker) step(ch byte) {
	switch {
	case ch == '"' || ch == '\'':
		c.token("")
		c.str(false, false)
	case ch == '(' || ch == '[' || ch == '{':
		c.token("")
		c.brackets = append(c.brackets, pyBracket{ch, c.line, c.col(c.i)})
		c.i++
	case ch == ')' || ch == ']' || ch == '}':
		c.token("")
		c.closeBracket(&c.brackets)
	case isIdentByte(ch) || ch >= utf8.RuneSelf:
		c.word()
	default:
		c.operator(ch)
	}
}

// token notes a token of the current logical line.
func (c *pyChecker) token(word string) {
	if !c.started {
		c.started, c.first, c.firstLine = true, word, c.line
	}
	c.lastColon = false
}

func (c *pyChecker) endLogical() {
	if !c.started {
		return
	}
	if c.lastColon {
		c.pendBlock, c.pendLine, c.pendWord = true, c.firstLine, c.first
	}
	c.prevWord, c.prevColon, c.prevLine, c.prevCol = c.first, c.colonSeen, c.endLine, c.endCol
	c.started, c.lastColon, c.colonSeen = false, false, false
}

// indentation measures the indentation of a new logical line and checks it
// against the stack of levels; it returns true when the line is blank or a
// comment (nothing consumed but the indentation).
func (c *pyChecker) indentation() bool {
	col, alt := 0, 0
	j := c.i
loop:
	for ; j < len(c.src); j++ {
		switch c.src[j] {
		case ' ':
			col++
			alt++
		case '\t':
			col = (col/8 + 1) * 8
			alt++
		case '\f':
			col, alt = 0, 0
		default:
			break loop
		}
	}
	c.i = j
	if j >= len(c.src) || isNL(c.src[j]) || c.src[j] == '#' {
		return true
	}
	top := c.indents[len(c.indents)-1]
	if c.pendBlock {
		c.pendBlock = false
		if col > top.col {
			if alt <= top.alt {
				c.add(c.line, 1, "inconsistent use of tabs and spaces in indentation")
			}
			c.indents = append(c.indents, pyIndent{col, alt})
			return false
		}
		c.add(c.line, c.col(j), "expected an indented block after %s on line %d", blockName(c.pendWord), c.pendLine)
	}
	switch {
	case col == top.col:
		if alt != top.alt {
			c.add(c.line, 1, "inconsistent use of tabs and spaces in indentation")
		}
	case col > top.col:
		if compoundHeader[c.prevWord] && !c.prevColon {
			// "if x" then an indented block: the ':' is what is missing
			c.add(c.prevLine, c.prevCol, "expected ':'")
		} else {
			c.add(c.line, c.col(j), "unexpected indent")
		}
		c.indents = append(c.indents, pyIndent{col, alt})
	default:
		for len(c.indents) > 1 && col < c.indents[len(c.indents)-1].col {
			c.indents = c.indents[:len(c.indents)-1]
		}
		top = c.indents[len(c.indents)-1]
		if col != top.col {
			c.add(c.line, c.col(j), "unindent does not match any outer indentation level")
			c.indents = append(c.indents, pyIndent{col, alt})
		} else if alt != top.alt {
			c.add(c.line, 1, "inconsistent use of tabs and spaces in indentation")
		}
	}
	return false
}

// compoundHeader are the words that start a compound statement's header
// (not the soft keywords match and case, which may be names).
var compoundHeader = setOf("if", "elif", "else", "for", "while", "try", "except", "finally",
	"with", "def", "class", "async")

func blockName(word string) string {
	switch word {
	case "def", "async":
		return "function definition"
	case "class":
		return "class definition"
	case "if", "elif", "else", "for", "while", "try", "except", "finally", "with", "match", "case":
		return "'" + word + "' statement"
	}
	return "the line ending with ':'"
}

// continuation handles a backslash outside strings: it must end the line.
func (c *pyChecker) continuation() {
	line, col := c.line, c.col(c.i)
	c.i++
	if c.i >= len(c.src) {
		c.add(line, col, "unexpected EOF while parsing")
		return
	}
	if !isNL(c.src[c.i]) {
		c.add(line, col, "unexpected character after line continuation character")
		for c.i < len(c.src) && !isNL(c.src[c.i]) {
			c.i++
		}
		if c.i >= len(c.src) {
			return
		}
	}
	c.newline()
}

// closeBracket closes the bracket at c.i against stack.
func (c *pyChecker) closeBracket(stack *[]pyBracket) {
	ch := c.src[c.i]
	col := c.col(c.i)
	c.i++
	open := map[byte]byte{')': '(', ']': '[', '}': '{'}[ch]
	s := *stack
	if len(s) == 0 {
		c.add(c.line, col, "unmatched '%c'", ch)
		return
	}
	top := s[len(s)-1]
	if top.ch == open {
		*stack = s[:len(s)-1]
		return
	}
	if top.line != c.line {
		c.add(c.line, col, "closing parenthesis '%c' does not match opening parenthesis '%c' on line %d", ch, top.ch, top.line)
	} else {
		c.add(c.line, col, "closing parenthesis '%c' does not match opening parenthesis '%c'", ch, top.ch)
	}
	// Recover: close down to a matching bracket if there is one.
	for k := len(s) - 2; k >= 0; k-- {
		if s[k].ch == open {
			*stack = s[:k]
			return
		}
	}
}

func (c *pyChecker) operator(ch byte) {
	switch {
	case ch == ':':
		c.token("")
		c.lastColon = true
		c.colonSeen = c.colonSeen || len(c.brackets) == 0
		c.i++
		return
	case ch == '$' || ch == '?' || ch == '`':
		c.add(c.line, c.col(c.i), "invalid syntax: '%c' cannot appear outside strings and comments", ch)
	case ch == 0:
		c.add(c.line, c.col(c.i), "source code cannot contain null bytes")
	case ch < ' ' && ch != '\v' && ch != 0x1a:
		c.add(c.line, c.col(c.i), "invalid non-printable character U+%04X", ch)
	}
	c.token("")
	c.i++
}

func isIdentByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// isIdentRune reports whether a non-ASCII rune may be part of an identifier
// (loosely: letters, marks, digits, connectors, and the few other
// characters Python admits).
func isIdentRune(r rune) bool {
	if unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.Pc) {
		return true
	}
	switch r {
	case 0x2118, 0x212E, 0x309B, 0x309C, 0x00B7, 0x0387, 0x1369, 0x136A, 0x136B, 0x136C,
		0x136D, 0x136E, 0x136F, 0x1370, 0x1371, 0x19DA:
		return true
	}
	return false
}

// word reads an identifier, keyword or number, or a string prefix and its
// string.
func (c *pyChecker) word() {
	start := c.i
	for c.i < len(c.src) {
		b := c.src[c.i]
		if isIdentByte(b) {
			c.i++
			continue
		}
		if b < utf8.RuneSelf {
			break
		}
		r, n := utf8.DecodeRune(c.src[c.i:])
		if c.latin || isIdentRune(r) {
			c.i += n
			continue
		}
		if c.i == start {
			c.badRune(r, n)
			return
		}
		break
	}
	w := string(c.src[start:c.i])
	if c.i < len(c.src) && (c.src[c.i] == '"' || c.src[c.i] == '\'') {
		if f, raw, ok := stringPrefix(w); ok {
			c.token("")
			c.str(f, raw)
			return
		}
	}
	c.token(w)
}

func (c *pyChecker) badRune(r rune, n int) {
	switch {
	case r == utf8.RuneError && n <= 1:
		// not UTF-8 (allowed under a coding declaration): skip
	case unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Cc, r):
		c.add(c.line, c.col(c.i), "invalid non-printable character U+%04X", r)
	default:
		c.add(c.line, c.col(c.i), "invalid character '%c' (U+%04X)", r, r)
	}
	c.token("")
	c.i += n
}

func (c *pyChecker) finish() {
	if c.stop {
		return
	}
	if c.started {
		c.endLogical()
	}
	// Unclosed brackets are reported when nothing else is: after an
	// unterminated string or a stray bracket they are only its echo.
	if len(c.ps) == 0 {
		for _, b := range c.brackets {
			c.add(b.line, b.col, "'%c' was never closed", b.ch)
		}
	}
	if len(c.brackets) == 0 && c.pendBlock {
		c.add(c.eofLine(), 1, "expected an indented block after %s on line %d", blockName(c.pendWord), c.pendLine)
	}
}

// eofLine is the line CPython names for the end of the file: the last line,
// not the empty one after the final line break.
func (c *pyChecker) eofLine() int {
	if c.i >= len(c.src) && c.line > 1 && c.i > 0 && isNL(c.src[c.i-1]) {
		return c.line - 1
	}
	return c.line
}
