package editblock

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func seedCorpus(f *testing.F) {
	f.Helper()
	for _, c := range []struct{ file, resp string }{
		{"a = 1\nb = 2\n", "app.py\n```\n<<<<<<< SEARCH\na = 1\n=======\na = 2\n>>>>>>> REPLACE\n```\n"},
		{"x\r\ny", "app.py\n<<<<<<< SEARCH\ny\n=======\n=======\nz\n>>>>>>> REPLACE\n"},
		{"def f():\n    a\n    ...\n", "app.py\n<<<<<<< SEARCH\na\n...\n=======\nb\n...\n>>>>>>> REPLACE\n"},
		{"", "app.py\n<<<<<<< SEARCH\n=======\nnew\n>>>>>>> REPLACE\n"},
		{"a\n", "<<<< SEARCH\n"},
		{"a\nb\n", "--- a/app.py\n+++ b/app.py\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"},
		{"a\n\n\nb\n", "   app.py\n   ```\n   <<<<<<< SEARCH\n\n\n=======\n>>>>>>> REPLACE\n"},
	} {
		f.Add([]byte(c.file), c.resp)
	}
}

// FuzzApply: never a panic; the input is never modified; a success's diff
// turns the input into its content; a refusal is an *Error that Resume
// accepts.
func FuzzApply(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, content []byte, response string) {
		orig := bytes.Clone(content)
		res, err := Apply("app.py", content, response)
		if !bytes.Equal(orig, content) {
			t.Fatal("the input was modified")
		}
		if err != nil {
			e := AsError(err)
			if e == nil {
				t.Fatalf("refusal is not an *Error: %v", err)
			}
			if e.Error() == "" {
				t.Fatal("empty report")
			}
			_, _ = Resume(e, response)
			return
		}
		checkRoundTrip(t, content, res)
	})
}

// FuzzApplyDirect covers the unified-diff reader too.
func FuzzApplyDirect(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, content []byte, instruction string) {
		orig := bytes.Clone(content)
		res, err := ApplyDirect("app.py", content, instruction)
		if !bytes.Equal(orig, content) {
			t.Fatal("the input was modified")
		}
		if err != nil {
			if AsError(err) == nil {
				t.Fatalf("refusal is not an *Error: %v", err)
			}
			return
		}
		checkRoundTrip(t, content, res)
	})
}

// FuzzDiff: our own strict applier inverts Diff (for contents without
// carriage returns, whose per-line endings it normalizes).
func FuzzDiff(f *testing.F) {
	for _, c := range diffCases {
		f.Add([]byte(c.old), []byte(c.new))
	}
	f.Fuzz(func(t *testing.T, old, new []byte) {
		d := Diff("f", old, new)
		if bytes.Equal(old, new) != (d == "") {
			t.Fatalf("diff %q for %q -> %q", d, old, new)
		}
		if d == "" || bytes.ContainsRune(old, '\r') || bytes.ContainsRune(new, '\r') {
			return
		}
		res, err := applyUnified("f", old, d)
		if err != nil {
			t.Fatalf("own diff refused: %v\n%s", err, d)
		}
		if !bytes.Equal(res.Content, new) {
			t.Fatalf("own diff gives %q, want %q\n%s", res.Content, new, d)
		}
	})
}

func checkRoundTrip(t *testing.T, content []byte, res Result) {
	t.Helper()
	if bytes.Equal(content, res.Content) {
		if res.Diff != "" {
			t.Fatalf("no change but a diff:\n%s", res.Diff)
		}
		return
	}
	if bytes.ContainsRune(content, '\r') || bytes.ContainsRune(res.Content, '\r') {
		return
	}
	back, err := applyUnified("app.py", content, res.Diff)
	if err != nil {
		t.Fatalf("the result's diff is refused: %v\n%s", err, res.Diff)
	}
	if !bytes.Equal(back.Content, res.Content) {
		t.Fatalf("the diff gives %q, the result is %q", back.Content, res.Content)
	}
}

// bigFile is about size bytes of distinct lines.
func bigFile(size int) (string, int) {
	var b strings.Builder
	n := 0
	for b.Len() < size {
		fmt.Fprintf(&b, "func f%06d(x int) int { return x * %d }\n", n, n)
		n++
	}
	return b.String(), n
}

func BenchmarkApply20Blocks1MiB(b *testing.B) {
	file, n := bigFile(1 << 20)
	var resp strings.Builder
	for i := range 20 {
		k := (i*n)/20 + 7
		fmt.Fprintf(&resp, "app.py\n```go\n<<<<<<< SEARCH\nfunc f%06d(x int) int { return x * %d }\nfunc f%06d(x int) int { return x * %d }\n=======\nfunc f%06d(x int) int { return x + %d }\n>>>>>>> REPLACE\n```\n\n", k, k, k+1, k+1, k, k)
	}
	content := []byte(file)
	b.SetBytes(int64(len(content)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := Apply("app.py", content, resp.String())
		if err != nil || len(res.Blocks) != 20 {
			b.Fatal(err)
		}
	}
}

// BenchmarkNearMatches is the worst case for a naive matcher: 20,000 lines
// that all look alike, a 1,000-line SEARCH that matches nowhere (exact,
// indented or elided), and the did-you-mean search after it.
func BenchmarkNearMatches(b *testing.B) {
	var f strings.Builder
	for i := range 20000 {
		if i%997 == 0 {
			f.WriteString("  x = 1\n")
		} else {
			f.WriteString("    x = 1\n")
		}
	}
	search := strings.Repeat("x = 1\n", 1000) + "y = 2\n"
	resp := "app.py\n<<<<<<< SEARCH\n" + search + "=======\nz\n>>>>>>> REPLACE\n"
	content := []byte(f.String())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Apply("app.py", content, resp); err == nil {
			b.Fatal("applied")
		}
	}
}

// BenchmarkNearMatchesIndent: the same lines, a SEARCH that matches only
// at a uniform indentation, in exactly one place.
func BenchmarkNearMatchesIndent(b *testing.B) {
	var f strings.Builder
	for i := range 20000 {
		if i == 15000 {
			f.WriteString("      y = 2\n")
		}
		f.WriteString("    x = 1\n")
	}
	resp := "app.py\n<<<<<<< SEARCH\n" + strings.Repeat("  x = 1\n", 500) + "    y = 2\n" + "=======\n    z = 3\n>>>>>>> REPLACE\n"
	content := []byte(f.String())
	b.ReportAllocs()
	for b.Loop() {
		res, err := Apply("app.py", content, resp)
		if err != nil || res.Blocks[0].Strategy != StrategyIndent {
			b.Fatal(err)
		}
	}
}
