package editblock

import (
	"fmt"
	"path"
	"strings"
)

// block is one SEARCH/REPLACE block as written in a reply.
type block struct {
	n        int      // 1-based position among the reply's blocks
	line     int      // 1-based line of its SEARCH marker in the reply
	name     string   // the file name as written ("" when none was given)
	other    bool     // the name designates another file than the one edited
	body     []string // the lines between the SEARCH and the REPLACE markers
	dividers []int    // indices in body of the lines that can be the divider
	above    []string // the (up to 3) reply lines above the SEARCH marker
	create   bool     // the SEARCH section is empty (the line after the marker is a divider)

	op string // "" for a SEARCH/REPLACE block; opDelete or opRename for a directive
	to string // a rename's new path
}

// Directives, in a change set's reply.
const (
	opDelete = "delete"
	opRename = "rename"
)

// split returns the SEARCH and REPLACE lines for divider candidate d.
func (b *block) split(d int) (search, replace []string) {
	return b.body[:b.dividers[d]], b.body[b.dividers[d]+1:]
}

// malformed is a reply that cannot be read as blocks.
type malformed struct {
	line   int // 1-based line of the reply, 0 when none applies
	text   string
	reason string
}

func (m *malformed) String() string {
	if m.line == 0 {
		return m.reason
	}
	return fmt.Sprintf("line %d of the reply, %q: %s", m.line, m.text, m.reason)
}

// markerRun returns the length of the run of c that s starts with.
func markerRun(s string, c byte) int {
	n := 0
	for n < len(s) && s[n] == c {
		n++
	}
	return n
}

// isHead reports a SEARCH marker: 5-9 '<', one space, SEARCH, an optional
// '>' (tested on the trimmed line, as Aider does).
func isHead(tr string) bool {
	n := markerRun(tr, '<')
	if n < 5 || n > 9 {
		return false
	}
	rest := tr[n:]
	return rest == " SEARCH" || rest == " SEARCH>"
}

// isDivider reports a line of 5-9 '='.
func isDivider(tr string) bool {
	n := markerRun(tr, '=')
	return n >= 5 && n <= 9 && n == len(tr)
}

// isUpdated reports a REPLACE marker: 5-9 '>', one space, REPLACE.
func isUpdated(tr string) bool {
	n := markerRun(tr, '>')
	return n >= 5 && n <= 9 && tr[n:] == " REPLACE"
}

// nearMiss describes a line that looks like a marker but is not one, or
// returns "".
func nearMiss(tr string) string {
	for _, m := range []struct {
		c     byte
		words []string
		want  string
	}{
		{'<', []string{"SEARCH", "ORIGINAL"}, "<<<<<<< SEARCH"},
		{'>', []string{"REPLACE", "UPDATED"}, ">>>>>>> REPLACE"},
	} {
		n := markerRun(tr, m.c)
		if n < 3 {
			continue
		}
		rest := strings.ToUpper(strings.TrimSpace(strings.TrimRight(tr[n:], ">")))
		for _, w := range m.words {
			if rest == w && !isHead(tr) && !isUpdated(tr) {
				return fmt.Sprintf("%q looks like a marker but is not one: write %q (5 to 9 %q, one space, %s)", tr, m.want, string(m.c), m.want[8:])
			}
		}
	}
	return ""
}

func isFence(tr string) bool { return strings.HasPrefix(tr, "```") }

var shells = map[string]bool{"bash": true, "sh": true, "shell": true, "cmd": true, "batch": true,
	"powershell": true, "ps1": true, "zsh": true, "fish": true, "ksh": true, "csh": true, "tcsh": true,
	"console": true}

// isShellFence compares the whole info string (```csharp is not ```csh).
func isShellFence(tr string) bool {
	if !isFence(tr) {
		return false
	}
	info := strings.ToLower(strings.TrimSpace(strings.TrimLeft(tr, "`")))
	return shells[info]
}

