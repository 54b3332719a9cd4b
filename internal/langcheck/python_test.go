package langcheck

import "testing"

func TestPython(t *testing.T) {
	runSnippets(t, "x.py", []snippet{
		// valid
		{"empty", "", 0, ""},
		{"comments only", "# a\n   # indented comment\n\n", 0, ""},
		{"fstring nested same quotes", "songs = []\nprint(f\"{\", \".join(songs)}\")\n", 0, ""},
		{"fstring format spec", "x, w = 1, 5\nf\"{x:{w}.{w}f}|{x!r:^10}|{x=}|{x = !s:>5}\"\n", 0, ""},
		{"fstring braces", "f\"{{}} {{x}} }}{{\"\n", 0, ""},
		{"fstring dict and lambda", "f\"{ {'a': 1}['a'] } {(lambda: 1)()} {(y := 2)}\"\n", 0, ""},
		{"fstring walrus spec", "x = 1\nf\"{x:=10}\"\n", 0, ""},
		{"fstring named unicode", "x = 1\nf\"\\N{BULLET} {x} \\N{EM DASH}\"\n", 0, ""},
		{"raw fstring braces", "x = 1\nrf\"\\d{x}\\N{x}\" Rf'\\{x}'\n", 0, ""},
		{"fstring hash in string", "f\"{'#'}\" f'{\"a\" + \"#\"}'\n", 0, ""},
		{"fstring multiline field", "x = f\"{\n  1 +  # comment\n  2\n}\"\n", 0, ""},
		{"fstring triple", "f'''{x!r}\nline {'''nested'''}\n'''\n", 0, ""},
		{"tstring (3.14)", "name = 'x'\ntemplate = t\"hello {name}\"\n", 0, ""},
		{"deep fstring", "f\"{f'{f\"{f'{1}'}\"}'}\"\n", 0, ""},
		{"string prefixes", "a = b'\\x00\\'' + B\"x\"\nc = rb'\\'', U'x', BR\"x\"\n", 0, ""},
		{"triple with quotes", "s = '''a''b'c'''\nt = \"\"\"\"a\"\"\" \"\"\n", 0, ""},
		{"escaped newline in string", "s = 'abc\\\ndef'\n", 0, ""},
		{"continuation", "x = 1 + \\\n        2\nif x and \\\n   x:\n    pass\n", 0, ""},
		{"brackets ignore indentation", "d = {\n'a':\n        1,\n  'b': [\n2]}\n", 0, ""},
		{"comment after colon", "if True:  # it's fine\n    # comment at block start\n\n    pass\n", 0, ""},
		{"one-liners", "class A: pass\nif A: x = 1; y = 2\nwhile 0: break\n", 0, ""},
		{"dedent several levels", "def f():\n    if 1:\n        for i in []:\n            pass\nx = 1\n", 0, ""},
		{"tabs consistently", "def f():\n\tif 1:\n\t\treturn 1\n\treturn 2\n", 0, ""},
		{"tab then spaces same", "if 1:\n\t        x = 1\n\t        y = 2\n", 0, ""},
		{"form feed", "def f():\n    pass\n\f\ndef g():\n    pass\n", 0, ""},
		{"crlf", "def f():\r\n    return 1\r\n\r\nx = f()\r\n", 0, ""},
		{"cr only", "def f():\r    return 1\rx = f()\r", 0, ""},
		{"no final newline", "if x:\n    y", 0, ""},
		{"whitespace-only lines", "def f():\n    a = 1\n  \n\t\n    return a\n", 0, ""},
		{"soft keywords as names", "match = 1\ncase = match\ntype = 2\nprint(match, case, type)\n", 0, ""},
		{"unicode names", "π = 3.14\nnaïve_größe = π * 2\n変数 = 1\n", 0, ""},
		{"decorators", "@a.b(c=1)\n@d[0]\ndef f(): ...\n", 0, ""},
		{"ellipsis and operators", "x = ...\ny = a @ b ** -c // d % e | f ^ g & h << 1 >> 2\nz = x if y else -1\nw = not x != y\n", 0, ""},
		{"docstring with brackets", "def f():\n    \"\"\"Unbalanced ( [ { in a docstring; also 'quotes'.\"\"\"\n", 0, ""},
		{"comment with quote", "x = 1  # it's (unbalanced\n", 0, ""},
		{"latin-1 with coding", "# coding: latin-1\ns = 'caf\xe9'\n", 0, ""},
		{"byte order mark", "\ufeffimport os\n", 0, ""},
		{"star expressions", "a, *b = c\nprint(*b, **{}); f(*a, *b)\n[*a, *b]\n", 0, ""},
		{"async", "async def f():\n    async with a as b, c:\n        await b\n    async for x in y:\n        yield x\n", 0, ""},
		{"match statement", "match p:\n    case Point(x=0, y=0) | [0, 0]:\n        pass\n    case {\"k\": v, **rest} if v:\n        pass\n", 0, ""},
		{"backslash at end of comment", "x = 1  # trailing \\\ny = 2\n", 0, ""},

		// invalid
		{"block not indented", "if x:\npass\n", 2, "expected an indented block after 'if' statement on line 1"},
		{"def not indented", "def f():\nreturn 1\n", 2, "expected an indented block after function definition on line 1"},
		{"block at eof", "class A:\n", 1, "expected an indented block after class definition on line 1"},
		{"block at eof, comment", "for x in y:\n    # nothing\n", 2, "expected an indented block after 'for' statement"},
		{"first line indented", "  x = 1\n", 1, "unexpected indent"},
		{"unexpected indent", "x = 1\n    y = 2\n", 2, "unexpected indent"},
		{"missing colon while", "while True\n    pass\n", 1, "expected ':'"},
		{"missing colon else", "if x:\n    a\nelse\n    b\n", 3, "expected ':'"},
		{"missing colon class", "class A(B)\n    x = 1\n", 1, "expected ':'"},
		{"dedent mismatch", "if x:\n    a\n  b\n", 3, "unindent does not match any outer indentation level"},
		{"tab error", "def f():\n\treturn 1\n        return 2\n", 3, "inconsistent use of tabs and spaces"},
		{"tab error on indent", "if 1:\n        if 2:\n\t    x\n", 3, "inconsistent use of tabs and spaces"},
		{"never closed", "x = (1,\n     2\n", 1, "'(' was never closed"},
		{"unmatched", "x = 1)\n", 1, "unmatched ')'"},
		{"mismatch other line", "x = [1,\n2)\n", 2, "closing parenthesis ')' does not match opening parenthesis '[' on line 1"},
		{"unterminated", "x = 'abc\ny = 1\n", 1, "unterminated string literal (detected at line 1)"},
		{"unterminated raw", "x = r'abc\\'\n", 1, "unterminated string literal"},
		{"unterminated triple", "x = 1\ns = \"\"\"abc\n\ndef\n", 2, "unterminated triple-quoted string literal (detected at line 4)"},
		{"unterminated fstring field", "x = f'{a'\n", 1, "unterminated"},
		{"unterminated fstring", "x = f\"{a} and\ny\n", 1, "unterminated f-string literal"},
		{"format spec runs into quote", "f\"{x:>10\"\n", 1, "f-string: expecting '}'"},
		{"continuation junk", "x = 1 + \\ 2\n", 1, "unexpected character after line continuation character"},
		{"continuation at eof", "x = 1 + \\", 1, "unexpected EOF while parsing"},
		{"dollar", "x = $y\n", 1, "'$' cannot appear"},
		{"backtick", "x = `y`\n", 1, "'`' cannot appear"},
		{"null byte", "x = 1\x00\n", 1, "null bytes"},
		{"nbsp", "x\u00a0= 1\n", 1, "invalid non-printable character U+00A0"},
		{"curly quote", "print(\u201chi\u201d)\n", 1, "invalid character '\u201c' (U+201C)"},
		{"em dash", "x = 1 \u2014 2\n", 1, "invalid character"},
		{"invalid after good lines", "import os\n\n\ndef f():\n    return os.getcwd(\n\n\nx = 1\n", 5, "'(' was never closed"},
	})
}

func TestPythonCodingLine(t *testing.T) {
	for src, want := range map[string]bool{
		"# -*- coding: latin-1 -*-\n":              true,
		"#!/usr/bin/env python\n# coding=cp1252\n": true,
		"# vim: set fileencoding=utf-8 :\n":        false,
		"# coding: utf_8\n":                        false,
		"x = 1\n# coding: latin-1\n":               false,
		"\n\n# coding: latin-1\n":                  false,
	} {
		if got := pythonNonUTF8Coding([]byte(src)); got != want {
			t.Errorf("pythonNonUTF8Coding(%q) = %v, want %v", src, got, want)
		}
	}
}
