package langcheck

import "unicode/utf8"

// str reads a string literal whose opening quote is at c.i; f tells an
// f-string (or t-string), raw an r prefix.
func (c *pyChecker) str(f, raw bool) {
	q := c.src[c.i]
	line, col := c.line, c.col(c.i)
	triple := c.i+2 < len(c.src) && c.src[c.i+1] == q && c.src[c.i+2] == q
	if triple {
		c.i += 3
	} else {
		c.i++
	}
	var ok bool
	if f {
		ok = c.fstring(q, triple, raw)
	} else {
		ok = c.plain(q, triple)
	}
	if ok || c.stop {
		return
	}
	kind := "string"
	if f {
		kind = "f-string"
	}
	if triple {
		c.add(line, col, "unterminated triple-quoted %s literal (detected at line %d)", kind, c.eofLine())
		c.stop = true // the rest of the file is inside the string
		return
	}
	c.add(line, col, "unterminated %s literal (detected at line %d)", kind, c.line)
}

// closeQuote tells whether the string's closing quote(s) are at c.i, and
// consumes them.
func (c *pyChecker) closeQuote(q byte, triple bool) bool {
	if c.src[c.i] != q {
		return false
	}
	if !triple {
		c.i++
		return true
	}
	if c.i+2 < len(c.src) && c.src[c.i+1] == q && c.src[c.i+2] == q {
		c.i += 3
		return true
	}
	return false
}

// plain reads the rest of a string without replacement fields; it returns
// false, stopping at the line break, when the string is not terminated.
func (c *pyChecker) plain(q byte, triple bool) bool {
	for c.i < len(c.src) {
		b := c.src[c.i]
		switch {
		case b == '\\':
			c.i++
			if c.i < len(c.src) {
				if isNL(c.src[c.i]) {
					c.newline()
				} else {
					c.i++
				}
			}
		case c.closeQuote(q, triple):
			return true
		case isNL(b):
			if !triple {
				return false
			}
			c.newline()
		default:
			c.i++
		}
	}
	return false
}

// fstring reads the rest of an f-string, following its replacement fields.
func (c *pyChecker) fstring(q byte, triple, raw bool) bool {
	c.fdepth++
	defer func() { c.fdepth-- }()
	if c.fdepth > maxFStringNesting {
		c.add(c.line, c.col(c.i), "too many nested f-strings")
		c.stop = true
		return true
	}
	for c.i < len(c.src) && !c.stop {
		b := c.src[c.i]
		switch {
		case b == '\\':
			c.i++
			if c.i >= len(c.src) {
				return false
			}
			switch n := c.src[c.i]; {
			case isNL(n):
				c.newline()
			case n == '{' || n == '}':
				// a backslash does not escape a brace
			case !raw && n == 'N' && c.i+1 < len(c.src) && c.src[c.i+1] == '{':
				// \N{NAME} is a character, not a field
				j := c.i + 2
				for j < len(c.src) && c.src[j] != '}' && c.src[j] != q && !isNL(c.src[j]) {
					j++
				}
				if j < len(c.src) && c.src[j] == '}' {
					c.i = j + 1
				} else {
					c.i++
				}
			default:
				c.i++
			}
		case c.closeQuote(q, triple):
			return true
		case isNL(b):
			if !triple {
				return false
			}
			c.newline()
		case b == '{':
			if c.i+1 < len(c.src) && c.src[c.i+1] == '{' {
				c.i += 2
				continue
			}
			c.i++
			if !c.field(q, triple, raw) {
				return false
			}
		case b == '}' && c.i+1 < len(c.src) && c.src[c.i+1] == '}':
			c.i += 2
		default:
			c.i++
		}
	}
	return false
}

// field reads a replacement field after its '{': an expression (which, as
// since Python 3.12, may hold strings with any quotes, nested f-strings,
// line breaks and comments), then an optional conversion and format spec,
// up to the closing '}'. It returns false when the file ends first.
func (c *pyChecker) field(q byte, triple, raw bool) bool {
	var stack []pyBracket
	for c.i < len(c.src) && !c.stop {
		b := c.src[c.i]
		switch {
		case isNL(b):
			c.newline()
		case b == '#':
			for c.i < len(c.src) && !isNL(c.src[c.i]) {
				c.i++
			}
		case b == '\\':
			c.i++
			if c.i < len(c.src) && isNL(c.src[c.i]) {
				c.newline()
			}
		case b == '"' || b == '\'':
			c.str(false, false)
		case b == '(' || b == '[' || b == '{':
			stack = append(stack, pyBracket{b, c.line, c.col(c.i)})
			c.i++
		case b == ')' || b == ']' || b == '}' && len(stack) > 0:
			c.closeBracket(&stack)
		case b == '}':
			c.i++
			return true
		case b == ':' && len(stack) == 0:
			c.i++
			return c.formatSpec(q, triple, raw)
		case isIdentByte(b) || b >= utf8.RuneSelf:
			start := c.i
			for c.i < len(c.src) && (isIdentByte(c.src[c.i]) || c.src[c.i] >= utf8.RuneSelf) {
				c.i++
			}
			if c.i < len(c.src) && (c.src[c.i] == '"' || c.src[c.i] == '\'') {
				if f, r, ok := stringPrefix(string(c.src[start:c.i])); ok {
					c.str(f, r)
				}
			}
		default:
			c.i++
		}
	}
	return false
}

// formatSpec reads a format spec up to the '}' that ends its field; it may
// hold nested fields ({width}).
func (c *pyChecker) formatSpec(q byte, triple, raw bool) bool {
	for c.i < len(c.src) && !c.stop {
		b := c.src[c.i]
		switch {
		case b == '}':
			c.i++
			return true
		case b == '{':
			c.i++
			if !c.field(q, triple, raw) {
				return false
			}
		case b == '\\':
			c.i++
			if c.i < len(c.src) && isNL(c.src[c.i]) {
				c.newline()
			} else if c.i < len(c.src) {
				c.i++
			}
		case b == q && (!triple || c.i+2 < len(c.src) && c.src[c.i+1] == q && c.src[c.i+2] == q):
			c.add(c.line, c.col(c.i), "f-string: expecting '}'")
			return true // the f-string ends here
		case isNL(b):
			if !triple {
				return false
			}
			c.newline()
		default:
			c.i++
		}
	}
	return false
}

// stringPrefix tells whether w is a string prefix, and whether it makes an
// f-string (or t-string) and a raw string.
func stringPrefix(w string) (f, raw, ok bool) {
	var hasF, hasR, hasB, hasU bool
	if len(w) == 0 || len(w) > 2 {
		return false, false, false
	}
	for i := 0; i < len(w); i++ {
		switch w[i] | 0x20 {
		case 'f', 't':
			if hasF || hasB || hasU {
				return false, false, false
			}
			hasF = true
		case 'r':
			if hasR || hasU {
				return false, false, false
			}
			hasR = true
		case 'b':
			if hasB || hasF || hasU {
				return false, false, false
			}
			hasB = true
		case 'u':
			if len(w) != 1 {
				return false, false, false
			}
			hasU = true
		default:
			return false, false, false
		}
	}
	return hasF, hasR, true
}
