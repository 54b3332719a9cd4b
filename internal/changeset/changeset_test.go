package changeset_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/changeset"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/fault"
)

const (
	aGo = "package a\n\nfunc A() int {\n\treturn 1\n}\n"
	bGo = "package a\n\n// B does b.\nfunc B() {}\n"
	cGo = "package a\n\nfunc C() {}\n"
	eGo = "package a\n\nfunc E() string {\n\treturn \"e\"\n}\n"
)

func startTree() map[string]string {
	return map[string]string{"a.go": aGo, "b.go": bGo, "c.go": cGo, "e.go": eGo}
}

// mixedReply modifies a.go, deletes c.go, renames e.go to d.go and edits
// it there, and creates new/n.go; b.go stays.
const mixedReply = "Here is the change.\n\n" +
	"a.go\n```go\n<<<<<<< SEARCH\n\treturn 1\n=======\n\treturn 2\n>>>>>>> REPLACE\n```\n\n" +
	"<<<<<<< DELETE c.go\n" +
	"<<<<<<< RENAME e.go -> d.go\n\n" +
	"d.go\n```go\n<<<<<<< SEARCH\n\treturn \"e\"\n=======\n\treturn \"d\"\n>>>>>>> REPLACE\n```\n\n" +
	"new/n.go\n```go\n<<<<<<< SEARCH\n=======\npackage n\n\nfunc N() {}\n>>>>>>> REPLACE\n```\n"

func mixedResult() map[string]string {
	return map[string]string{
		"a.go":     strings.Replace(aGo, "return 1", "return 2", 1),
		"b.go":     bGo,
		"d.go":     strings.Replace(eGo, `return "e"`, `return "d"`, 1),
		"new/n.go": "package n\n\nfunc N() {}\n",
	}
}

