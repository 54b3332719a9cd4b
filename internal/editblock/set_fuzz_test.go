package editblock

import (
	"bytes"
	"testing"

	"github.com/devbot-hq/devbot/internal/storage"
)

// FuzzApplySet: never a panic; the tree is never modified; a refusal is an
// *Error with a report; a change set's paths are valid project paths, its
// files' contents are what the reply made, and each file's diff turns the
// old content into the new one.
func FuzzApplySet(f *testing.F) {
	for _, c := range []struct{ a, b, resp string }{
		{"x = 1\n", "y = 1\n", "a.py\n```\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n```\n<<<<<<< DELETE lib/b.py\n"},
		{"x\n", "y\n", "<<<<<<< RENAME a.py -> c/d.py\nc/d.py\n<<<<<<< SEARCH\nx\n=======\nz\n>>>>>>> REPLACE\n"},
		{"x\n", "y\n", "new.txt\n<<<<<<< SEARCH\n=======\nhello\n>>>>>>> REPLACE\nb.py\n<<<<<<< SEARCH\ny\n=======\n>>>>>>> REPLACE\n"},
		{"  a\n", "a\n", "missing.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n"},
		{"x", "y\r\n", "<<<<<<< DELETE a.py\na.py\n<<<<<<< SEARCH\n=======\nq\n>>>>>>> REPLACE\n"},
	} {
		f.Add([]byte(c.a), []byte(c.b), c.resp)
	}
	f.Fuzz(func(t *testing.T, a, b []byte, resp string) {
		tree := MapTree{"a.py": bytes.Clone(a), "lib/b.py": bytes.Clone(b)}
		cs, err := ApplySet(tree, resp)
		if !bytes.Equal(tree["a.py"], a) || !bytes.Equal(tree["lib/b.py"], b) {
			t.Fatal("the tree was modified")
		}
		if err != nil {
			if e := AsError(err); e == nil || e.Error() == "" {
				t.Fatalf("refusal is not an *Error with a report: %v", err)
			}
			return
		}
		for _, fc := range cs.Files {
			if fc.Op != Deleted {
				if err := storage.ValidatePath(fc.Path); err != nil && tree[fc.Path] == nil {
					t.Fatalf("%s %s: %v", fc.Op, fc.Path, err)
				}
			}
			switch fc.Op {
			case Modified, Renamed:
				if !bytes.Equal(fc.Old, tree[fc.OldPath]) {
					t.Fatalf("%s: Old is not the tree's content", fc.OldPath)
				}
			case Created:
				movedAway := false
				for _, o := range cs.Files {
					movedAway = movedAway || (o.Op == Renamed && o.OldPath == fc.Path)
				}
				if fc.Old != nil || (tree[fc.Path] != nil && !movedAway) {
					t.Fatalf("%s: created but it exists", fc.Path)
				}
			}
			if fc.Op == Modified && !bytes.ContainsRune(fc.Old, '\r') && !bytes.ContainsRune(fc.New, '\r') {
				d := fc.Diff[bytes.IndexByte([]byte(fc.Diff), '\n')+1:]
				back, err := applyUnified(fc.Path, fc.Old, d)
				if err != nil || !bytes.Equal(back.Content, fc.New) {
					t.Fatalf("%s: the diff does not give the new content (%v)\n%s", fc.Path, err, fc.Diff)
				}
			}
		}
	})
}
