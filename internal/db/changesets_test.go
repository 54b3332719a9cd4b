package db_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/fault"
)

// csProject is a project of its own on a fresh database, with helpers that
// write change sets of files whose content is a short string: the string is
// the blob key's tail, and known maps its digest back, so that a file's state
// reads as "path=content".
type csProject struct {
	t    *testing.T
	d    *db.DB
	id   string
	user db.User
}

var known sync.Map // sha256 -> content

func newCSProject(t *testing.T, telegramID int64) *csProject {
	t.Helper()
	ctx := context.Background()
	d := dbtest.New(t)
	u, _, err := db.EnsureUser(ctx, d.Pool, db.TelegramUser{TelegramID: telegramID, ChatID: telegramID}, 100)
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.CreateProject(ctx, d.Pool, u.ID, "p")
	if err != nil {
		t.Fatal(err)
	}
	return &csProject{t: t, d: d, id: p.ID, user: u}
}

// content is a version of path carrying s (BaseVersion 0: any state).
func content(path, s string) db.NewVersion {
	known.Store(sum(s), s)
	return db.NewVersion{Path: path, SHA256: sum(s), Size: int64(len(s)), BlobKey: "blob:" + s}
}

// edit replaces path's version base with s.
func edit(path, s string, base int) db.NewVersion {
	nv := content(path, s)
	nv.BaseVersion = base
	return nv
}

// create makes a new file (or one over a tombstone).
func create(path, s string) db.NewVersion {
	nv := content(path, s)
	nv.Create = true
	return nv
}

// remove deletes path, read at version base.
func remove(path string, base int) db.NewVersion {
	return db.NewVersion{Path: path, Delete: true, BaseVersion: base}
}

// rename moves from (read at base, content s) to to.
func rename(from, to, s string, base int) []db.NewVersion {
	nv := create(to, s)
	nv.RenamedFrom = from
	return []db.NewVersion{remove(from, base), nv}
}

func files(nvs ...any) []db.NewVersion {
	var out []db.NewVersion
	for _, x := range nvs {
		switch x := x.(type) {
		case db.NewVersion:
			out = append(out, x)
		case []db.NewVersion:
			out = append(out, x...)
		}
	}
	return out
}

// commit commits a change set through q (the pool when nil).
func (p *csProject) commitIn(q db.Querier, kind string, l db.ProjectLimits, nvs ...any) (db.ChangeSet, []db.FileVersion, error) {
	if q == nil {
		q = p.d.Pool
	}
	return db.CommitChangeSet(context.Background(), q, db.NewChangeSet{ProjectID: p.id, Kind: kind, Files: files(nvs...), Limits: l})
}

func (p *csProject) commit(kind string, nvs ...any) db.ChangeSet {
	p.t.Helper()
	cs, _, err := p.commitIn(nil, kind, db.ProjectLimits{}, nvs...)
	if err != nil {
		p.t.Fatalf("commit %s: %v", kind, err)
	}
	return cs
}

// state lists the live files as "path=content" by path, checking that each
// file's size, digest and current version's blob agree.
func (p *csProject) state() string {
	p.t.Helper()
	ctx := context.Background()
	fs, err := db.ListFiles(ctx, p.d.Pool, p.id)
	if err != nil {
		p.t.Fatal(err)
	}
	var out []string
	for _, f := range fs {
		c, ok := known.Load(f.SHA256)
		if !ok {
			p.t.Errorf("%s: unknown digest %s", f.Path, f.SHA256)
			continue
		}
		s := c.(string)
		v, err := db.GetFileVersion(ctx, p.d.Pool, p.id, f.Path, f.Version)
		if err != nil {
			p.t.Fatal(err)
		}
		if f.Size != int64(len(s)) || v.SHA256 != f.SHA256 || v.Size != f.Size || v.BlobKey != "blob:"+s || v.Deleted {
			p.t.Errorf("%s is inconsistent: file %+v, current version %+v", f.Path, f, v)
		}
		out = append(out, f.Path+"="+s)
	}
	return strings.Join(out, " ")
}

func (p *csProject) revision() int64 {
	p.t.Helper()
	r, err := db.ProjectRevision(context.Background(), p.d.Pool, p.id)
	if err != nil {
		p.t.Fatal(err)
	}
	return r
}