// A reply that modifies, creates, deletes and renames is one change set:
// its records say what happened to each file, the bytes read back are the
// new contents, and its diff read back from storage takes the old tree to
// the new one under the real git apply.
func TestStoreCommitModifyCreateDeleteRename(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.upload(startTree())
	s := e.load()
	if s.Revision != 1 || len(s.Files) != 4 {
		t.Fatalf("snapshot at r%d with %d files", s.Revision, len(s.Files))
	}
	set, err := editblock.ApplySetFocus(s, mixedReply, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Store(e.ctx, set, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	var writes []string
	for _, w := range st.Writes {
		writes = append(writes, fmt.Sprintf("%s create=%v delete=%v base=%d from=%q", w.Path, w.Create, w.Delete, w.BaseVersion, w.RenamedFrom))
	}
	// Deletions first (a rename's old path too), so that a path freed by
	// the reply can be taken again in it.
	want := []string{
		`c.go create=false delete=true base=1 from=""`,
		`e.go create=false delete=true base=1 from=""`,
		`a.go create=false delete=false base=1 from=""`,
		`d.go create=true delete=false base=0 from="e.go"`,
		`new/n.go create=true delete=false base=0 from=""`,
	}
	if strings.Join(writes, "\n") != strings.Join(want, "\n") {
		t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(writes, "\n"), strings.Join(want, "\n"))
	}
	if before := e.counts(); before != "r1, 1 change sets, 4 versions" {
		t.Errorf("Store wrote records: %s", before)
	}
	cs, vs, err := s.Commit(e.ctx, e.d.Pool, st, db.ChangeRefine, nil, "rework the package", db.ProjectLimits{MaxFiles: 10, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if cs.Kind != db.ChangeRefine || cs.BaseRevision != 1 || cs.ResultRevision != 2 || cs.Summary != "rework the package" || len(vs) != 5 {
		t.Errorf("change set %+v with %d versions", cs, len(vs))
	}
	if got := e.ops(cs.ID); got != "a.go:modified@2 c.go:deleted@2 d.go:renamed@1<e.go e.go:deleted@2 new/n.go:created@1" {
		t.Errorf("ops = %s", got)
	}
	sameTree(t, "after the commit", e.state(), mixedResult())
	// A renamed or modified file keeps its content type; a new one is text.
	types := map[string]string{}
	fs, _ := db.ListFiles(e.ctx, e.d.Pool, e.pid)
	for _, f := range fs {
		types[f.Path] = f.ContentType
	}
	if types["a.go"] != goType || types["d.go"] != goType || types["new/n.go"] != "text/plain; charset=utf-8" {
		t.Errorf("content types %v", types)
	}

	// Read back: one change per file, the rename folded into one.
	fcs, err := changeset.Changes(e.ctx, e.d.Pool, e.blobs, e.pid, cs.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fc := range fcs {
		got = append(got, fmt.Sprintf("%s %s<%s old=%q new=%q", fc.Op, fc.Path, fc.OldPath, fc.Old, fc.New))
	}
	res := mixedResult()
	wantFC := []string{
		fmt.Sprintf("modified a.go<a.go old=%q new=%q", aGo, res["a.go"]),
		fmt.Sprintf("deleted c.go<c.go old=%q new=%q", cGo, ""),
		fmt.Sprintf("renamed d.go<e.go old=%q new=%q", eGo, res["d.go"]),
		fmt.Sprintf("created new/n.go< old=%q new=%q", "", res["new/n.go"]),
	}
	if strings.Join(got, "\n") != strings.Join(wantFC, "\n") {
		t.Errorf("Changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantFC, "\n"))
	}
	diff, err := changeset.Diff(e.ctx, e.d.Pool, e.blobs, e.pid, cs.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"rename from e.go\nrename to d.go", "deleted file mode", "new file mode", "--- /dev/null\n+++ b/new/n.go"} {
		if !strings.Contains(diff, w) {
			t.Errorf("diff lacks %q:\n%s", w, diff)
		}
	}
	sameTree(t, "git apply of the stored diff", gitApply(t, startTree(), diff), mixedResult())
	sameTree(t, "git apply of the reply's diff", gitApply(t, startTree(), set.Diff), mixedResult())
	if sum := changeset.Summary(changeset.Stats(diff)); sum != "a.go (+1 −1), c.go (deleted), d.go (from e.go, +1 −1), new/n.go (new, +3)" {
		t.Errorf("Summary = %q", sum)
	}
}

// Store refuses a file over the limit (a new one or a grown one) with a
// TooLargeError that is fault.ErrTooLarge, and writes no record; a file of
// exactly the limit is taken.
func TestStoreRefusesTooLargeFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.upload(startTree())
	before := e.counts()
	big := strings.Repeat("x", 99) + "\n" // 100 bytes
	for _, tt := range []struct {
		name, reply, path string
		size              int64
	}{
		{"created", "big.txt\n<<<<<<< SEARCH\n=======\n" + big + ">>>>>>> REPLACE\n", "big.txt", 100},
		{"grown", "b.go\n<<<<<<< SEARCH\nfunc B() {}\n=======\nfunc B() {}\n// " + big + ">>>>>>> REPLACE\n", "b.go", int64(len(bGo)) + 103},
	} {
		s := e.load()
		set, err := editblock.ApplySetFocus(s, "a.go\n<<<<<<< SEARCH\n\treturn 1\n=======\n\treturn 3\n>>>>>>> REPLACE\n"+tt.reply, "")
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		_, err = s.Store(e.ctx, set, 99)
		var tl *changeset.TooLargeError
		if !errors.As(err, &tl) || !errors.Is(err, fault.ErrTooLarge) {
			t.Fatalf("%s: Store = %v, want a TooLargeError", tt.name, err)
		}
		if tl.Path != tt.path || tl.Size != tt.size || tl.Max != 99 {
			t.Errorf("%s: %+v", tt.name, *tl)
		}
		if !strings.Contains(err.Error(), tt.path) {
			t.Errorf("%s: %q does not name the file", tt.name, err)
		}
		if after := e.counts(); after != before {
			t.Errorf("%s: a refused Store wrote records: %s, was %s", tt.name, after, before)
		}
	}
	// Exactly the limit is allowed.
	s := e.load()
	set, err := editblock.ApplySetFocus(s, "big.txt\n<<<<<<< SEARCH\n=======\n"+big+">>>>>>> REPLACE\n", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store(e.ctx, set, 100); err != nil {
		t.Errorf("a file of exactly the limit: %v", err)
	}
}

// A commit after a concurrent change to one of its files is a conflict
// that writes nothing and leaves the caller's transaction usable; the
// same reply applied to a new snapshot then commits, keeping both changes.
func TestCommitConflictThenReapply(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.upload(startTree())
	const reply = "a.go\n<<<<<<< SEARCH\n\treturn 1\n=======\n\treturn 2\n>>>>>>> REPLACE\n\n" +
		"b.go\n<<<<<<< SEARCH\nfunc B() {}\n=======\nfunc B() { println() }\n>>>>>>> REPLACE\n"
	s := e.load()
	set, err := editblock.ApplySetFocus(s, reply, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Store(e.ctx, set, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Meanwhile, another change of b.go (another line).
	other, _ := e.apply("b.go\n<<<<<<< SEARCH\n// B does b.\n=======\n// B does b, really.\n>>>>>>> REPLACE\n")
	docsBefore, before := e.docs(), e.counts()

	err = e.d.InTx(e.ctx, func(tx pgx.Tx) error {
		_, _, err := s.Commit(e.ctx, tx, st, db.ChangeRefine, nil, "stale", db.ProjectLimits{})
		if !changeset.IsConflict(err) {
			t.Errorf("commit on a stale snapshot: %v, want a conflict", err)
		}
		var ce *db.ChangedFileError
		if !errors.As(err, &ce) || strings.Join(ce.Paths, ",") != "b.go" {
			t.Errorf("conflict %v does not name b.go", err)
		}
		var n int
		if qerr := tx.QueryRow(e.ctx, `SELECT count(*) FROM change_sets`).Scan(&n); qerr != nil {
			t.Errorf("the transaction is unusable after a conflict: %v", qerr)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if after := e.counts(); after != before {
		t.Errorf("a conflicting commit wrote records: %s, was %s", after, before)
	}
	if got := e.docs(); fmt.Sprint(got) != fmt.Sprint(docsBefore) {
		t.Errorf("a conflicting commit indexed: %v, was %v", got, docsBefore)
	}
	if st := e.state(); st["a.go"] != aGo {
		t.Errorf("a.go changed by a refused commit: %q", st["a.go"])
	}

	// The same reply on a new snapshot: both changes kept.
	cs, _ := e.apply(reply)
	if cs.BaseRevision != other.ResultRevision {
		t.Errorf("re-applied change set on r%d, want r%d", cs.BaseRevision, other.ResultRevision)
	}
	want := startTree()
	want["a.go"] = strings.Replace(aGo, "return 1", "return 2", 1)
	want["b.go"] = "package a\n\n// B does b, really.\nfunc B() { println() }\n"
	sameTree(t, "after the re-applied reply", e.state(), want)
}

// A stale snapshot that creates a file created meanwhile, or deletes one
// changed meanwhile, conflicts too.
func TestCommitConflictOnCreateAndDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.upload(startTree())
	for _, tt := range []struct{ name, reply, meanwhile, path string }{
		{"create", "n.go\n<<<<<<< SEARCH\n=======\npackage a\n>>>>>>> REPLACE\n",
			"n.go\n<<<<<<< SEARCH\n=======\npackage b\n>>>>>>> REPLACE\n", "n.go"},
		{"delete", "<<<<<<< DELETE c.go\n",
			"c.go\n<<<<<<< SEARCH\nfunc C() {}\n=======\nfunc C() { _ = 1 }\n>>>>>>> REPLACE\n", "c.go"},
	} {
		s := e.load()
		set, err := editblock.ApplySetFocus(s, tt.reply, "")
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		st, err := s.Store(e.ctx, set, 0)
		if err != nil {
			t.Fatal(err)
		}
		e.apply(tt.meanwhile)
		before := e.counts()
		_, _, err = s.Commit(e.ctx, e.d.Pool, st, db.ChangeRefine, nil, "", db.ProjectLimits{})
		var ce *db.ChangedFileError
		if !changeset.IsConflict(err) || !errors.As(err, &ce) || strings.Join(ce.Paths, ",") != tt.path {
			t.Errorf("%s: commit = %v, want a conflict on %s", tt.name, err, tt.path)
		}
		if after := e.counts(); after != before {
			t.Errorf("%s: wrote %s, was %s", tt.name, after, before)
		}
	}
}
