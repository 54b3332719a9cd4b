// Package editblocktest reads the edit engine's test cases: txtar-like files
// whose sections ("-- name flags --") hold a file, a model's reply and the
// expected outcome. A section's flags set bytes a text file cannot show:
// "noeol" drops its final newline, "crlf" turns its line endings into CRLF.
// A multi-file case (testdata/multi) names its files "in/PATH" (the tree
// before) and "out/PATH" (the whole tree after; a file missing there was
// deleted).
package editblocktest

import (
	"fmt"
	"strings"
)

// Sections splits a case into its named sections. A section named twice is
// an error.
func Sections(data []byte) (map[string]string, error) {
	out := map[string]string{}
	var cur, flags string
	var b strings.Builder
	var err error
	flush := func() {
		if cur == "" {
			return
		}
		s := b.String()
		if strings.Contains(flags, "noeol") {
			s = strings.TrimSuffix(s, "\n")
		}
		if strings.Contains(flags, "crlf") {
			s = strings.ReplaceAll(s, "\n", "\r\n")
		}
		if _, dup := out[cur]; dup && err == nil {
			err = fmt.Errorf("section %q appears twice", cur)
		}
		out[cur] = s
	}
	for _, l := range strings.SplitAfter(string(data), "\n") {
		tl := strings.TrimRight(l, "\n")
		if strings.HasPrefix(tl, "-- ") && strings.HasSuffix(tl, " --") && len(tl) > 6 {
			flush()
			b.Reset()
			f := strings.Fields(tl[3 : len(tl)-3])
			cur, flags = f[0], strings.Join(f[1:], " ")
			continue
		}
		if cur != "" {
			b.WriteString(l)
		}
	}
	flush()
	return out, err
}

// Tree returns the files of a multi-file case: the sections named
// prefix+PATH ("in/app.py", "out/app.py"), by PATH.
func Tree(sections map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for name, s := range sections {
		if p, ok := strings.CutPrefix(name, prefix); ok && p != "" {
			out[p] = s
		}
	}
	return out
}
