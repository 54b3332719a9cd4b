package db_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
)

func (p *csProject) changeSet(id int64) db.ChangeSet {
	p.t.Helper()
	cs, err := db.GetChangeSet(context.Background(), p.d.Pool, p.id, id)
	if err != nil {
		p.t.Fatal(err)
	}
	return cs
}

func (p *csProject) undoTarget() db.ChangeSet {
	p.t.Helper()
	cs, err := db.UndoTarget(context.Background(), p.d.Pool, p.id)
	if err != nil {
		p.t.Fatalf("UndoTarget: %v", err)
	}
	return cs
}

func (p *csProject) redoTarget() db.ChangeSet {
	p.t.Helper()
	cs, err := db.RedoTarget(context.Background(), p.d.Pool, p.id)
	if err != nil {
		p.t.Fatalf("RedoTarget: %v", err)
	}
	return cs
}

// revert reverts the change set id (read afresh) as kind.
func (p *csProject) revert(id int64, kind string) db.ChangeSet {
	p.t.Helper()
	cs, _, err := db.RevertChangeSet(context.Background(), p.d.Pool, p.changeSet(id), kind, db.ProjectLimits{})
	if err != nil {
		p.t.Fatalf("revert %d as %s: %v", id, kind, err)
	}
	if cs.Kind != kind || cs.Undoes == nil || *cs.Undoes != id {
		p.t.Errorf("revert of %d: %+v", id, cs)
	}
	if t := p.changeSet(id); t.UndoneBy == nil || *t.UndoneBy != cs.ID {
		p.t.Errorf("change set %d: undone by %v, want %d", id, t.UndoneBy, cs.ID)
	}
	return cs
}

func (p *csProject) want(step, state string) {
	p.t.Helper()
	if got := p.state(); got != state {
		p.t.Errorf("after %s: files %s\n\twant %s", step, got, state)
	}
}

// /undo and /redo of the project: each reverts a whole change set (contents,
// creations, deletions, renames), and they chain: undo steps back through
// the change sets, redo forward through the undos, until a new change.
func TestProjectUndoRedoChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newCSProject(t, 31)
	c1 := p.commit(db.ChangeUpload, content("a", "a1"), content("c", "c1"), content("d", "dd1"))
	c2 := p.commit(db.ChangeRefine, edit("a", "a2", 1), create("b", "b1"), remove("c", 1), rename("d", "e", "dd1", 1))
	c3 := p.commit(db.ChangeRefine, edit("a", "a333", 2), edit("b", "b22", 1))
	p.want("C3", "a=a333 b=b22 e=dd1")
	if _, err := db.RedoTarget(ctx, p.d.Pool, p.id); !errors.Is(err, db.ErrNothingToRedoProject) || !fault.IsPermanent(err) {
		t.Errorf("RedoTarget before any undo: %v", err)
	}

	if u := p.undoTarget(); u.ID != c3.ID {
		t.Fatalf("UndoTarget = %d, want C3 (%d)", u.ID, c3.ID)
	}
	u3 := p.revert(c3.ID, db.ChangeUndo)
	p.want("undo C3", "a=a2 b=b1 e=dd1")
	if u3.BaseRevision != 3 || u3.ResultRevision != 4 {
		t.Errorf("undo of C3: %+v", u3)
	}
	if got, want := ops(t, p.d.Pool, u3.ID), "a:modified@4 b:modified@3"; got != want {
		t.Errorf("undo of C3 wrote %s, want %s", got, want)
	}

	if u := p.undoTarget(); u.ID != c2.ID {
		t.Fatalf("UndoTarget after undoing C3 = %d, want C2 (%d)", u.ID, c2.ID)
	}
	u2 := p.revert(c2.ID, db.ChangeUndo)
	p.want("undo C2", "a=a1 c=c1 d=dd1")
	u2vs, _ := db.ChangeSetFiles(ctx, p.d.Pool, u2.ID)
	deleted := map[string]bool{}
	for _, v := range u2vs {
		deleted[v.Path] = v.Deleted
	}
	if want := map[string]bool{"a": false, "b": true, "c": false, "d": false, "e": true}; !reflect.DeepEqual(deleted, want) {
		t.Errorf("undo of C2 deleted %v, want %v", deleted, want)
	}
	if u := p.undoTarget(); u.ID != c1.ID {
		t.Errorf("UndoTarget after undoing C2 = %d, want C1 (%d)", u.ID, c1.ID)
	}

	// Redo goes forward: the newest undo first.
	if r := p.redoTarget(); r.ID != u2.ID {
		t.Fatalf("RedoTarget = %d, want the undo of C2 (%d)", r.ID, u2.ID)
	}
	p.revert(u2.ID, db.ChangeRedo)
	p.want("redo of C2", "a=a2 b=b1 e=dd1")
	if r := p.redoTarget(); r.ID != u3.ID {
		t.Fatalf("RedoTarget after one redo = %d, want the undo of C3 (%d)", r.ID, u3.ID)
	}
	r3 := p.revert(u3.ID, db.ChangeRedo)
	p.want("redo of C3", "a=a333 b=b22 e=dd1")
	if _, err := db.RedoTarget(ctx, p.d.Pool, p.id); !errors.Is(err, db.ErrNothingToRedoProject) {
		t.Errorf("RedoTarget with every undo redone: %v", err)
	}

	// Undo takes the redo back; a new ordinary change ends the redo chain.
	if u := p.undoTarget(); u.ID != r3.ID {
		t.Fatalf("UndoTarget after the redos = %d, want the redo of C3 (%d)", u.ID, r3.ID)
	}
	u4 := p.revert(r3.ID, db.ChangeUndo)
	p.want("undo of the redo", "a=a2 b=b1 e=dd1")
	if r := p.redoTarget(); r.ID != u4.ID {
		t.Errorf("RedoTarget = %d, want %d", r.ID, u4.ID)
	}
	p.commit(db.ChangeUpload, content("x", "x1"))
	if _, err := db.RedoTarget(ctx, p.d.Pool, p.id); !errors.Is(err, db.ErrNothingToRedoProject) || !fault.IsPermanent(err) {
		t.Errorf("RedoTarget after a new change: %v", err)
	}
	if r := p.revision(); r != 9 {
		t.Errorf("revision %d after 4 changes, 3 undos and 2 redos, want 9", r)
	}
}

