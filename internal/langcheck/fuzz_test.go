package langcheck

import (
	"strings"
	"testing"
	"time"
)

// fuzzPaths are the names a fuzzed input is checked under.
var fuzzPaths = []string{"a.go", "a.py", "a.js", "a.jsx", "a.ts", "a.tsx", "a.json", "tsconfig.json",
	"a.yaml", "a.toml", "a.html", "a.css", "a.md", "a.mjs"}

// FuzzCheck: Check never panics (no parser's panic reaches it either),
// takes bounded time, is deterministic, and returns well-formed problems.
func FuzzCheck(f *testing.F) {
	for i := range fuzzPaths {
		f.Add(uint8(i), []byte(""))
		f.Add(uint8(i), []byte("x"))
	}
	f.Fuzz(func(t *testing.T, lang uint8, content []byte) {
		path := fuzzPaths[int(lang)%len(fuzzPaths)]
		start := time.Now()
		ps := Check(path, content)
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("%s: %d bytes took %v", path, len(content), d)
		}
		again := Check(path, content)
		if len(again) != len(ps) {
			t.Fatalf("%s: not deterministic: %v then %v", path, ps, again)
		}
		for i, p := range ps {
			if p != again[i] {
				t.Fatalf("%s: not deterministic: %v then %v", path, ps, again)
			}
			if strings.HasPrefix(p.Message, "internal error") {
				t.Fatalf("%s: a parser panicked: %v", path, p)
			}
			if p.Path != path || p.Message == "" || strings.ContainsAny(p.Message, "\n\r") ||
				p.Line < 0 || p.Column < 0 || (p.Line == 0 && p.Column != 0) {
				t.Fatalf("%s: malformed problem %#v", path, p)
			}
			if i > 0 && (ps[i-1].Line > p.Line || ps[i-1].Line == p.Line && ps[i-1].Column > p.Column) {
				t.Fatalf("%s: problems not sorted: %v", path, ps)
			}
		}
		if len(ps) > maxProblems {
			t.Fatalf("%s: %d problems", path, len(ps))
		}
	})
}
