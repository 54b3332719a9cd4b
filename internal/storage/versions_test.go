package storage_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/storage"
)

// The whole version scheme with real Postgres: blob, commit, publish; a
// stale writer refused with its blob left invisible; undo restoring an
// earlier version's bytes.
func TestVersionsWithPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := dbtest.New(t)
	u, _, err := db.EnsureUser(ctx, store.Pool, db.TelegramUser{TelegramID: 4242, ChatID: 4242, FirstName: "T"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	proj, err := db.CreateProject(ctx, store.Pool, u.ID, "demo")
	if err != nil {
		t.Fatal(err)
	}
	b := newLocal(t)
	files := storage.NewFiles(b, 0)
	bucket := proj.ID
	if err := files.EnsureBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	write := func(path, content string, base int, source string) (int, error) {
		key, sha, err := files.PutBlob(ctx, bucket, []byte(content), "text/plain")
		if err != nil {
			return 0, err
		}
		var version int
		err = store.InTx(ctx, func(tx pgx.Tx) error {
			version, err = db.CommitVersion(ctx, tx, db.NewVersion{ProjectID: proj.ID, Path: path, SHA256: sha,
				Size: int64(len(content)), BlobKey: key, ContentType: "text/plain", Source: source, BaseVersion: base})
			return err
		})
		if err != nil {
			return 0, err
		}
		return version, files.PublishCurrent(ctx, bucket, path, []byte(content), "text/plain")
	}
	current := func(path string) string {
		t.Helper()
		o, err := b.Get(ctx, bucket, path)
		if err != nil {
			t.Fatal(err)
		}
		return string(o.Data)
	}

	if v, err := write("main.go", "v1", 0, db.SourceUpload); err != nil || v != 1 {
		t.Fatalf("first write = %d, %v", v, err)
	}
	if v, err := write("main.go", "v2", 1, db.SourceRefine); err != nil || v != 2 {
		t.Fatalf("refinement = %d, %v", v, err)
	}
	// A refinement computed from version 1 lands after version 2: refused,
	// and the plain copy still shows version 2.
	if _, err := write("main.go", "stale", 1, db.SourceRefine); !errors.Is(err, db.ErrVersionMismatch) || !errors.Is(err, fault.ErrConflict) {
		t.Fatalf("stale refinement: %v, want a version mismatch", err)
	}
	if got := current("main.go"); got != "v2" {
		t.Fatalf("after a refused write the plain copy is %q, want v2", got)
	}
	// Undo: point back to version 1 and publish its bytes from the blob.
	var v1 db.FileVersion
	if err := store.InTx(ctx, func(tx pgx.Tx) error {
		v1, err = db.PointToVersion(ctx, tx, proj.ID, "main.go", 2, 1)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	data, err := files.GetBlob(ctx, bucket, v1.BlobKey)
	if err != nil || string(data) != "v1" {
		t.Fatalf("GetBlob(v1) = %q, %v", data, err)
	}
	if err := files.PublishCurrent(ctx, bucket, "main.go", data, "text/plain"); err != nil {
		t.Fatal(err)
	}
	if got := current("main.go"); got != "v1" {
		t.Fatalf("after undo the plain copy is %q, want v1", got)
	}
	// Every version is still readable: nothing was destroyed.
	versions, err := db.ListFileVersions(ctx, store.Pool, proj.ID, "main.go")
	if err != nil || len(versions) != 2 {
		t.Fatalf("ListFileVersions = %v, %v", versions, err)
	}
	for _, v := range versions {
		if _, err := files.GetBlob(ctx, bucket, v.BlobKey); err != nil {
			t.Errorf("version %d: %v", v.Version, err)
		}
	}
}
