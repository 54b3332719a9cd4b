package langcheck

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Problem is one syntax error.
type Problem struct {
	Path    string
	Line    int    // 1-based; 0 when unknown
	Column  int    // 1-based, in bytes; 0 when unknown
	Message string // the parser's words, short, one line
}

// String formats the problem as "path:line:column: message", leaving out
// the line and column when they are unknown.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Path)
	if p.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Line))
		if p.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Column))
		}
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

const (
	// MaxSize is the largest file that is checked; larger files are not
	// checked (Check returns nil), which bounds the time one file takes.
	MaxSize = 2 << 20
	// maxProblems is how many problems one file reports at most.
	maxProblems = 10
	// maxMessage is the longest message kept, in bytes.
	maxMessage = 240
)

// Language names the checker for a path by its extension or name: "go",
// "python", "javascript", "typescript", "json", "jsonc", "yaml", "toml",
// "html", "css" or "markdown"; "" when the file is not checked.
func Language(p string) string {
	p = strings.ReplaceAll(p, "\\", "/")
	base := strings.ToLower(path.Base(p))
	switch base {
	case "cargo.lock", "poetry.lock", "uv.lock", "pdm.lock", "pipfile":
		return "toml"
	case "devcontainer.json", ".devcontainer.json", ".eslintrc.json", "tsconfig.json", "jsconfig.json",
		"tslint.json", "deno.json", "turbo.json", "biome.json", "api-extractor.json",
		"launch.json", "settings.json", "tasks.json", "extensions.json", "keybindings.json":
		if base == "settings.json" || base == "launch.json" || base == "tasks.json" ||
			base == "extensions.json" || base == "keybindings.json" {
			if !strings.Contains("/"+strings.ToLower(p), "/.vscode/") {
				return "json"
			}
		}
		return "jsonc"
	}
	if (strings.HasPrefix(base, "tsconfig.") || strings.HasPrefix(base, "jsconfig.")) && strings.HasSuffix(base, ".json") {
		return "jsonc"
	}
	switch path.Ext(base) {
	case ".go":
		return "go"
	case ".py", ".pyi", ".pyw":
		return "python"
	case ".js", ".mjs", ".cjs", ".jsx":
		return "javascript"
	case ".ts", ".mts", ".cts", ".tsx":
		return "typescript"
	case ".json", ".webmanifest", ".geojson":
		return "json"
	case ".jsonc":
		return "jsonc"
	case ".yaml", ".yml":
		return "yaml"
	case ".toml":
		return "toml"
	case ".html", ".htm":
		return "html"
	case ".css":
		return "css"
	case ".md", ".markdown", ".mdown", ".mkd":
		return "markdown"
	}
	return ""
}

// Check parses content as path's language. It returns nil when the content
// parses, when the language is not checked (see Language) or when the file
// is larger than MaxSize. It never panics: a panic inside a parser is
// reported as a Problem. Problems are sorted by line and column.
func Check(path string, content []byte) (problems []Problem) {
	lang := Language(path)
	if lang == "" || len(content) > MaxSize {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			problems = []Problem{{Path: path, Message: oneLine(fmt.Sprintf("internal error in the %s checker: %v", lang, r))}}
		}
	}()
	if !(lang == "python" && pythonNonUTF8Coding(content)) {
		if off := invalidUTF8(content); off >= 0 {
			line, col := newLines(content).pos(off)
			return []Problem{{Path: path, Line: line, Column: col, Message: fmt.Sprintf("invalid UTF-8 (byte 0x%02x): the file must be UTF-8 text", content[off])}}
		}
	}
	var ps []Problem
	switch lang {
	case "go":
		ps = checkGo(path, content)
	case "python":
		ps = checkPython(content)
	case "javascript", "typescript", "css":
		ps = checkESBuild(path, content)
	case "json":
		ps = checkJSON(content, false)
	case "jsonc":
		ps = checkJSON(content, true)
	case "yaml":
		ps = checkYAML(content)
	case "toml":
		ps = checkTOML(content)
	case "html":
		ps = checkHTML(content)
	case "markdown":
		ps = checkMarkdown(content)
	}
	return finish(path, ps)
}

// CheckAll checks several files (path -> content) and returns all their
// problems sorted by path, then line and column.
func CheckAll(files map[string][]byte) []Problem {
	var all []Problem
	for p, c := range files {
		all = append(all, Check(p, c)...)
	}
	sortProblems(all)
	return all
}

// finish sets the path, cleans the messages, sorts, removes duplicates and
// keeps at most maxProblems.
func finish(path string, ps []Problem) []Problem {
	if len(ps) == 0 {
		return nil
	}
	for i := range ps {
		ps[i].Path = path
		ps[i].Message = oneLine(ps[i].Message)
		if ps[i].Line < 0 {
			ps[i].Line = 0
		}
		if ps[i].Column < 0 || ps[i].Line == 0 {
			ps[i].Column = 0
		}
	}
	sortProblems(ps)
	out := ps[:0]
	for i, p := range ps {
		if i > 0 && p == ps[i-1] {
			continue
		}
		out = append(out, p)
	}
	if len(out) > maxProblems {
		out = out[:maxProblems]
	}
	return out
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Message < b.Message
	})
}

// oneLine makes a message short and single-line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// invalidUTF8 returns the offset of the first byte that is not valid
// UTF-8, or -1.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// lines maps byte offsets to 1-based line and column numbers.
type lines []int // offsets where lines start

func newLines(b []byte) lines {
	ls := lines{0}
	for i, c := range b {
		if c == '\n' {
			ls = append(ls, i+1)
		}
	}
	return ls
}

// pos returns the 1-based line and byte column of offset off.
func (ls lines) pos(off int) (line, col int) {
	if off < 0 {
		off = 0
	}
	i := sort.Search(len(ls), func(i int) bool { return ls[i] > off }) - 1
	if i < 0 {
		i = 0
	}
	return i + 1, off - ls[i] + 1
}

// deepNesting reports the offset where brackets ( [ { nest deeper than
// limit, counting them crudely (strings and comments included), or -1.
// Parsers that recurse per level are not given such input: it would cost
// them time or memory out of proportion, and no hand-written source nests
// that deep.
func deepNesting(b []byte, limit int) int {
	depth := 0
	for i, c := range b {
		switch c {
		case '(', '[', '{':
			depth++
			if depth > limit {
				return i
			}
		case ')', ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return -1
}

func tooDeep(b []byte, off, limit int) []Problem {
	line, col := newLines(b).pos(off)
	return []Problem{{Line: line, Column: col, Message: fmt.Sprintf("brackets nest deeper than %d levels; the file is not checked further", limit)}}
}

var bom = []byte("\xef\xbb\xbf")

// blankBOM replaces a leading byte order mark with spaces, keeping offsets.
func blankBOM(b []byte) []byte {
	if !bytes.HasPrefix(b, bom) {
		return b
	}
	c := append([]byte(nil), b...)
	copy(c, "   ")
	return c
}