// counts reads the project's change sets and file versions.
func (p *csProject) counts() (changeSets, versions int) {
	p.t.Helper()
	err := p.d.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM change_sets WHERE project_id = $1),
		(SELECT count(*) FROM file_versions WHERE project_id = $1)`, p.id).Scan(&changeSets, &versions)
	if err != nil {
		p.t.Fatal(err)
	}
	return changeSets, versions
}

// ops lists a change set's versions as "path:op@version".
func ops(t *testing.T, q db.Querier, csID int64) string {
	t.Helper()
	vs, err := db.ChangeSetFiles(context.Background(), q, csID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range vs {
		if v.ChangeSetID == nil || *v.ChangeSetID != csID {
			t.Errorf("%s v%d: change set %v, want %d", v.Path, v.Version, v.ChangeSetID, csID)
		}
		out = append(out, fmt.Sprintf("%s:%s@%d", v.Path, v.Op(), v.Version))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// One change set modifies, creates, deletes and renames: one revision, a
// version per file with its op, and the readers skip the deleted files.
func TestChangeSetWritesEveryFileAsOneRevision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newCSProject(t, 21)
	p.commit(db.ChangeUpload, content("a", "a1"))
	p.commit(db.ChangeUpload, content("c", "c1"))
	p.commit(db.ChangeUpload, content("d", "dd1"))
	c3, err := db.ChangeSetAt(ctx, p.d.Pool, p.id, 3)
	if err != nil {
		t.Fatal(err)
	}
	p.commit(db.ChangeRefine, edit("a", "a2", 1))
	if r := p.revision(); r != 4 {
		t.Fatalf("revision %d after four change sets, want 4", r)
	}

	cs, vs, err := p.commitIn(nil, db.ChangeRefine, db.ProjectLimits{},
		edit("a", "a3", 2), create("b", "b1"), remove("c", 1), rename("d", "e", "dd1", 1))
	if err != nil {
		t.Fatal(err)
	}
	if cs.Kind != db.ChangeRefine || cs.BaseRevision != 4 || cs.ResultRevision != 5 || cs.ProjectID != p.id || cs.UndoneBy != nil {
		t.Errorf("change set %+v, want refine 4 -> 5", cs)
	}
	if r := p.revision(); r != 5 {
		t.Errorf("revision %d, want 5", r)
	}
	if at, err := db.ChangeSetAt(ctx, p.d.Pool, p.id, 5); err != nil || at.ID != cs.ID {
		t.Errorf("ChangeSetAt(5) = %+v, %v; want %d", at, err, cs.ID)
	}
	if len(vs) != 5 || vs[0].Path != "a" || vs[4].Path != "e" {
		t.Errorf("CommitChangeSet returned %d versions: %+v", len(vs), vs)
	}
	if got, want := ops(t, p.d.Pool, cs.ID), "a:modified@3 b:created@1 c:deleted@2 d:deleted@2 e:renamed@1"; got != want {
		t.Errorf("change set files: %s\nwant %s", got, want)
	}
	if got, want := p.state(), "a=a3 b=b1 e=dd1"; got != want {
		t.Errorf("files: %s, want %s", got, want)
	}
	for _, path := range []string{"c", "d"} {
		if _, err := db.FileByPath(ctx, p.d.Pool, p.id, path); !errors.Is(err, fault.ErrNotFound) {
			t.Errorf("FileByPath(%s) after its deletion: %v", path, err)
		}
	}
	u, err := db.GetProjectUsage(ctx, p.d.Pool, p.id)
	if err != nil || u.Files != 3 || u.Bytes != int64(len("a3b1dd1")) {
		t.Errorf("usage %+v, %v; want 3 files, 7 bytes", u, err)
	}
	// The tombstone is a version without content; e remembers where it came from.
	cv, err := db.GetFileVersion(ctx, p.d.Pool, p.id, "c", 2)
	if err != nil || !cv.Deleted || cv.Size != 0 || cv.BlobKey != "" || cv.Parent == nil || *cv.Parent != 1 {
		t.Errorf("c's tombstone: %+v, %v", cv, err)
	}
	ev, _ := db.GetFileVersion(ctx, p.d.Pool, p.id, "e", 1)
	if ev.RenamedFrom != "d" || ev.SHA256 != sum("dd1") || ev.Parent != nil {
		t.Errorf("e: %+v", ev)
	}
	// The history of d is the upload and the rename; of e the rename.
	css, byCS, total, err := db.ListChangeSets(ctx, p.d.Pool, p.id, "d", 10)
	if err != nil || total != 2 || len(css) != 2 || css[0].ID != cs.ID || css[1].ID != c3.ID || len(byCS[cs.ID]) != 5 {
		t.Errorf("ListChangeSets(d) = %d of %d, %v", len(css), total, err)
	}
	if _, _, total, _ := db.ListChangeSets(ctx, p.d.Pool, p.id, "e", 10); total != 1 {
		t.Errorf("ListChangeSets(e): %d, want 1", total)
	}
	if css, _, total, _ := db.ListChangeSets(ctx, p.d.Pool, p.id, "", 2); total != 5 || len(css) != 2 || css[0].ResultRevision != 5 {
		t.Errorf("ListChangeSets: %d of %d", len(css), total)
	}

	// A deleted file comes back by a Create, or by an upload; its first
	// content after the tombstone starts a fresh lineage.
	cs6 := p.commit(db.ChangeRefine, create("c", "c2"), content("d", "dd2"))
	if got, want := ops(t, p.d.Pool, cs6.ID), "c:created@3 d:created@3"; got != want {
		t.Errorf("re-creation: %s, want %s", got, want)
	}
	if got, want := p.state(), "a=a3 b=b1 c=c2 d=dd2 e=dd1"; got != want {
		t.Errorf("files: %s, want %s", got, want)
	}
}

// A change set that cannot write one file writes none, whether it is given
// the pool or the caller's transaction; in a transaction, the caller can go
// on and commit other work.
func TestChangeSetIsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newCSProject(t, 22)
	p.commit(db.ChangeUpload, content("a", "a1"), content("b", "b1"), content("c", "c1"))
	p.commit(db.ChangeRefine, remove("c", 1))
	sets, versions := p.counts()

	refused := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, db.ErrVersionMismatch) || !errors.Is(err, fault.ErrConflict) || !fault.IsPermanent(err) {
			t.Errorf("%s: %v, want a permanent version mismatch and conflict", name, err)
		}
		if s, v := p.counts(); s != sets || v != versions {
			t.Errorf("%s wrote %d change sets and %d versions", name, s-sets, v-versions)
		}
		if r := p.revision(); r != 2 {
			t.Errorf("%s: revision %d, want 2", name, r)
		}
		if got := p.state(); got != "a=a1 b=b1" {
			t.Errorf("%s: files %s", name, got)
		}
	}
	cases := []struct {
		name  string
		files []any
	}{
		{"a stale base", []any{edit("a", "a2", 1), edit("b", "b2", 7)}},
		{"a create over a live file", []any{edit("a", "a2", 1), create("b", "b2")}},
		{"a delete of a deleted file", []any{edit("a", "a2", 1), remove("c", 2)}},
		{"a delete of a deleted file, any version", []any{edit("a", "a2", 1), remove("c", 0)}},
		{"an edit of a deleted file", []any{edit("a", "a2", 1), edit("c", "c2", 2)}},
		{"a delete of a missing file", []any{create("n", "n1"), remove("zz", 0)}},
		{"an edit of a missing file", []any{create("n", "n1"), edit("zz", "z", 1)}},
	}
	for _, c := range cases {
		_, _, err := p.commitIn(nil, db.ChangeRefine, db.ProjectLimits{}, c.files...)
		refused(c.name+" (pool)", err)

		// In the caller's transaction: refused, and the transaction goes on.
		var inner error
		err = p.d.InTx(ctx, func(tx pgx.Tx) error {
			_, _, inner = p.commitIn(tx, db.ChangeRefine, db.ProjectLimits{}, c.files...)
			if inner == nil {
				return nil
			}
			// Still usable: a query, then work that is rolled back below.
			if _, err := db.FileByPath(ctx, tx, p.id, "a"); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Errorf("%s (transaction): the outer transaction failed: %v", c.name, err)
		}
		refused(c.name+" (transaction)", inner)
	}
	if _, _, err := p.commitIn(nil, db.ChangeRefine, db.ProjectLimits{}); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("an empty change set: %v, want ErrInvalid", err)
	}

	// A refused change set inside a transaction that then commits other
	// work: only that work is written.
	err := p.d.InTx(ctx, func(tx pgx.Tx) error {
		if _, _, err := p.commitIn(tx, db.ChangeRefine, db.ProjectLimits{}, edit("a", "a2", 1), edit("b", "b2", 9)); err == nil {
			t.Error("the stale change set committed")
		}
		_, err := db.CommitVersion(ctx, tx, db.NewVersion{ProjectID: p.id, Path: "n", SHA256: sum("n1"), Size: 2,
			BlobKey: "blob:n1", Source: db.SourceUpload})
		return err
	})
	if err != nil {
		t.Fatalf("the outer transaction: %v", err)
	}
	if got := p.state(); got != "a=a1 b=b1 n=n1" {
		t.Errorf("files %s, want a=a1 b=b1 n=n1", got)
	}
	if r := p.revision(); r != 3 {
		t.Errorf("revision %d, want 3", r)
	}
	if s, v := p.counts(); s != sets+1 || v != versions+1 {
		t.Errorf("%d change sets and %d versions written, want 1 and 1", s-sets, v-versions)
	}
	cs, err := db.ChangeSetAt(ctx, p.d.Pool, p.id, 3)
	if err != nil || cs.Kind != db.ChangeUpload || cs.BaseRevision != 2 {
		t.Errorf("the committed change set: %+v, %v", cs, err)
	}
}

var errRollback = errors.New("roll back")

// Change sets of one project are serialized: racing writers of different
// files both commit, at consecutive revisions; racing writers of one file
// from one base version: one commits, the other conflicts.
func TestChangeSetsRace(t *testing.T) {
	t.Parallel()
	p := newCSProject(t, 23)
	p.commit(db.ChangeUpload, content("a", "a1"))
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	css := make([]db.ChangeSet, n)
	for i := range n {
		wg.Go(func() {
			path := string(rune('b' + i))
			css[i], _, errs[i] = p.commitIn(nil, db.ChangeUpload, db.ProjectLimits{}, content(path, path+"1"))
		})
	}
	wg.Wait()
	revs := map[int64]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("writer %d: %v", i, errs[i])
		}
		if css[i].ResultRevision != css[i].BaseRevision+1 {
			t.Errorf("change set %+v", css[i])
		}
		revs[css[i].ResultRevision] = true
	}
	for r := int64(2); r <= n+1; r++ {
		if !revs[r] {
			t.Errorf("no change set at revision %d: %v", r, revs)
		}
	}
	wins := 0
	for i := range n {
		wg.Go(func() {
			css[i], _, errs[i] = p.commitIn(nil, db.ChangeRefine, db.ProjectLimits{}, edit("a", "a"+string(rune('2'+i)), 1),
				content("z"+string(rune('0'+i)), "z"))
		})
	}
	wg.Wait()
	for i := range n {
		switch {
		case errs[i] == nil:
			wins++
		case !errors.Is(errs[i], db.ErrVersionMismatch):
			t.Errorf("writer %d: %v", i, errs[i])
		}
	}
	if wins != 1 {
		t.Errorf("%d writers of a from version 1 committed, want 1", wins)
	}
	if r := p.revision(); r != n+2 {
		t.Errorf("revision %d, want %d", r, n+2)
	}
	if fs, _ := db.ListFiles(context.Background(), p.d.Pool, p.id); len(fs) != 1+n+1 {
		t.Errorf("%d files, want %d (the losers' z files are not written)", len(fs), n+2)
	}
}

// The limits judge a change set by its net effect on the project.
func TestChangeSetLimits(t *testing.T) {
	t.Parallel()
	p := newCSProject(t, 24)
	p.commit(db.ChangeUpload, content("a", "aaaaaaaa"), content("b", "bb")) // 2 files, 10 bytes
	over := db.ProjectLimits{MaxFiles: 2, MaxBytes: 5}
	// Over the bytes already: moving bytes between files is allowed.
	if _, _, err := p.commitIn(nil, db.ChangeRefine, over, edit("a", "aaaaa", 1), edit("b", "bbbbb", 1)); err != nil {
		t.Fatalf("a change that moves bytes: %v", err)
	}
	// Growing past the bytes is not.
	_, _, err := p.commitIn(nil, db.ChangeRefine, over, edit("a", "aaaaaa", 2), edit("b", "bbbbb!", 2))
	e := db.AsProjectFull(err)
	if e == nil || !errors.Is(err, fault.ErrTooLarge) || !fault.IsPermanent(err) || e.TooManyFiles() || e.NewFile ||
		e.Usage != (db.ProjectUsage{Files: 2, Bytes: 10}) || e.After != (db.ProjectUsage{Files: 2, Bytes: 12}) {
		t.Errorf("growing past the bytes: %v (%+v)", err, e)
	}
	// A rename plus a new file that deletes another keeps the file count.
	if _, _, err := p.commitIn(nil, db.ChangeRefine, db.ProjectLimits{MaxFiles: 2},
		rename("a", "a2", "aaaaa", 2), remove("b", 2), create("c", "c")); err != nil {
		t.Fatalf("a change that keeps the file count: %v", err)
	}
	_, _, err = p.commitIn(nil, db.ChangeRefine, db.ProjectLimits{MaxFiles: 2}, edit("c", "cc", 1), create("d", "d"))
	if e := db.AsProjectFull(err); e == nil || !e.TooManyFiles() || !e.NewFile || !fault.IsPermanent(err) || e.After.Files != 3 {
		t.Errorf("a third file: %v", err)
	}
	if got := p.state(); got != "a2=aaaaa c=c" {
		t.Errorf("files %s, want a2=aaaaa c=c (the refused change sets write nothing)", got)
	}
	if r := p.revision(); r != 3 {
		t.Errorf("revision %d, want 3", r)
	}
	// Without limits, anything goes.
	if _, _, err := p.commitIn(nil, db.ChangeRefine, db.ProjectLimits{}, create("d", "d"), create("e", "e")); err != nil {
		t.Errorf("no limits: %v", err)
	}
}
