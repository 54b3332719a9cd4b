package editblock

import (
	"reflect"
	"strings"
	"testing"
)

const unnamed = "<<<<<<< SEARCH\nport = 80\n=======\nport = 8080\n>>>>>>> REPLACE\n"

func focusTree() map[string]string {
	return map[string]string{"app/main.py": "import lib\nport = 80\n", "app/lib.py": "def f():\n    return 1\n"}
}

// A block that names no file edits the focus; a later named block still
// edits its own file.
func TestApplySetFocusTakesUnnamedBlocks(t *testing.T) {
	t.Parallel()
	in := focusTree()
	reply := unnamed + "\napp/lib.py\n```python\n<<<<<<< SEARCH\n    return 1\n=======\n    return 2\n>>>>>>> REPLACE\n```\n"
	cs, err := ApplySetFocus(treeOf(in), reply, "app/main.py")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"app/main.py": "import lib\nport = 8080\n", "app/lib.py": "def f():\n    return 2\n"}
	checkTrees(t, after(in, cs), want)
	if got := strings.Join(describe(cs), ", "); got != "modified app/lib.py, modified app/main.py" {
		t.Errorf("changes: %s", got)
	}
	if len(cs.Blocks) != 2 || cs.Blocks[0].Path != "app/main.py" {
		t.Errorf("reports: %+v", cs.Blocks)
	}
	checkGitApply(t, in, cs.Diff, want)
}

// Without a focus (none given, or one that is not in the tree) such a block
// is refused as ApplySet refuses it, with the same report.
func TestApplySetFocusWithoutFocusRefuses(t *testing.T) {
	t.Parallel()
	tree := treeOf(focusTree())
	_, plain := ApplySet(tree, unnamed)
	if AsError(plain) == nil || !strings.Contains(plain.Error(), "this block names no file") {
		t.Fatalf("ApplySet: %v", plain)
	}
	for _, focus := range []string{"", "app/missing.py"} {
		_, err := ApplySetFocus(tree, unnamed, focus)
		if AsError(err) == nil || err.Error() != plain.Error() {
			t.Errorf("focus %q: %v\nwant the report:\n%v", focus, err, plain)
		}
	}
}

// The focus follows a RENAME of the reply; after a DELETE there is none.
func TestApplySetFocusFollowsRename(t *testing.T) {
	t.Parallel()
	in := focusTree()
	cs, err := ApplySetFocus(treeOf(in), "<<<<<<< RENAME app/main.py -> app/server.py\n"+unnamed, "app/main.py")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(describe(cs), ", "); got != "renamed app/main.py -> app/server.py" {
		t.Fatalf("changes: %s", got)
	}
	if string(cs.Files[0].New) != "import lib\nport = 8080\n" {
		t.Errorf("content %q", cs.Files[0].New)
	}
	_, err = ApplySetFocus(treeOf(in), "<<<<<<< DELETE app/main.py\n"+unnamed, "app/main.py")
	if AsError(err) == nil || !strings.Contains(err.Error(), "this block names no file") {
		t.Errorf("after DELETE: %v", err)
	}
}

// ApplySet is ApplySetFocus without a focus, on every case of the corpus.
func TestApplySetIsApplySetFocusWithoutFocus(t *testing.T) {
	t.Parallel()
	for _, c := range loadMulti(t) {
		a, aerr := ApplySet(treeOf(c.in), c.response)
		b, berr := ApplySetFocus(treeOf(c.in), c.response, "")
		if !reflect.DeepEqual(a, b) || (aerr == nil) != (berr == nil) || (aerr != nil && aerr.Error() != berr.Error()) {
			t.Errorf("%s: ApplySet and ApplySetFocus(\"\") differ", c.name)
		}
	}
}

func cleared(files []FileChange) []FileChange {
	out := append([]FileChange(nil), files...)
	for i := range out {
		out[i].Diff = ""
	}
	return out
}

