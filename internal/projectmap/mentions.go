package projectmap

import (
	"path"
	"strings"
)

// Mentioned returns the project files an instruction names, the way Aider
// finds file mentions: a word (sentence punctuation and quotes stripped) that
// is a file's whole path, or a file's base name when exactly one file has it
// and it cannot be an ordinary word (it holds a '.', '_' or '-': "utils.py"
// names a file, "run" does not). Paths are returned in order of first
// mention.
func Mentioned(instruction string, files []FileInfo) []string {
	byPath := make(map[string]bool, len(files))
	byBase := make(map[string][]string)
	for _, f := range files {
		byPath[f.Path] = true
		base := path.Base(f.Path)
		if strings.ContainsAny(base, "._-") {
			byBase[base] = append(byBase[base], f.Path)
		}
	}
	var out []string
	seen := make(map[string]bool)
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, w := range strings.Fields(instruction) {
		w = strings.TrimRight(w, ",.!;:?")
		w = strings.Trim(w, "\"'`*_()[]<>")
		w = strings.TrimRight(w, ",.!;:?")
		w = strings.ReplaceAll(w, "\\", "/")
		w = strings.TrimPrefix(w, "./")
		if w == "" {
			continue
		}
		if byPath[w] {
			add(w)
			continue
		}
		if ps := byBase[w]; len(ps) == 1 {
			add(ps[0])
		}
	}
	return out
}
