package langcheck

// esbuild parses, visits and prints expressions recursively: a chain like
// !!!!…x, a.b.b.b…, a=a=a…, a=>a=>… or `…``…` thousands deep costs it
// seconds, and a few hundred thousand deep overflow the goroutine stack,
// which kills the process (a stack overflow is not a panic). jsDepth gives
// an upper estimate of that depth in one linear pass, so that such input is
// reported instead of parsed. Hand-written code stays far below the limit.

// jsMaxDepth bounds the estimated depth given to esbuild.
const jsMaxDepth = 1000

type jsLevel struct {
	chain    int  // the depth where this bracket opened
	template bool // ${ of a template literal
}

// jsDepth returns the offset where the estimated expression depth of
// JavaScript or TypeScript source b exceeds limit, or -1. Brackets, JSX
// elements (with jsx) and template substitutions nest; member accesses,
// prefix operators, assignments, '?', '=>' and template tags add one to the
// current chain, which starts again after ',', ';' and a line break that
// ends a statement.
func jsDepth(b []byte, jsx bool, limit int) int {
	var stack []jsLevel
	chain := 0
	operand := false // the previous token ends an operand
	prefixKw := false
	base := func() int {
		if len(stack) == 0 {
			return 0
		}
		return stack[len(stack)-1].chain
	}
	at := func(i int) byte {
		if i < len(b) {
			return b[i]
		}
		return 0
	}
	i := 0
	if at(0) == '#' && at(1) == '!' {
		for i < len(b) && b[i] != '\n' {
			i++
		}
	}
	// template skips template text from i to the closing ` or to ${.
	template := func(i int) (int, bool) {
		for ; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '`':
				return i, false
			case '$':
				if at(i+1) == '{' {
					return i + 1, true
				}
			}
		}
		return i, false
	}
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			continue
		case c == '\n':
			// Automatic semicolon insertion: an operand at the end of a
			// line followed by a name or string starts a new statement.
			j := i + 1
			for j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\r' || b[j] == '\n') {
				j++
			}
			if operand && !prefixKw && j < len(b) && (isIdentByte(b[j]) || b[j] == '$' || b[j] == '"' || b[j] == '\'' || b[j] >= 0x80) {
				chain = base()
			}
			i = j - 1 // the blanks are read
			continue
		case c == '/' && at(i+1) == '/':
			for i+1 < len(b) && b[i+1] != '\n' {
				i++
			}
			continue
		case c == '/' && at(i+1) == '*':
			i += 2
			for i < len(b) && !(b[i] == '*' && at(i+1) == '/') {
				i++
			}
			i++
			continue
		}
		wasOperand := operand
		operand, prefixKw = false, false
		switch {
		case c == '"' || c == '\'':
			for i++; i < len(b) && b[i] != c && b[i] != '\n'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			operand = true
		case c == '`':
			if wasOperand {
				chain++ // a tagged template
			}
			var sub bool
			if i, sub = template(i + 1); sub {
				chain++
				stack = append(stack, jsLevel{chain, true})
			} else {
				operand = true
			}
		case c == '(' || c == '[' || c == '{':
			chain++
			stack = append(stack, jsLevel{chain: chain})
		case c == ')' || c == ']' || c == '}':
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				// f()() and a[0][0] chain; blocks and objects do not.
				chain = top.chain
				if c == '}' {
					chain--
				}
				if top.template && c == '}' {
					var sub bool
					if i, sub = template(i + 1); sub {
						chain++
						stack = append(stack, jsLevel{chain, true})
						break
					}
				}
			}
			operand = true
		case c == ',' || c == ';':
			chain = base()
		case c == '.':
			switch {
			case at(i+1) == '.' && at(i+2) == '.':
				i += 2
			case at(i+1) >= '0' && at(i+1) <= '9' && !wasOperand:
				for i+1 < len(b) && (isIdentByte(b[i+1]) || b[i+1] == '.') {
					i++
				}
				operand = true
			default:
				chain++
			}
		case c == '!' || c == '~':
			if at(i+1) == '=' {
				i++
			} else {
				chain++
			}
		case c == '+' || c == '-':
			if at(i+1) == c || !wasOperand {
				chain++
			}
			if at(i+1) == c || at(i+1) == '=' {
				i++
				operand = at(i) == c && wasOperand // x++ ends an operand
			}
		case c == '=':
			if at(i+1) == '=' {
				for at(i+1) == '=' {
					i++
				}
			} else {
				if at(i+1) == '>' {
					i++
				}
				chain++
			}
		case c == '?':
			if at(i+1) == '?' {
				i++
			} else {
				chain++
			}
		case c == '<' && jsx && !wasOperand && (isIdentByte(at(i+1)) || at(i+1) == '>'):
			chain++ // a JSX element opens
			stack = append(stack, jsLevel{chain: chain})
		case c == '<' && !jsx && !wasOperand && isIdentByte(at(i+1)):
			chain++ // a TypeScript type assertion <T>x
		case c == '<' && jsx && at(i+1) == '/' || c == '/' && jsx && at(i+1) == '>':
			if len(stack) > 0 { // a JSX element closes
				chain = stack[len(stack)-1].chain - 1
				stack = stack[:len(stack)-1]
			}
			i++
		case c == '/' && !wasOperand:
			// a regular expression
			for i++; i < len(b) && b[i] != '/' && b[i] != '\n'; i++ {
				switch b[i] {
				case '\\':
					i++
				case '[':
					for i++; i < len(b) && b[i] != ']' && b[i] != '\n'; i++ {
						if b[i] == '\\' {
							i++
						}
					}
				}
			}
			operand = true
		case isIdentByte(c) || c == '$' || c == '#' || c >= 0x80:
			j := i
			for j < len(b) && (isIdentByte(b[j]) || b[j] == '$' || b[j] == '#' || b[j] >= 0x80) {
				j++
			}
			switch string(b[i:j]) {
			case "new", "typeof", "void", "delete", "await", "yield", "throw":
				chain++
				prefixKw = true
			case "return", "case", "do", "else", "in", "of", "instanceof", "extends":
			default:
				operand = true
			}
			i = j - 1
		}
		if chain > limit || len(stack) > limit {
			return i
		}
	}
	return -1
}