// parse reads the blocks of reply. target is the path of the file being
// edited; impliedName lets a block without any file name edit it (a user's
// own direct edit), where a model's reply must name the file.
func parse(reply, target string, impliedName bool) ([]block, []string, *malformed) {
	lines := splitLines(reply)
	trimmed := func(i int) string {
		if i < 0 || i >= len(lines) {
			return ""
		}
		return strings.TrimSpace(lines[i])
	}
	// A loose name (the same base name in another directory, a close
	// spelling) designates the target only when no block names it
	// strictly: a reply that names app.py and also app2.py edits two files.
	least := matchClose
	for i := range lines {
		if isHead(trimmed(i)) && pickName(nameCandidates(lines[max(0, i-3):i]), target, matchStrict) == target {
			least = matchStrict
			break
		}
	}
	name := func(above []string, create bool, current string) (string, bool) {
		floor := least
		if create && floor < matchBase {
			// An empty SEARCH creates a file: a close spelling is another
			// file (file2.txt next to file1.txt), as Aider also decides.
			floor = matchBase
		}
		name, other := findName(above, target, floor)
		switch {
		case name != "":
			return name, other
		case current != "":
			return current, current != target
		case impliedName:
			return target, false
		}
		return "", false
	}
	return scan(lines, name, false)
}

// namer resolves a block's file name from the lines above it; current is
// the previous block's. "" means the block names none.
type namer func(above []string, create bool, current string) (name string, other bool)

// scan reads the blocks of a reply's lines, naming each with name. With
// directives, DELETE and RENAME lines outside blocks are read too.
func scan(lines []string, name namer, directives bool) ([]block, []string, *malformed) {
	var (
		blocks  []block
		near    []string
		current string
	)
	trimmed := func(i int) string {
		if i < 0 || i >= len(lines) {
			return ""
		}
		return strings.TrimSpace(lines[i])
	}
	for i := 0; i < len(lines); i++ {
		tr := trimmed(i)
		if directives {
			if d, bad := directive(tr, i+1, len(blocks)+1); bad != nil {
				return nil, near, bad
			} else if d != nil {
				blocks = append(blocks, *d)
				current = ""
				continue
			}
		}
		if isShellFence(tr) && !isHead(trimmed(i+1)) && !isHead(trimmed(i+2)) {
			// A command suggestion: its content is not an edit.
			for i++; i < len(lines) && !isFence(trimmed(i)); i++ {
				if isHead(trimmed(i)) {
					// An unclosed command block: the blocks after it are
					// still edits (Aider swallows them).
					i--
					break
				}
			}
			continue
		}
		if !isHead(tr) {
			if m := nearMiss(tr); m != "" {
				near = append(near, fmt.Sprintf("line %d: %s", i+1, m))
			}
			continue
		}
		b := block{n: len(blocks) + 1, line: i + 1, above: lines[max(0, i-3):i], create: isDivider(trimmed(i + 1))}
		b.name, b.other = name(b.above, b.create, current)
		if b.name == "" {
			return nil, near, &malformed{line: i + 1, text: tr, reason: fmt.Sprintf(
				"block %d has no file name: put the file's path alone on the line before the opening fence", b.n)}
		}
		current = b.name
		j := i + 1
		for ; j < len(lines); j++ {
			tj := trimmed(j)
			if isUpdated(tj) {
				break
			}
			if isHead(tj) {
				return nil, near, &malformed{line: j + 1, text: tj, reason: fmt.Sprintf(
					"a new SEARCH marker inside block %d (which starts at line %d): block %d has no >>>>>>> REPLACE line%s",
					b.n, b.line, b.n, nearHint(lines, i+1, j))}
			}
			if isDivider(tj) {
				b.dividers = append(b.dividers, j-i-1)
			}
			b.body = append(b.body, lines[j])
		}
		if j == len(lines) {
			return nil, near, &malformed{line: b.line, text: tr, reason: fmt.Sprintf(
				"block %d has no >>>>>>> REPLACE line before the end of the reply%s", b.n, nearHint(lines, i+1, j))}
		}
		if len(b.dividers) == 0 {
			return nil, near, &malformed{line: b.line, text: tr, reason: fmt.Sprintf(
				"block %d has no ======= line between its SEARCH and REPLACE sections%s", b.n, nearHint(lines, i+1, j))}
		}
		blocks = append(blocks, b)
		i = j
	}
	return blocks, near, nil
}