// A change set read back without its diffs renders the diff ApplySet
// gave: every kind of change, on both of the engine's paths (the CRLF file
// goes the line way), and git apply takes it.
func TestGitDiffOfStoredChangeSet(t *testing.T) {
	t.Parallel()
	in := map[string]string{
		"app/main.py":  "import lib\n\ndef main():\n    serve(port=80)\n\nmain()\n",
		"app/win.py":   "a = 1\r\nb = 2\r\n",
		"app/old.py":   "x = 1\n",
		"app/util.py":  "def u():\n    pass\n",
		"docs/note.md": "# Notes\n",
	}
	reply := "app/main.py\n```python\n<<<<<<< SEARCH\n    serve(port=80)\n=======\n    serve(port=8080)\n>>>>>>> REPLACE\n```\n" +
		"app/win.py\n```python\n<<<<<<< SEARCH\nb = 2\n=======\nb = 3\n>>>>>>> REPLACE\n```\n" +
		"app/new.py\n```python\n<<<<<<< SEARCH\n=======\nNEW = True\n>>>>>>> REPLACE\n```\n" +
		"<<<<<<< DELETE app/old.py\n<<<<<<< RENAME app/util.py -> app/utils.py\n" +
		"app/utils.py\n```python\n<<<<<<< SEARCH\n    pass\n=======\n    return 0\n>>>>>>> REPLACE\n```\n"
	cs, err := ApplySet(treeOf(in), reply)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(describe(cs), ", "); got != "modified app/main.py, created app/new.py, deleted app/old.py, renamed app/util.py -> app/utils.py, modified app/win.py" {
		t.Fatalf("changes: %s", got)
	}
	if got := GitDiff(cs.Files); got != cs.Diff {
		t.Errorf("GitDiff of the change set's files:\n%s\nwant:\n%s", got, cs.Diff)
	}
	got := GitDiff(cleared(cs.Files))
	if got != cs.Diff {
		t.Errorf("GitDiff without the diffs:\n%s\nwant:\n%s", got, cs.Diff)
	}
	checkGitApply(t, in, got, after(in, cs))
}

// Where lines near a block repeat, the fast path's diff and the whole-file
// diff may pair them differently (see GitDiff): a kept Diff is the very
// text, and a recomputed one still gives the same tree.
func TestGitDiffRecomputedWhereLinesRepeat(t *testing.T) {
	t.Parallel()
	in := map[string]string{"f.go": "func a() {\n\tx()\n\tstep()\n}\n\n}\n\n}\n\nfunc b() {\n\tlast()\n}\n"}
	reply := "f.go\n<<<<<<< SEARCH\n\tstep()\n=======\n}\n>>>>>>> REPLACE\n" +
		"f.go\n<<<<<<< SEARCH\n\tlast()\n=======\n\tlast()\n\tmore()\n>>>>>>> REPLACE\n"
	cs, err := ApplySet(treeOf(in), reply)
	if err != nil {
		t.Fatal(err)
	}
	if GitDiff(cs.Files) != cs.Diff {
		t.Errorf("a kept Diff is not the text given:\n%s", GitDiff(cs.Files))
	}
	re := GitDiff(cleared(cs.Files))
	if re != cs.Diff {
		t.Logf("recomputed diff pairs lines otherwise:\n%s\nApplySet's:\n%s", re, cs.Diff)
	}
	want := after(in, cs)
	checkGitApply(t, in, re, want)
	checkGitApply(t, in, cs.Diff, want)
}

func TestHasDirectives(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]bool{
		"<<<<<<< DELETE a.py\n":               true,
		"ok\n  <<<<<<< RENAME a.py -> b.py\n": true,
		"<<<<<<< DELETE\n":                    true, // malformed, but meant as an edit
		"`<<<<<<< DELETE a.py`\n":             true,
		"<<<<<<< SEARCH\n":                    false,
		"Should I DELETE a.py?\n":             false,
		"<<<< DELETE a.py\n":                  false,
	} {
		if got := HasDirectives(text); got != want {
			t.Errorf("HasDirectives(%q) = %v", text, got)
		}
	}
}

// GitDiff keeps a change's own Diff and fills in the others, in order.
func TestGitDiffKeepsGivenDiffs(t *testing.T) {
	t.Parallel()
	kept := "diff --git a/b.py b/b.py\n--- a/b.py\n+++ b/b.py\n@@ -1 +1 @@\n-x\n+y\n"
	got := GitDiff([]FileChange{
		{Op: Modified, Path: "b.py", OldPath: "b.py", Old: []byte("x\n"), New: []byte("y\n"), Diff: kept},
		{Op: Created, Path: "a.py", New: []byte("new\n")},
		{Op: Deleted, Path: "c.py", OldPath: "c.py", Old: []byte("gone\n")},
	})
	want := kept + "diff --git a/a.py b/a.py\nnew file mode 100644\n--- /dev/null\n+++ b/a.py\n@@ -0,0 +1,1 @@\n+new\n" +
		"diff --git a/c.py b/c.py\ndeleted file mode 100644\n--- a/c.py\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-gone\n"
	if got != want {
		t.Errorf("GitDiff:\n%s\nwant:\n%s", got, want)
	}
}
