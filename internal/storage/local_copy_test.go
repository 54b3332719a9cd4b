package storage_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/storage"
	"github.com/devbot-hq/devbot/internal/storage/storagetest"
)

func objectFile(t *testing.T, l *storage.Local, bucket, key string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(filepath.Join(l.Dir(), "objects", bucket, filepath.FromSlash(key)))
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func wantObject(t *testing.T, l *storage.Local, bucket, key, data, ct string) {
	t.Helper()
	o, err := l.Get(context.Background(), bucket, key)
	if err != nil || string(o.Data) != data || o.ContentType != ct {
		t.Fatalf("Get(%s) = %q %q %v, want %q %q", key, o.Data, o.ContentType, err, data, ct)
	}
}

// A copy shares the source's file (nothing written), and whatever later
// replaces or deletes the copy leaves the source as it was.
func TestLocalCopy(t *testing.T) {
	t.Parallel()
	l := newLocal(t)
	ctx := context.Background()
	bucket := storagetest.NewBucket(t, l)
	put := func(key, data, ct string) {
		t.Helper()
		if err := l.Put(ctx, bucket, key, []byte(data), storage.PutOptions{ContentType: ct}); err != nil {
			t.Fatal(err)
		}
	}
	put("blobs/a", "version a", "text/plain")
	put("blobs/b", "version b", "text/plain")
	upsert := storage.PutOptions{ContentType: "text/plain", Upsert: true}

	if err := l.Copy(ctx, bucket, "blobs/a", "src/cur.txt", upsert); err != nil {
		t.Fatal(err)
	}
	wantObject(t, l, bucket, "src/cur.txt", "version a", "text/plain")
	if !os.SameFile(objectFile(t, l, bucket, "blobs/a"), objectFile(t, l, bucket, "src/cur.txt")) {
		t.Error("the copy has a file of its own; want the source's file shared")
	}
	if err := l.Copy(ctx, bucket, "blobs/b", "src/cur.txt", upsert); err != nil {
		t.Fatal(err)
	}
	wantObject(t, l, bucket, "src/cur.txt", "version b", "text/plain")
	if err := l.Put(ctx, bucket, "src/cur.txt", []byte("written"), upsert); err != nil {
		t.Fatal(err)
	}
	wantObject(t, l, bucket, "src/cur.txt", "written", "text/plain")
	if err := l.Delete(ctx, bucket, "src/cur.txt"); err != nil {
		t.Fatal(err)
	}
	wantObject(t, l, bucket, "blobs/a", "version a", "text/plain")
	wantObject(t, l, bucket, "blobs/b", "version b", "text/plain")

	// Another content type cannot share the file: the source keeps its own.
	if err := l.Copy(ctx, bucket, "blobs/a", "page.html", storage.PutOptions{ContentType: "text/html", Upsert: true}); err != nil {
		t.Fatal(err)
	}
	wantObject(t, l, bucket, "page.html", "version a", "text/html")
	wantObject(t, l, bucket, "blobs/a", "version a", "text/plain")

	// Without upsert an existing destination is a conflict, left alone.
	err := l.Copy(ctx, bucket, "blobs/b", "page.html", storage.PutOptions{ContentType: "text/html"})
	if !errors.Is(err, fault.ErrConflict) {
		t.Fatalf("Copy over an object without upsert: %v, want a conflict", err)
	}
	wantObject(t, l, bucket, "page.html", "version a", "text/html")

	for _, tc := range []struct{ bucket, src string }{{bucket, "blobs/none"}, {bucket, "blobs"}, {storagetest.NewBucketName(t), "blobs/a"}} {
		if err := l.Copy(ctx, tc.bucket, tc.src, "x.txt", upsert); !errors.Is(err, fault.ErrNotFound) {
			t.Errorf("Copy(%s, %s): %v, want not found", tc.bucket, tc.src, err)
		}
	}
	if tmp, err := os.ReadDir(filepath.Join(l.Dir(), "tmp")); err != nil || len(tmp) != 0 {
		t.Fatalf("temporary files left: %v %v", tmp, err)
	}
}

// A symbolic link out of the root is not followed as a copy's source.
func TestLocalCopyConfinedToRoot(t *testing.T) {
	t.Parallel()
	l := newLocal(t)
	ctx := context.Background()
	bucket := storagetest.NewBucket(t, l)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"escape": outside, "link.txt": filepath.Join(outside, "secret.txt")} {
		if err := os.Symlink(target, filepath.Join(l.Dir(), "objects", bucket, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, src := range []string{"escape/secret.txt", "link.txt"} {
		if err := l.Copy(ctx, bucket, src, "got.txt", storage.PutOptions{Upsert: true}); err == nil {
			t.Errorf("copied %s from outside the root", src)
		}
	}
	if o, err := l.Get(ctx, bucket, "got.txt"); err == nil {
		t.Fatalf("read %q copied from outside the root", o.Data)
	}
}

// The content type travels with the file; one that no file can carry (too
// long for an extended attribute) goes to the meta file, and the file's own
// type wins over a meta file left from before.
func TestLocalContentTypeStorage(t *testing.T) {
	t.Parallel()
	l := newLocal(t)
	ctx := context.Background()
	bucket := storagetest.NewBucket(t, l)
	long := "text/plain; x=" + strings.Repeat("y", 70<<10)
	meta := filepath.Join(l.Dir(), "meta", bucket, "a.txt")
	steps := []struct {
		ct       string
		wantMeta bool
	}{{"text/plain", false}, {long, true}, {"text/html", true}, {long, true}, {"", true}}
	for i, s := range steps {
		data := strings.Repeat("x", i+1)
		if err := l.Put(ctx, bucket, "a.txt", []byte(data), storage.PutOptions{ContentType: s.ct, Upsert: true}); err != nil {
			t.Fatal(err)
		}
		want := s.ct
		if want == "" {
			want = "application/octet-stream"
		}
		wantObject(t, l, bucket, "a.txt", data, want)
		infos, err := l.List(ctx, bucket, "")
		if err != nil || len(infos) != 1 || infos[0].ContentType != want {
			t.Fatalf("step %d: List = %v, %v; want a.txt of its type", i, len(infos), err)
		}
		if _, err := os.Stat(meta); (err == nil) != s.wantMeta {
			t.Fatalf("step %d: meta file: %v, want present %v", i, err, s.wantMeta)
		}
	}
}

// On Local the plain copy of a committed version is the blob's file; bytes
// with no blob are written, and a later publish leaves the blob alone.
func TestPublishCurrentSharesTheBlob(t *testing.T) {
	t.Parallel()
	l := newLocal(t)
	ctx := context.Background()
	bucket := storagetest.NewBucket(t, l)
	files := storage.NewFiles(l, 0)
	const ct = "text/plain; charset=utf-8"
	key, _, err := files.PutBlob(ctx, bucket, []byte("v1"), ct)
	if err != nil {
		t.Fatal(err)
	}
	if err := files.PublishCurrent(ctx, bucket, "main.go", []byte("v1"), ct); err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(objectFile(t, l, bucket, key), objectFile(t, l, bucket, "main.go")) {
		t.Error("the plain copy was written; want the blob's file shared")
	}
	if err := files.PublishCurrent(ctx, bucket, "main.go", []byte("no blob"), ct); err != nil {
		t.Fatal(err)
	}
	wantObject(t, l, bucket, "main.go", "no blob", ct)
	if got, err := files.GetBlob(ctx, bucket, key); err != nil || string(got) != "v1" {
		t.Fatalf("blob after the plain copy was replaced: %q %v", got, err)
	}
	if err := files.PublishCurrent(ctx, storagetest.NewBucketName(t), "main.go", []byte("v1"), ct); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("PublishCurrent to a missing bucket: %v, want not found", err)
	}
}
