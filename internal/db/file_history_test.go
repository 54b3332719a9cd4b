package db_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/fault"
)

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Migration 00045 gives existing versions their parents: a refinement's is
// the version its job read, an upload's the version before it.
func TestLineageBackfill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.EmptyDatabase(t)
	if err := db.MigrateBelow(ctx, url, 45); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// v1 upload, v2 refine of v1, an old undo back to v1 (no row), v3
	// refine of v1, v4 upload.
	_, err = conn.Exec(ctx, `
		INSERT INTO users (telegram_id, chat_id) VALUES (1, 1);
		INSERT INTO projects (id, user_id, name) VALUES ('00000000-0000-0000-0000-0000000000aa', 1, 'p');
		BEGIN;
		INSERT INTO project_files (project_id, path, version, latest_version, sha256, size)
			VALUES ('00000000-0000-0000-0000-0000000000aa', 'a', 4, 4, '`+sum("4")+`', 1);
		INSERT INTO refine_jobs (user_id, project_id, path, instruction, mode, chat_id, base_version)
			VALUES (1, '00000000-0000-0000-0000-0000000000aa', 'a', 'x', 'llm', 1, 1),
			       (1, '00000000-0000-0000-0000-0000000000aa', 'a', 'y', 'llm', 1, 1);
		INSERT INTO file_versions (project_id, path, version, sha256, size, blob_key, source, job_id) VALUES
			('00000000-0000-0000-0000-0000000000aa', 'a', 1, '`+sum("1")+`', 1, 'k1', 'upload', NULL),
			('00000000-0000-0000-0000-0000000000aa', 'a', 2, '`+sum("2")+`', 1, 'k2', 'refine', 1),
			('00000000-0000-0000-0000-0000000000aa', 'a', 3, '`+sum("3")+`', 1, 'k3', 'refine', 2),
			('00000000-0000-0000-0000-0000000000aa', 'a', 4, '`+sum("4")+`', 1, 'k4', 'upload', NULL);
		COMMIT;`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx, url, quiet); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT version, parent_version, id FROM file_versions ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]*int{1: nil, 2: ptr(1), 3: ptr(1), 4: ptr(3)}
	ids := map[int64]bool{}
	n := 0
	for rows.Next() {
		var v int
		var parent *int
		var id int64
		if err := rows.Scan(&v, &parent, &id); err != nil {
			t.Fatal(err)
		}
		n++
		if (parent == nil) != (want[v] == nil) || parent != nil && *parent != *want[v] {
			t.Errorf("v%d parent = %v, want %v", v, deref(parent), deref(want[v]))
		}
		ids[id] = true
	}
	if n != 4 || len(ids) != 4 {
		t.Errorf("%d rows, %d distinct ids", n, len(ids))
	}
}

func ptr(n int) *int { return &n }

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// Undo, redo and restore write versions and keep the lineage; each checks
// that the file is still where it read it (no lost update).
func TestUndoRedoRestoreVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.New(t)
	u, _, err := db.EnsureUser(ctx, d.Pool, db.TelegramUser{TelegramID: 5, ChatID: 5}, 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.CreateProject(ctx, d.Pool, u.ID, "p")
	if err != nil {
		t.Fatal(err)
	}
	write := func(content string) int {
		t.Helper()
		var v int
		err := d.InTx(ctx, func(tx pgx.Tx) (err error) {
			v, err = db.CommitVersion(ctx, tx, db.NewVersion{ProjectID: p.ID, Path: "a", SHA256: sum(content),
				Size: int64(len(content)), BlobKey: "k" + content, Source: db.SourceUpload})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	write("1")
	write("22")
	ch, err := db.Undo(ctx, d.Pool, p.ID, "a", db.ProjectLimits{})
	if err != nil || ch.To != 3 || ch.Like.Version != 1 || ch.From.Version != 2 {
		t.Fatalf("undo = %+v, %v", ch, err)
	}
	f, _ := db.FileByPath(ctx, d.Pool, p.ID, "a")
	if f.Version != 3 || f.SHA256 != sum("1") || f.Size != 1 {
		t.Errorf("after undo the file is %+v", f)
	}
	if _, err := db.Undo(ctx, d.Pool, p.ID, "a", db.ProjectLimits{}); !errors.Is(err, db.ErrNothingToUndo) || !fault.IsPermanent(err) {
		t.Errorf("second undo: %v", err)
	}
	ch, err = db.Redo(ctx, d.Pool, p.ID, "a", db.ProjectLimits{})
	if err != nil || ch.To != 4 || ch.Like.Version != 2 {
		t.Fatalf("redo = %+v, %v", ch, err)
	}
	if _, err := db.Redo(ctx, d.Pool, p.ID, "a", db.ProjectLimits{}); !errors.Is(err, db.ErrNothingToRedo) {
		t.Errorf("second redo: %v", err)
	}
	// A restore that would grow the project past its limit is refused.
	if _, err := db.Restore(ctx, d.Pool, p.ID, "a", 1, db.ProjectLimits{MaxBytes: 1}); err != nil {
		t.Errorf("a restore that shrinks the project: %v", err)
	}
	_, err = db.Restore(ctx, d.Pool, p.ID, "a", 2, db.ProjectLimits{MaxBytes: 1})
	if e := db.AsProjectFull(err); e == nil || !errors.Is(err, fault.ErrTooLarge) || e.After.Bytes != 2 {
		t.Errorf("restore over the limit: %v", err)
	}
	vs, _ := db.ListFileVersions(ctx, d.Pool, p.ID, "a")
	if len(vs) != 5 {
		t.Errorf("%d versions, want 5", len(vs))
	}
	// Optimistic concurrency: an undo computed on version 5 does not
	// commit once the file moved on.
	err = d.InTx(ctx, func(tx pgx.Tx) error {
		cur, _ := db.GetFileVersion(ctx, tx, p.ID, "a", 5)
		_, err := db.CommitVersion(ctx, tx, db.NewVersion{ProjectID: p.ID, Path: "a", SHA256: cur.SHA256, Size: cur.Size,
			BlobKey: cur.BlobKey, Source: db.SourceUndo, BaseVersion: 4})
		return err
	})
	if !errors.Is(err, db.ErrVersionMismatch) {
		t.Errorf("stale undo: %v", err)
	}
}

// The file count bound refuses a new file, not a new version of one.
func TestProjectLimitsAtCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.New(t)
	u, _, _ := db.EnsureUser(ctx, d.Pool, db.TelegramUser{TelegramID: 6, ChatID: 6}, 0)
	p, _ := db.CreateProject(ctx, d.Pool, u.ID, "p")
	lim := db.ProjectLimits{MaxFiles: 1, MaxBytes: 10}
	commit := func(path, content string) error {
		return d.InTx(ctx, func(tx pgx.Tx) error {
			_, err := db.CommitVersion(ctx, tx, db.NewVersion{ProjectID: p.ID, Path: path, SHA256: sum(content),
				Size: int64(len(content)), BlobKey: "k", Source: db.SourceUpload, Limits: lim})
			return err
		})
	}
	if err := commit("a", "12345"); err != nil {
		t.Fatal(err)
	}
	if err := commit("a", "1234567890"); err != nil {
		t.Errorf("a new version within the bytes: %v", err)
	}
	err := commit("b", "1")
	if e := db.AsProjectFull(err); e == nil || !e.TooManyFiles() || !fault.IsPermanent(err) {
		t.Errorf("a second file: %v", err)
	}
	if e := db.AsProjectFull(commit("a", "12345678901")); e == nil || e.TooManyFiles() {
		t.Errorf("11 bytes: %v", e)
	}
}
