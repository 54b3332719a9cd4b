package changeset_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/changeset"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/projectmap"
)

func statsOf(fcs ...editblock.FileChange) []changeset.FileStat {
	return changeset.Stats(editblock.GitDiff(fcs))
}

// Stats reads each file's op, paths and counts from a git-style diff;
// Summary says them in a line.
func TestStatsAndSummary(t *testing.T) {
	t.Parallel()
	stats := statsOf(
		editblock.FileChange{Op: editblock.Modified, Path: "a.go", OldPath: "a.go", Old: []byte("x\ny\nz\n"), New: []byte("x\nY\nY2\nz\n")},
		editblock.FileChange{Op: editblock.Created, Path: "b.go", New: []byte("1\n2\n3\n")},
		editblock.FileChange{Op: editblock.Deleted, Path: "c.go", OldPath: "c.go", Old: []byte("q\nr\n")},
		editblock.FileChange{Op: editblock.Renamed, Path: "d.go", OldPath: "e.go", Old: []byte("same\n"), New: []byte("same\n")},
		editblock.FileChange{Op: editblock.Renamed, Path: "f/g.go", OldPath: "g.go", Old: []byte("1\n2\n"), New: []byte("1\n3\n")},
		editblock.FileChange{Op: editblock.Modified, Path: "h.go", OldPath: "h.go", Old: []byte("1\n2\n3\n"), New: []byte("1\n")},
	)
	var got []string
	for _, s := range stats {
		got = append(got, fmt.Sprintf("%s %s<%s +%d -%d", s.Op, s.Path, s.OldPath, s.Added, s.Removed))
	}
	want := []string{"modified a.go<a.go +2 -1", "created b.go< +3 -0", "deleted c.go<c.go +0 -2", "renamed d.go<e.go +0 -0",
		"renamed f/g.go<g.go +1 -1", "modified h.go<h.go +0 -2"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Stats:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s := changeset.Summary(stats); s != "a.go (+2 −1), b.go (new, +3), c.go (deleted), d.go (from e.go), f/g.go (from g.go, +1 −1), h.go (−2)" {
		t.Errorf("Summary = %q", s)
	}
	if s := changeset.Summary(nil); s != "" {
		t.Errorf("Summary(nil) = %q", s)
	}
	if s := changeset.Stats(""); len(s) != 0 {
		t.Errorf("Stats(\"\") = %+v", s)
	}
}

// A changed line whose text starts with "--" or "++" (an SQL or Lua
// comment, a Markdown rule, "++i;") is a line of the hunk, not a file
// header: it counts.
func TestStatsCountsLinesThatLookLikeHeaders(t *testing.T) {
	t.Parallel()
	stats := statsOf(
		editblock.FileChange{Op: editblock.Modified, Path: "schema.sql", OldPath: "schema.sql",
			Old: []byte("-- version 1\nCREATE TABLE t (id int);\n"), New: []byte("-- version 2\nCREATE TABLE t (id int);\n")},
		editblock.FileChange{Op: editblock.Modified, Path: "loop.c", OldPath: "loop.c",
			Old: []byte("int i;\ni += 1;\n"), New: []byte("int i;\n++i;\n")},
		editblock.FileChange{Op: editblock.Modified, Path: "README.md", OldPath: "README.md",
			Old: []byte("# T\n---\ntext\n"), New: []byte("# T\ntext\n")},
	)
	got := changeset.Summary(stats)
	if want := "schema.sql (+1 −1), loop.c (+1 −1), README.md (−1)"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
}

// Undo reverts a change set whole and keeps the index: the created file's
// document goes, the files it brings back are left for Refresh; its diff
// takes the changed tree back under git apply. Redo brings the change back;
// a second redo, or one after a new change, has nothing to redo.
func TestUndoRedoKeepsTheIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := changeset.Undo(e.ctx, e.d.Pool, e.pid, db.ProjectLimits{}); !errors.Is(err, db.ErrNothingToUndoProject) {
		t.Errorf("Undo of an empty project: %v", err)
	}
	e.upload(startTree())
	if _, err := projectmap.Refresh(e.ctx, e.d.Pool, e.pid, e.load()); err != nil {
		t.Fatal(err)
	}
	cs, _ := e.apply(mixedReply)
	if d := e.docs(); !has(d, "new/n.go") || !has(d, "d.go") || has(d, "c.go") || has(d, "e.go") {
		t.Fatalf("after the change the index has %v", d)
	}
	changed := e.state()

	rv, err := changeset.Undo(e.ctx, e.d.Pool, e.pid, db.ProjectLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if rv.Target.ID != cs.ID || rv.ChangeSet.Kind != db.ChangeUndo || rv.ChangeSet.Undoes == nil || *rv.ChangeSet.Undoes != cs.ID ||
		rv.ChangeSet.ResultRevision != 3 || len(rv.Files) != 5 {
		t.Errorf("undo %+v of %+v with %d files", rv.ChangeSet, rv.Target, len(rv.Files))
	}
	sameTree(t, "after the undo", e.state(), startTree())
	d := e.docs()
	if has(d, "new/n.go") || has(d, "d.go") {
		t.Errorf("after the undo the index keeps the documents of files it deleted: %v", d)
	}
	stale, err := db.StaleSearchDocs(e.ctx, e.d.Pool, e.pid)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range stale {
		names = append(names, f.Path)
	}
	if strings.Join(names, " ") != "a.go c.go e.go" {
		t.Errorf("stale after the undo: %v, want the files it brought back", names)
	}
	if n, err := projectmap.Refresh(e.ctx, e.d.Pool, e.pid, e.load()); err != nil || n != 3 {
		t.Errorf("Refresh indexed %d, %v", n, err)
	}
	diff, err := changeset.Diff(e.ctx, e.d.Pool, e.blobs, e.pid, rv.ChangeSet.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameTree(t, "git apply of the undo's diff", gitApply(t, changed, diff), startTree())

	rd, err := changeset.Redo(e.ctx, e.d.Pool, e.pid, db.ProjectLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if rd.Target.ID != rv.ChangeSet.ID || rd.ChangeSet.Kind != db.ChangeRedo {
		t.Errorf("redo %+v of %+v", rd.ChangeSet, rd.Target)
	}
	sameTree(t, "after the redo", e.state(), changed)
	if d := e.docs(); has(d, "c.go") || has(d, "e.go") {
		t.Errorf("after the redo the index keeps deleted files: %v", d)
	}
	if _, err := changeset.Redo(e.ctx, e.d.Pool, e.pid, db.ProjectLimits{}); !errors.Is(err, db.ErrNothingToRedoProject) {
		t.Errorf("a second redo: %v", err)
	}
	diff, err = changeset.Diff(e.ctx, e.d.Pool, e.blobs, e.pid, rd.ChangeSet.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameTree(t, "git apply of the redo's diff", gitApply(t, startTree(), diff), changed)

	// The change set was undone, and redone: undoing it by id again is
	// refused; the last change (the redo) is what /undo takes.
	if _, err := changeset.UndoChangeSet(e.ctx, e.d.Pool, e.pid, cs.ID, db.ProjectLimits{}); !errors.Is(err, db.ErrAlreadyUndone) {
		t.Errorf("undo of an undone change set: %v", err)
	}
	if _, err := changeset.Undo(e.ctx, e.d.Pool, e.pid, db.ProjectLimits{}); err != nil {
		t.Fatal(err)
	}
	e.apply("b.go\n<<<<<<< SEARCH\nfunc B() {}\n=======\nfunc B() { _ = 2 }\n>>>>>>> REPLACE\n")
	if _, err := changeset.Redo(e.ctx, e.d.Pool, e.pid, db.ProjectLimits{}); !errors.Is(err, db.ErrNothingToRedoProject) {
		t.Errorf("redo after a new change: %v", err)
	}
}

// A change set whose file changed since cannot be undone by id: a
// conflict naming the file, and nothing written.
func TestUndoChangeSetAfterLaterChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.upload(startTree())
	cs, _ := e.apply(mixedReply)
	e.apply("a.go\n<<<<<<< SEARCH\n\treturn 2\n=======\n\treturn 4\n>>>>>>> REPLACE\n")
	before := e.counts()
	_, err := changeset.UndoChangeSet(e.ctx, e.d.Pool, e.pid, cs.ID, db.ProjectLimits{})
	var ce *db.ChangedFileError
	if !changeset.IsConflict(err) || !errors.As(err, &ce) || strings.Join(ce.Paths, ",") != "a.go" {
		t.Errorf("undo after a later change of a.go: %v", err)
	}
	if after := e.counts(); after != before {
		t.Errorf("a refused undo wrote %s, was %s", after, before)
	}
	// /undo takes the later change first; then the first one undoes.
	if _, err := changeset.Undo(e.ctx, e.d.Pool, e.pid, db.ProjectLimits{}); err != nil {
		t.Fatal(err)
	}
	if _, err := changeset.UndoChangeSet(e.ctx, e.d.Pool, e.pid, cs.ID, db.ProjectLimits{}); err != nil {
		t.Fatalf("undo once the later change is undone: %v", err)
	}
	sameTree(t, "after both undos", e.state(), startTree())
}