// An undo reverts a change set only if every file it touched is still as it
// left it, by content; otherwise it names the files that moved and writes
// nothing, leaving the caller's transaction usable.
func TestProjectUndoRefusesChangedFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newCSProject(t, 32)
	p.commit(db.ChangeUpload, content("a", "a1"), content("b", "b1"), content("c", "c1"))
	c2 := p.commit(db.ChangeRefine, edit("a", "a2", 1), edit("b", "b2", 1), remove("c", 1))
	p.commit(db.ChangeRefine, edit("b", "b3", 2), create("c", "c3"))
	sets, versions := p.counts()

	_, _, err := db.RevertChangeSet(ctx, p.d.Pool, p.changeSet(c2.ID), db.ChangeUndo, db.ProjectLimits{})
	var changed *db.ChangedFileError
	if !errors.As(err, &changed) || !reflect.DeepEqual(changed.Paths, []string{"b", "c"}) ||
		!errors.Is(err, db.ErrVersionMismatch) || !errors.Is(err, fault.ErrConflict) || !fault.IsPermanent(err) {
		t.Fatalf("undo of a change set whose files moved since: %v, want a permanent ChangedFileError naming b and c", err)
	}
	var inner error
	err = p.d.InTx(ctx, func(tx pgx.Tx) error {
		_, _, inner = db.RevertChangeSet(ctx, tx, p.changeSet(c2.ID), db.ChangeUndo, db.ProjectLimits{})
		nv := content("n", "n1")
		nv.ProjectID, nv.Source = p.id, db.SourceUpload
		_, err := db.CommitVersion(ctx, tx, nv)
		return err
	})
	if err != nil || !errors.As(inner, &changed) {
		t.Fatalf("in a transaction: the revert %v, the transaction %v", inner, err)
	}
	if s, v := p.counts(); s != sets+1 || v != versions+1 {
		t.Errorf("refused undos wrote %d change sets and %d versions, want only the upload's 1 and 1", s-sets-1, v-versions-1)
	}
	if cs := p.changeSet(c2.ID); cs.UndoneBy != nil {
		t.Errorf("C2 is marked undone by %d", *cs.UndoneBy)
	}

	// Changed back to the same content (c deleted again, b back to b2): the
	// undo goes through.
	p.commit(db.ChangeRefine, edit("b", "b2", 3), remove("c", 3))
	p.want("changing back", "a=a2 b=b2 n=n1")
	p.revert(c2.ID, db.ChangeUndo)
	p.want("undo of C2", "a=a1 b=b1 c=c1 n=n1")
}