// nearHint names the near-miss markers in lines[from:to].
func nearHint(lines []string, from, to int) string {
	var hints []string
	for k := from; k < to && k < len(lines); k++ {
		tr := strings.TrimSpace(lines[k])
		if m := nearMiss(tr); m != "" {
			hints = append(hints, fmt.Sprintf("line %d: %s", k+1, m))
		} else if n := markerRun(tr, '='); n == len(tr) && n >= 3 && !isDivider(tr) {
			hints = append(hints, fmt.Sprintf("line %d: %q is not a divider: write ======= (5 to 9 '=')", k+1, tr))
		}
	}
	if len(hints) == 0 {
		return ""
	}
	return " (" + strings.Join(hints, "; ") + ")"
}

// nameCandidates returns the possible file names in the (up to 3) lines
// above a SEARCH marker, nearest first, stepping over fence lines (indented
// or not): the nearest other line, cleaned of its decorations, and what a
// fence line's info string holds that looks like a path.
func nameCandidates(above []string) []string {
	var cands []string
	for k := len(above) - 1; k >= 0; k-- {
		tr := strings.TrimSpace(above[k])
		if isFence(tr) {
			rest := strings.TrimSpace(strings.TrimLeft(tr, "`"))
			if strings.ContainsAny(rest, "./") {
				if _, after, ok := strings.Cut(rest, ":"); ok { // ```python:app/x.py
					cands = append(cands, after)
				}
				if f := strings.Fields(rest); len(f) > 1 { // ```python app/x.py
					cands = append(cands, f[len(f)-1])
				}
				cands = append(cands, rest)
			}
			continue
		}
		if isHead(tr) || isDivider(tr) || isUpdated(tr) {
			break
		}
		if d, bad := directive(tr, 0, 0); d != nil || bad != nil {
			break // a DELETE or RENAME line names its own files, not the block's
		}
		if c := cleanName(tr); c != "" && c != "..." {
			cands = append(cands, c)
		}
		break
	}
	return cands
}

// pickName returns target when a candidate designates it at least as
// closely as least, even inside a sentence ("Here is the change to
// app.py:"); otherwise "".
func pickName(cands []string, target string, least int) string {
	for _, c := range cands {
		if nameMatch(c, target) >= least {
			return target
		}
	}
	for _, c := range cands {
		for _, tok := range strings.Fields(c) {
			if nameMatch(cleanToken(tok), target) >= least {
				return target
			}
		}
	}
	return ""
}

// findName looks for a file name in the lines above a SEARCH marker. It
// returns the target when a candidate names it (see pickName); otherwise a
// bare name that looks like a path, with other set; otherwise "".
func findName(above []string, target string, least int) (name string, other bool) {
	cands := nameCandidates(above)
	if pickName(cands, target, least) != "" {
		return target, false
	}
	for _, c := range cands {
		if isPathLike(c) {
			return c, true
		}
	}
	return "", false
}

func isPathLike(c string) bool {
	return c != "" && !strings.ContainsAny(c, " \t:") && strings.ContainsAny(c, "./") && c != "." && c != ".."
}

// cleanName removes the decorations models put around a file name.
func cleanName(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimRight(s, ":")
	s = strings.TrimLeft(s, "#")
	s = strings.TrimSpace(s)
	s = strings.Trim(s, "`")
	s = strings.Trim(s, "*")
	s = strings.Trim(s, "`") // **`app.py`**
	return strings.TrimSpace(s)
}

func cleanToken(s string) string {
	s = strings.Trim(s, "`*\"'()[]<>,;:")
	return strings.TrimRight(s, ".")
}

// How closely a name designates a path, weakest first.
const (
	matchNone   = iota
	matchClose  // a close spelling of the path or of its base name
	matchBase   // the same base name in another directory
	matchStrict // the same path, a path suffix either way, or the base name alone
)

