package editblock

import (
	"bytes"
	"strings"
	"testing"
)

// applyLineWay applies response the way the engine did before the fast
// path: the line structures from the start.
func applyLineWay(path string, content []byte, response string) (Result, error) {
	d := newDoc(path, content)
	d.upgrade()
	return apply(path, content, d, response, false)
}

// checkSameAsLineWay: the fast path changes nothing but the cost: the same
// content, the same reports (strategies and lines), the same refusal; its
// diff turns the input into the content.
func checkSameAsLineWay(t *testing.T, content []byte, response string) {
	t.Helper()
	fast, ferr := Apply("app.py", content, response)
	slow, serr := applyLineWay("app.py", content, response)
	if (ferr == nil) != (serr == nil) {
		t.Fatalf("fast err %v, line way err %v", ferr, serr)
	}
	if ferr != nil {
		if ferr.Error() != serr.Error() {
			t.Fatalf("reports differ:\nfast %s\nline %s", ferr, serr)
		}
		return
	}
	if !bytes.Equal(fast.Content, slow.Content) {
		t.Fatalf("content differs:\nfast %q\nline %q", fast.Content, slow.Content)
	}
	if len(fast.Blocks) != len(slow.Blocks) {
		t.Fatalf("blocks %v vs %v", fast.Blocks, slow.Blocks)
	}
	for i := range fast.Blocks {
		if fast.Blocks[i] != slow.Blocks[i] {
			t.Fatalf("block %d: fast %+v, line way %+v", i, fast.Blocks[i], slow.Blocks[i])
		}
	}
	checkRoundTrip(t, content, fast)
}

func TestFastPathSameAsLineWay(t *testing.T) {
	t.Parallel()
	blk := func(s, r string) string {
		return "app.py\n<<<<<<< SEARCH\n" + s + "=======\n" + r + ">>>>>>> REPLACE\n"
	}
	file := strings.Repeat("x\n", 10) + "a\nb\n" + strings.Repeat("y\n", 10) + "c\n" + strings.Repeat("z\n", 10)
	for name, c := range map[string]struct{ file, resp string }{
		"one":               {file, blk("a\n", "A\nA2\n")},
		"two-far":           {file, blk("a\n", "A\n") + blk("c\n", "C\nC\nC\n")},
		"two-near-reverse":  {file, blk("c\n", "") + blk("a\nb\n", "q\n")},
		"match-in-replace":  {file, blk("a\n", "new\n") + blk("new\n", "newer\n")},
		"seam-match":        {file, blk("a\n", "k\n") + blk("k\nb\n", "m\n")},
		"made-ambiguous":    {file, blk("a\n", "c\n") + blk("c\n", "d\n")},
		"ambiguous":         {file, blk("x\n", "X\n")},
		"indent":            {"  def f():\n    pass\n" + file, blk("def f():\n  pass\n", "def g():\n  return\n")},
		"delete-all":        {"a\n", blk("a\n", "")},
		"adjacent":          {file, blk("a\n", "1\n") + blk("b\n", "2\n")},
		"first-line":        {file, blk("x\nx\nx\nx\nx\nx\nx\nx\nx\nx\na\n", "top\n")},
		"last-line":         {file, blk("c\nz\nz\nz\nz\nz\nz\nz\nz\nz\nz\n", "end\n")},
		"divider-content":   {"a\n=======\nb\n", blk("a\n=======\n", "q\n")},
		"overlap-refused":   {file, blk("a\nb\n", "1\n") + blk("b\ny\n", "2\n")},
		"append":            {file, blk("", "tail\n")},
		"no-final-newline":  {"a\nb", blk("a\n", "c\n")},
		"crlf":              {"a\r\nb\r\n", blk("a\n", "c\n")},
		"replaced-reappear": {file, blk("a\n", "zz\n") + blk("zz\n", "w\n")},
		"indent-after-edit": {"x\n  def f():\n    pass\n" + file, blk("x\n", "y\n") + blk("def f():\n  pass\n", "def g():\n\n  return\n")},
		"indent-twice":      {"  a1\n  b1\n    a1\n    b1\n", blk("a1\nb1\n", "c\n")},
		"indent-blank-line": {"  p\n\n  q\n", blk("p\n\nq\n", "r\n \ns\n")},
		"indent-in-replace": {"a\nb\n", blk("a\n", "  k\n  m\n") + blk("k\nm\n", "z\n")},
		"indent-seam":       {"  a\nb\n  c\n", blk("b\n", "") + blk("a\nc\n", "z\n")},
		"indent-tabs":       {"\tfunc() {\n\t\treturn 1\n\t}\n", blk("func() {\n\treturn 1\n}\n", "func() {\n\treturn 2\n}\n")},
		"indent-over":       {"a\n  b\n", blk("    b\n", "    c\n")},
	} {
		t.Run(name, func(t *testing.T) { checkSameAsLineWay(t, []byte(c.file), c.resp) })
	}
}

// FuzzFastPath compares the fast path with the line way on any input.
func FuzzFastPath(f *testing.F) {
	seedCorpus(f)
	f.Add([]byte("a\nb\nc\na\nb\n"), "app.py\n<<<<<<< SEARCH\nb\n=======\nq\n>>>>>>> REPLACE\napp.py\n<<<<<<< SEARCH\nc\na\n=======\nb\n>>>>>>> REPLACE\n")
	f.Add([]byte("  a\n  b\nc\n    a\n"), "app.py\n<<<<<<< SEARCH\na\nb\n=======\nq\n>>>>>>> REPLACE\napp.py\n<<<<<<< SEARCH\nc\n=======\n  a\n  b\n>>>>>>> REPLACE\n")
	f.Fuzz(func(t *testing.T, content []byte, response string) {
		checkSameAsLineWay(t, content, response)
	})
}

// TestFastPathTaken: an exact unique block does not build the line
// structures (the point of the fast path).
func TestFastPathTaken(t *testing.T) {
	t.Parallel()
	d := newDoc("app.py", []byte("a\nb\nc\n"))
	blocks, _, bad := parse("app.py\n<<<<<<< SEARCH\nb\n=======\nB\n>>>>>>> REPLACE\n", "app.py", false)
	if bad != nil {
		t.Fatal(bad)
	}
	if _, fail := d.apply(&blocks[0]); fail != nil || !d.fast || d.slow != nil {
		t.Fatalf("fail %v, fast %v", fail, d.fast)
	}
	d.finish()
	if got := string(d.bytes()); got != "a\nB\nc\n" || d.reps[0].Line != 2 {
		t.Fatalf("got %q, line %d", got, d.reps[0].Line)
	}
}