// A change set is reverted once: a second undo of it, even with a stale
// copy of it whose files match again, writes nothing.
func TestRevertChangeSetOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newCSProject(t, 33)
	p.commit(db.ChangeUpload, content("a", "a1"))
	c2 := p.commit(db.ChangeRefine, edit("a", "a2", 1))
	stale := p.changeSet(c2.ID)
	u := p.revert(c2.ID, db.ChangeUndo)
	if _, _, err := db.RevertChangeSet(ctx, p.d.Pool, p.changeSet(c2.ID), db.ChangeUndo, db.ProjectLimits{}); !errors.Is(err, db.ErrAlreadyUndone) ||
		!fault.IsPermanent(err) {
		t.Errorf("undoing C2 again: %v, want ErrAlreadyUndone", err)
	}
	// a is edited back to C2's content: the stale copy's file check passes,
	// the change set's row still refuses.
	p.commit(db.ChangeRefine, edit("a", "a2", 3))
	sets, versions := p.counts()
	if _, _, err := db.RevertChangeSet(ctx, p.d.Pool, stale, db.ChangeUndo, db.ProjectLimits{}); !errors.Is(err, db.ErrAlreadyUndone) ||
		!fault.IsPermanent(err) {
		t.Errorf("undoing C2 again from a stale copy: %v, want ErrAlreadyUndone", err)
	}
	if s, v := p.counts(); s != sets || v != versions {
		t.Errorf("the refused undo wrote %d change sets and %d versions", s-sets, v-versions)
	}
	if cs := p.changeSet(c2.ID); cs.UndoneBy == nil || *cs.UndoneBy != u.ID {
		t.Errorf("C2 undone by %v, want %d", cs.UndoneBy, u.ID)
	}
	// Redo of the undo, once.
	staleUndo := p.changeSet(u.ID)
	p.commit(db.ChangeRefine, edit("a", "a1", 4)) // back to what the undo left
	p.revert(u.ID, db.ChangeRedo)
	p.want("redo", "a=a2")
	p.commit(db.ChangeRefine, edit("a", "a1", 6))
	if _, _, err := db.RevertChangeSet(ctx, p.d.Pool, staleUndo, db.ChangeRedo, db.ProjectLimits{}); !errors.Is(err, db.ErrAlreadyUndone) {
		t.Errorf("redoing an undo twice: %v, want ErrAlreadyUndone", err)
	}
	p.want("the refused redo", "a=a1")
}

