package projectmap

import (
	"bytes"
	"regexp"
	"strings"
)

// A rule recognizes one kind of definition on a line (leading whitespace
// removed). The name is the regexp's group "name".
type rule struct {
	kind      string
	re        *regexp.Regexp
	container bool // members may follow, one indentation level deeper
	// noSemicolon skips a line ending in ";": a forward declaration
	// ("class Foo;") or, outside headers, a call or prototype.
	noSemicolon bool
	// cFunc applies C's checks: not a control keyword, not a call statement
	// outside a header.
	cFunc bool
}

// lineSpec is a language's line-based recognizer.
type lineSpec struct {
	top    []rule // at indentation 0
	member []rule // directly inside a container
	// comment prefixes of whole-line comments, and block comment delimiters.
	lineComments []string
	blockStart   string
	blockEnd     string
	// tripleQuotes: Python's """ and ''' strings, whose lines are skipped.
	tripleQuotes bool
	// ignore matches lines that neither end a container nor set its member
	// indentation (C++'s "public:").
	ignore *regexp.Regexp
	// trimSuffix is cut from a definition's text ("{", ":").
	trimSuffix []string
	// maxDepth is how deep containers nest in the outline (default 2).
	maxDepth int
	// fences: Markdown's ``` and ~~~ blocks, whose lines are skipped.
	fences bool
}

// frame is an open container while scanning.
type frame struct {
	indent     int // the container line's indentation
	bodyIndent int // its members' indentation; -1 until the first member line
}

func (s *lineSpec) outline(src []byte, ext string) []Symbol {
	header := ext == ".h" || ext == ".hpp" || ext == ".hh" || ext == ".hxx"
	maxDepth := s.maxDepth
	if maxDepth == 0 {
		maxDepth = 2
	}
	var (
		out      []Symbol
		stack    []frame
		inBlock  bool
		inTriple string
		inFence  string
		lineNo   int
	)
	for len(src) > 0 {
		lineNo++
		var raw []byte
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			raw, src = src[:i], src[i+1:]
		} else {
			raw, src = src, nil
		}
		line := strings.TrimRight(string(raw), " \t\r")
		trimmed := strings.TrimLeft(line, " \t")
		if trimmed == "" {
			continue
		}
		if s.fences {
			if inFence != "" {
				if strings.HasPrefix(trimmed, inFence) {
					inFence = ""
				}
				continue
			}
			if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
				inFence = trimmed[:3]
				continue
			}
		}
		if inTriple != "" {
			if strings.Count(trimmed, inTriple)%2 == 1 {
				inTriple = ""
			}
			continue
		}
		if inBlock {
			if strings.Contains(trimmed, s.blockEnd) {
				inBlock = false
			}
			continue
		}
		if s.isComment(trimmed) {
			if s.blockStart != "" && strings.HasPrefix(trimmed, s.blockStart) &&
				!strings.Contains(trimmed[len(s.blockStart):], s.blockEnd) {
				inBlock = true
			}
			continue
		}
		indent := indentation(line)
		opensTriple := ""
		if s.tripleQuotes {
			for _, q := range []string{`"""`, `'''`} {
				if strings.Count(trimmed, q)%2 == 1 {
					opensTriple = q
					break
				}
			}
		}
		// An opening brace on a line of its own (Allman style) belongs to
		// the definition above it: it neither closes nor fills a container.
		if trimmed == "{" || s.ignore != nil && s.ignore.MatchString(trimmed) {
			continue
		}
		// A line at or left of a container's own indentation closes it.
		for len(stack) > 0 && indent <= stack[len(stack)-1].indent {
			stack = stack[:len(stack)-1]
		}
		var rules []rule
		if indent == 0 && len(stack) == 0 {
			rules = s.top
		} else if len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.bodyIndent < 0 {
				top.bodyIndent = indent
			}
			if indent == top.bodyIndent {
				rules = s.member
			}
		}
		if sym, r, ok := s.match(rules, trimmed, header || len(stack) > 0); ok {
			sym.Line, sym.Depth = lineNo, len(stack)
			out = append(out, sym)
			if r.container && len(stack) < maxDepth {
				stack = append(stack, frame{indent: indent, bodyIndent: -1})
			}
		}
		if opensTriple != "" {
			inTriple = opensTriple
		}
		if s.blockStart != "" && !inBlock {
			if i := strings.LastIndex(trimmed, s.blockStart); i >= 0 && !strings.Contains(trimmed[i+len(s.blockStart):], s.blockEnd) {
				inBlock = true
			}
		}
	}
	return out
}

func (s *lineSpec) isComment(trimmed string) bool {
	for _, p := range s.lineComments {
		if strings.HasPrefix(trimmed, p) {
			return true
		}
	}
	return s.blockStart != "" && strings.HasPrefix(trimmed, s.blockStart)
}

// notNames are keywords that a loose rule can mistake for a definition's
// name in any language ("if (x) {" inside a class body).
var notNames = map[string]bool{"if": true, "for": true, "while": true, "switch": true, "catch": true, "return": true}

// cControl are C and C++ keywords that start statements, not definitions.
var cControl = map[string]bool{
	"if": true, "for": true, "while": true, "switch": true, "return": true, "else": true, "do": true,
	"sizeof": true, "case": true, "catch": true, "new": true, "delete": true, "throw": true, "goto": true,
}

// match tries rules on a line. declarations says that a line ending in ";"
// may be a definition: in a header, or inside a class, where members are
// declared.
func (s *lineSpec) match(rules []rule, trimmed string, declarations bool) (Symbol, rule, bool) {
	for _, r := range rules {
		m := r.re.FindStringSubmatch(trimmed)
		if m == nil {
			continue
		}
		if r.noSemicolon && strings.HasSuffix(trimmed, ";") && !strings.Contains(trimmed, "{") {
			continue
		}
		if r.cFunc {
			first := trimmed
			if i := strings.IndexAny(first, " \t(*&"); i >= 0 {
				first = first[:i]
			}
			if cControl[first] || (!declarations && strings.HasSuffix(trimmed, ";")) || strings.HasSuffix(trimmed, ",") {
				continue
			}
		}
		name := m[r.re.SubexpIndex("name")]
		if notNames[name] || r.cFunc && cControl[name] {
			continue
		}
		text := trimmed
		for _, suf := range s.trimSuffix {
			text = strings.TrimSpace(strings.TrimSuffix(text, suf))
		}
		return Symbol{Kind: r.kind, Name: strings.TrimSpace(name), Text: clip(text)}, r, true
	}
	return Symbol{}, rule{}, false
}

// indentation counts leading whitespace, a tab as 4 columns.
func indentation(line string) int {
	n := 0
	for _, c := range line {
		switch c {
		case ' ':
			n++
		case '\t':
			n += 4
		default:
			return n
		}
	}
	return n
}