// nameMatch says how closely name designates the file at target.
func nameMatch(name, target string) int {
	// Windows separators name the same path.
	name = strings.TrimPrefix(strings.ReplaceAll(strings.TrimSpace(name), `\`, "/"), "./")
	t := strings.TrimPrefix(strings.ReplaceAll(target, `\`, "/"), "./")
	if name == "" || t == "" || strings.ContainsAny(name, " \t") {
		return matchNone
	}
	if name == t || strings.HasSuffix("/"+t, "/"+name) || strings.HasSuffix(name, "/"+t) {
		return matchStrict
	}
	if path.Base(name) == path.Base(t) {
		return matchBase
	}
	if similarity(name, t) >= 0.8 || (!strings.Contains(name, "/") && similarity(name, path.Base(t)) >= 0.8) {
		return matchClose
	}
	return matchNone
}

// namesTarget reports whether name designates the file at target at all.
func namesTarget(name, target string) bool { return nameMatch(name, target) > matchNone }

// similarity is 2*LCS/(len(a)+len(b)), close to Python's difflib ratio.
func similarity(a, b string) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	if len(a) > 256 || len(b) > 256 {
		return 0
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			switch {
			case a[i-1] == b[j-1]:
				cur[j] = prev[j-1] + 1
			case prev[j] >= cur[j-1]:
				cur[j] = prev[j]
			default:
				cur[j] = cur[j-1]
			}
		}
		prev, cur = cur, prev
	}
	return 2 * float64(prev[len(b)]) / float64(len(a)+len(b))
}

// Named returns the distinct file names a reply's blocks give, in order of
// first appearance, and whether a block has an empty SEARCH section
// (creates a file or appends to one). A block without a name reuses the
// previous one; a sentence above the fence counts for the file name it
// quotes ("Here is the updated `app.py`:"). It returns no names when a
// block names no file.
func Named(response string) (names []string, creates bool) {
	lines := splitLines(response)
	seen := map[string]bool{}
	current := ""
	for i := range lines {
		if !isHead(strings.TrimSpace(lines[i])) {
			continue
		}
		name := ""
		cands := nameCandidates(lines[max(0, i-3):i])
		for _, c := range cands {
			if isPathLike(c) {
				name = c
				break
			}
		}
		for _, c := range cands {
			for _, tok := range strings.Fields(c) {
				if tok = cleanToken(tok); name == "" && isPathLike(tok) && hasSourceExt(tok) {
					name = tok
				}
			}
		}
		if name == "" {
			name = current
		}
		if name == "" {
			return nil, false
		}
		current = name
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
		if i+1 < len(lines) && isDivider(strings.TrimSpace(lines[i+1])) {
			creates = true
		}
	}
	return names, creates
}

// hasSourceExt reports a name ending in a common file extension, so that a
// sentence's `os.path.join` is not taken for a file.
func hasSourceExt(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".py", ".go", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".md", ".markdown", ".rst", ".txt",
		".yaml", ".yml", ".json", ".toml", ".ini", ".cfg", ".conf", ".env", ".xml", ".html", ".htm", ".css",
		".scss", ".sql", ".sh", ".bash", ".rs", ".java", ".kt", ".swift", ".c", ".h", ".cc", ".cpp", ".hpp",
		".cs", ".rb", ".php", ".lua", ".vue", ".svelte", ".tf", ".hcl", ".proto", ".gradle", ".csv", ".dockerfile":
		return true
	}
	return false
}

// directive reads a DELETE or RENAME line of a change set's reply:
//
//	<<<<<<< DELETE path/to/file
//	<<<<<<< RENAME old/path -> new/path
//
// (5 to 9 '<', as a SEARCH marker). A path cannot hold '>', so the arrow is
// unambiguous. It returns nil for any other line.
func directive(tr string, line, n int) (*block, *malformed) {
	if len(tr) > 2 && tr[0] == '`' && tr[len(tr)-1] == '`' {
		tr = strings.TrimSpace(strings.Trim(tr, "`")) // `<<<<<<< DELETE x`
	}
	k := markerRun(tr, '<')
	if k < 5 || k > 9 || len(tr) == k || tr[k] != ' ' {
		return nil, nil
	}
	word, rest, _ := strings.Cut(strings.TrimSpace(tr[k:]), " ")
	rest = strings.TrimSpace(rest)
	switch word {
	case "DELETE":
		p := cleanName(rest)
		if p == "" {
			return nil, &malformed{line: line, text: tr, reason: "a DELETE line names the file to delete: <<<<<<< DELETE path/to/file"}
		}
		return &block{n: n, line: line, op: opDelete, name: p}, nil
	case "RENAME":
		from, to, ok := strings.Cut(rest, "->")
		from, to = cleanName(from), cleanName(to)
		if !ok || from == "" || to == "" {
			return nil, &malformed{line: line, text: tr, reason: "a RENAME line names the file and its new path: <<<<<<< RENAME old/path -> new/path"}
		}
		return &block{n: n, line: line, op: opRename, name: from, to: to}, nil
	}
	return nil, nil
}