// The per-file commands keep working and each is a change set of kind
// revert; uploads are change sets of kind upload, refinements of kind
// refine linked to their job; the project's revision counts them all.
func TestPerFileHistoryMakesChangeSets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newCSProject(t, 34)
	upload := func(s string) {
		t.Helper()
		if _, err := db.CommitVersion(ctx, p.d.Pool, db.NewVersion{ProjectID: p.id, Path: "a", SHA256: sum(s), Size: int64(len(s)),
			BlobKey: "blob:" + s, Source: db.SourceUpload}); err != nil {
			t.Fatal(err)
		}
		known.Store(sum(s), s)
	}
	upload("1")
	upload("22")
	if _, err := db.Undo(ctx, p.d.Pool, p.id, "a", db.ProjectLimits{}); err != nil {
		t.Fatal(err)
	}
	p.want("undo", "a=1")
	if _, err := db.Redo(ctx, p.d.Pool, p.id, "a", db.ProjectLimits{}); err != nil {
		t.Fatal(err)
	}
	p.want("redo", "a=22")
	if _, err := db.Restore(ctx, p.d.Pool, p.id, "a", 1, db.ProjectLimits{}); err != nil {
		t.Fatal(err)
	}
	p.want("restore", "a=1")
	wantKinds := []string{db.ChangeUpload, db.ChangeUpload, db.ChangeRevert, db.ChangeRevert, db.ChangeRevert}
	wantSources := []string{db.SourceUpload, db.SourceUpload, db.SourceUndo, db.SourceRedo, db.SourceRestore}
	for i, kind := range wantKinds {
		rev := int64(i + 1)
		cs, err := db.ChangeSetAt(ctx, p.d.Pool, p.id, rev)
		if err != nil {
			t.Fatalf("revision %d: %v", rev, err)
		}
		vs, _ := db.ChangeSetFiles(ctx, p.d.Pool, cs.ID)
		if cs.Kind != kind || cs.BaseRevision != rev-1 || len(vs) != 1 || vs[0].Source != wantSources[i] || vs[0].Version != i+1 {
			t.Errorf("revision %d: %+v with %+v, want a %s change set of one %s version", rev, cs, vs, kind, wantSources[i])
		}
	}
	if r := p.revision(); r != 5 {
		t.Errorf("revision %d, want 5", r)
	}

	// A refinement of the file: its change set names the job, and the job
	// names its change set once it succeeds.
	j, err := db.CreateJob(ctx, p.d.Pool, db.NewJob{UserID: p.user.ID, ProjectID: p.id, Path: "a", Instruction: "x",
		Mode: db.ModeLLM, ChatID: p.user.ChatID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimJob(ctx, p.d.Pool, j.ID, 0); err != nil {
		t.Fatal(err)
	}
	known.Store(sum("333"), "333")
	v, err := db.CommitVersion(ctx, p.d.Pool, db.NewVersion{ProjectID: p.id, Path: "a", SHA256: sum("333"), Size: 3,
		BlobKey: "blob:333", Source: db.SourceRefine, JobID: &j.ID, BaseVersion: 5})
	if err != nil || v != 6 {
		t.Fatalf("refine: v%d, %v", v, err)
	}
	cs, err := db.ChangeSetAt(ctx, p.d.Pool, p.id, 6)
	if err != nil || cs.Kind != db.ChangeRefine || cs.JobID == nil || *cs.JobID != j.ID {
		t.Fatalf("the refinement's change set: %+v, %v", cs, err)
	}
	if err := db.SucceedJob(ctx, p.d.Pool, j.ID, db.JobSuccess{BaseVersion: 5, ResultVersion: 6, BeforeSHA256: sum("1"),
		AfterSHA256: sum("333")}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.JobOfChangeSet(ctx, p.d.Pool, cs.ID); err != nil || got.ID != j.ID || got.ChangeSetID == nil || *got.ChangeSetID != cs.ID {
		t.Errorf("JobOfChangeSet(%d) = job %d (change set %v), %v; want job %d", cs.ID, got.ID, got.ChangeSetID, err, j.ID)
	}
	if _, err := db.JobOfChangeSet(ctx, p.d.Pool, 1); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("JobOfChangeSet of an upload: %v", err)
	}
}

// A project job succeeds with a change set or with a question.
func TestProjectJobSuccess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newCSProject(t, 35)
	job := func() db.Job {
		t.Helper()
		j, err := db.CreateJob(ctx, p.d.Pool, db.NewJob{UserID: p.user.ID, ProjectID: p.id, Instruction: "x",
			Mode: db.ModeLLM, ChatID: p.user.ChatID, Scope: db.ScopeProject})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ClaimJob(ctx, p.d.Pool, j.ID, 0); err != nil {
			t.Fatal(err)
		}
		return j
	}
	j1 := job()
	cs, _, err := db.CommitChangeSet(ctx, p.d.Pool, db.NewChangeSet{ProjectID: p.id, Kind: db.ChangeRefine, JobID: &j1.ID,
		Files: files(content("a", "a1"), content("b", "b1"))})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SucceedProjectJob(ctx, p.d.Pool, j1.ID, db.ProjectSuccess{ChangeSetID: cs.ID, Diff: "d"}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.JobOfChangeSet(ctx, p.d.Pool, cs.ID); err != nil || got.ID != j1.ID || got.State != db.JobSucceeded || got.Scope != db.ScopeProject {
		t.Errorf("JobOfChangeSet: %+v, %v", got, err)
	}
	for _, v := range mustFilesOn(t, p.d.Pool, cs.ID) {
		if v.JobID == nil || *v.JobID != j1.ID || v.Source != db.SourceRefine {
			t.Errorf("%s: job %v source %s, want job %d, refine", v.Path, v.JobID, v.Source, j1.ID)
		}
	}
	j2 := job()
	if err := db.SucceedProjectJob(ctx, p.d.Pool, j2.ID, db.ProjectSuccess{Question: "which file?"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetJob(ctx, p.d.Pool, j2.ID); got.State != db.JobSucceeded || got.Question == nil || got.ChangeSetID != nil {
		t.Errorf("a question: %+v", got)
	}
	if err := db.SucceedProjectJob(ctx, p.d.Pool, j2.ID, db.ProjectSuccess{Question: "again"}); !errors.Is(err, db.ErrJobFinal) {
		t.Errorf("succeeding twice: %v", err)
	}
	// Neither a change set nor a question: the schema refuses it.
	j3 := job()
	if err := db.SucceedProjectJob(ctx, p.d.Pool, j3.ID, db.ProjectSuccess{}); err == nil {
		t.Error("a project job succeeded with nothing")
	}
}

// /undo of the project after a per-file /undo, /redo or /restore takes that
// command back: the file returns to the content it had before it.
func TestProjectUndoOfPerFileCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newCSProject(t, 36)
	p.commit(db.ChangeUpload, content("a", "a1"))
	p.commit(db.ChangeRefine, edit("a", "a2", 1))
	if _, err := db.Undo(ctx, p.d.Pool, p.id, "a", db.ProjectLimits{}); err != nil {
		t.Fatal(err)
	}
	p.want("the file's undo", "a=a1")
	u := p.undoTarget()
	if u.Kind != db.ChangeRevert {
		t.Fatalf("UndoTarget %+v, want the file's undo", u)
	}
	p.revert(u.ID, db.ChangeUndo)
	p.want("the project's undo of the file's undo", "a=a2")

	p.commit(db.ChangeRefine, edit("a", "a3", 4))
	if _, err := db.Restore(ctx, p.d.Pool, p.id, "a", 1, db.ProjectLimits{}); err != nil {
		t.Fatal(err)
	}
	p.want("restore", "a=a1")
	p.revert(p.undoTarget().ID, db.ChangeUndo)
	p.want("the project's undo of the restore", "a=a3")

	if _, err := db.Undo(ctx, p.d.Pool, p.id, "a", db.ProjectLimits{}); err != nil {
		t.Fatal(err)
	}
	p.want("the file's undo", "a=a2")
	if _, err := db.Redo(ctx, p.d.Pool, p.id, "a", db.ProjectLimits{}); err != nil {
		t.Fatal(err)
	}
	p.want("the file's redo", "a=a3")
	p.revert(p.undoTarget().ID, db.ChangeUndo)
	p.want("the project's undo of the file's redo", "a=a2")
}

// An undo that brings files back is bound by the project's limits like any
// change set, and a refused one writes nothing.
func TestProjectUndoWithinLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newCSProject(t, 37)
	p.commit(db.ChangeUpload, content("a", "a1"), content("big", "0123456789"))
	c2 := p.commit(db.ChangeRefine, remove("big", 1), create("b", "b1"))
	sets, versions := p.counts()
	_, _, err := db.RevertChangeSet(ctx, p.d.Pool, p.changeSet(c2.ID), db.ChangeUndo, db.ProjectLimits{MaxBytes: 8})
	if e := db.AsProjectFull(err); e == nil || !fault.IsPermanent(err) || e.After != (db.ProjectUsage{Files: 2, Bytes: 12}) {
		t.Errorf("an undo past the bytes: %v", err)
	}
	if s, v := p.counts(); s != sets || v != versions {
		t.Errorf("the refused undo wrote %d change sets and %d versions", s-sets, v-versions)
	}
	if cs := p.changeSet(c2.ID); cs.UndoneBy != nil {
		t.Errorf("C2 marked undone by %d", *cs.UndoneBy)
	}
	if _, _, err := db.RevertChangeSet(ctx, p.d.Pool, p.changeSet(c2.ID), db.ChangeUndo, db.ProjectLimits{MaxFiles: 2, MaxBytes: 12}); err != nil {
		t.Fatalf("an undo within the limits: %v", err)
	}
	p.want("undo", "a=a1 big=0123456789")
}
