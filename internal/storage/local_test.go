package storage_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/storage"
	"github.com/devbot-hq/devbot/internal/storage/storagetest"
)

func newLocal(t testing.TB) *storage.Local {
	t.Helper()
	l, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLocalContract(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, newLocal(t))
}

// A symbolic link inside the root that points outside it is not followed.
func TestLocalConfinedToRoot(t *testing.T) {
	t.Parallel()
	l := newLocal(t)
	ctx := context.Background()
	bucket := storagetest.NewBucket(t, l)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(l.Dir(), "objects", bucket, "escape")); err != nil {
		t.Fatal(err)
	}
	if o, err := l.Get(ctx, bucket, "escape/secret.txt"); err == nil {
		t.Fatalf("read %q through a symbolic link out of the root", o.Data)
	}
	err := l.Put(ctx, bucket, "escape/planted.txt", []byte("x"), storage.PutOptions{ContentType: "text/plain"})
	if err == nil {
		t.Fatal("wrote through a symbolic link out of the root")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a file appeared outside the root: %v", err)
	}
}

// A write leaves no temporary file behind, and a refused one changes nothing.
func TestLocalAtomicWrite(t *testing.T) {
	t.Parallel()
	l := newLocal(t)
	ctx := context.Background()
	bucket := storagetest.NewBucket(t, l)
	if err := l.Put(ctx, bucket, "a.txt", []byte("one"), storage.PutOptions{ContentType: "text/plain"}); err != nil {
		t.Fatal(err)
	}
	err := l.Put(ctx, bucket, "a.txt", []byte("two"), storage.PutOptions{ContentType: "text/html"})
	if !errors.Is(err, fault.ErrConflict) {
		t.Fatalf("overwrite without upsert: %v", err)
	}
	o, err := l.Get(ctx, bucket, "a.txt")
	if err != nil || string(o.Data) != "one" || o.ContentType != "text/plain" {
		t.Fatalf("after a refused write: %q %q %v", o.Data, o.ContentType, err)
	}
	tmp, err := os.ReadDir(filepath.Join(l.Dir(), "tmp"))
	if err != nil || len(tmp) != 0 {
		t.Fatalf("temporary files left: %v %v", tmp, err)
	}
	// The bytes are browsable at the plain path.
	b, err := os.ReadFile(filepath.Join(l.Dir(), "objects", bucket, "a.txt"))
	if err != nil || string(b) != "one" {
		t.Fatalf("plain file: %q %v", b, err)
	}
}

// Deleting the last file of a folder removes the folder, as Supabase shows
// no empty folders.
func TestLocalDeleteRemovesEmptyFolders(t *testing.T) {
	t.Parallel()
	l := newLocal(t)
	ctx := context.Background()
	bucket := storagetest.NewBucket(t, l)
	if err := l.Put(ctx, bucket, "a/b/c.txt", []byte("x"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(ctx, bucket, "a/b/c.txt"); err != nil {
		t.Fatal(err)
	}
	got, err := l.List(ctx, bucket, "")
	if err != nil || len(got) != 0 {
		t.Fatalf("List after deleting the only file = %v, %v; want empty", got, err)
	}
}

// A filesystem cannot hold "a" as both a file and a folder: a conflict, not
// a retryable error.
func TestLocalFileFolderConflict(t *testing.T) {
	t.Parallel()
	l := newLocal(t)
	ctx := context.Background()
	bucket := storagetest.NewBucket(t, l)
	if err := l.Put(ctx, bucket, "a", []byte("file"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	err := l.Put(ctx, bucket, "a/b.txt", []byte("x"), storage.PutOptions{})
	if !errors.Is(err, fault.ErrConflict) || !fault.IsPermanent(err) {
		t.Fatalf("Put under a file: %v, want a permanent conflict", err)
	}
	if _, err := l.Get(ctx, bucket, "a/b.txt"); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("Get under a file: %v, want not found", err)
	}
}
