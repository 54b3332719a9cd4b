package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/storage"
)

// NewBucketName returns a fresh bucket name shaped like a project's (a
// UUID), so suites can share a real server.
func NewBucketName(t testing.TB) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// NewBucket creates a fresh bucket on b and, when t ends, deletes every
// object in it (a real server keeps the empty bucket).
func NewBucket(t testing.TB, b storage.Backend) string {
	t.Helper()
	name := NewBucketName(t)
	if err := b.EnsureBucket(context.Background(), name); err != nil {
		t.Fatalf("EnsureBucket(%s): %v", name, err)
	}
	t.Cleanup(func() { empty(t, b, name, "") })
	return name
}

func empty(t testing.TB, b storage.Backend, bucket, folder string) {
	ctx := context.Background()
	entries, err := b.List(ctx, bucket, folder)
	if err != nil {
		t.Logf("cleanup: List(%s, %q): %v", bucket, folder, err)
		return
	}
	var keys []string
	for _, e := range entries {
		if e.Folder {
			empty(t, b, bucket, e.Name)
		} else {
			keys = append(keys, e.Name)
		}
	}
	if len(keys) > 0 {
		if err := b.Delete(ctx, bucket, keys...); err != nil {
			t.Logf("cleanup: Delete(%s): %v", bucket, err)
		}
	}
}

// Run is the contract every storage.Backend passes. b must be safe for
// concurrent use; each subtest works in a bucket of its own.
func Run(t *testing.T, b storage.Backend) {
	t.Run("PutGet", func(t *testing.T) { t.Parallel(); testPutGet(t, b) })
	t.Run("Upsert", func(t *testing.T) { t.Parallel(); testUpsert(t, b) })
	t.Run("NotFound", func(t *testing.T) { t.Parallel(); testNotFound(t, b) })
	t.Run("EnsureBucketTwice", func(t *testing.T) { t.Parallel(); testEnsureBucket(t, b) })
	t.Run("Delete", func(t *testing.T) { t.Parallel(); testDelete(t, b) })
	t.Run("List", func(t *testing.T) { t.Parallel(); testList(t, b) })
	t.Run("AwkwardKeys", func(t *testing.T) { t.Parallel(); testAwkwardKeys(t, b) })
	t.Run("InvalidKeys", func(t *testing.T) { t.Parallel(); testInvalidKeys(t, b) })
	t.Run("Cancelled", func(t *testing.T) { t.Parallel(); testCancelled(t, b) })
	t.Run("Concurrent", func(t *testing.T) { t.Parallel(); Concurrent(t, b, 32, 100) })
}

func mustPut(t testing.TB, b storage.Backend, bucket, key string, data []byte, opts storage.PutOptions) {
	t.Helper()
	if err := b.Put(context.Background(), bucket, key, data, opts); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(t testing.TB, b storage.Backend, bucket, key string) storage.Object {
	t.Helper()
	o, err := b.Get(context.Background(), bucket, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return o
}

func wantKind(t testing.TB, err, sentinel error, permanent bool) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v: want %v", err, sentinel)
	}
	if fault.IsPermanent(err) != permanent {
		t.Fatalf("error %v: permanent=%v, want %v", err, fault.IsPermanent(err), permanent)
	}
	if err.Error() == "" {
		t.Fatal("empty error message")
	}
}

func testPutGet(t *testing.T, b storage.Backend) {
	bucket := NewBucket(t, b)
	cases := []struct {
		key, ct, wantCT string
		data            []byte
	}{
		{"main.go", "text/x-go; charset=utf-8", "text/x-go; charset=utf-8", []byte("package main\n")},
		{"dir/sub/notes.md", "text/markdown", "text/markdown", []byte("# notes\n")},
		{"empty.txt", "text/plain", "text/plain", []byte{}},
		{"blob.bin", "", "application/octet-stream", []byte{0, 1, 2, 255}},
	}
	for _, c := range cases {
		mustPut(t, b, bucket, c.key, c.data, storage.PutOptions{ContentType: c.ct})
		o := mustGet(t, b, bucket, c.key)
		if !bytes.Equal(o.Data, c.data) || o.Size != int64(len(c.data)) {
			t.Errorf("Get(%q) = %q (size %d), want %q", c.key, o.Data, o.Size, c.data)
		}
		if o.ContentType != c.wantCT {
			t.Errorf("Get(%q).ContentType = %q, want %q", c.key, o.ContentType, c.wantCT)
		}
		if o.ETag == "" || o.LastModified.IsZero() {
			t.Errorf("Get(%q): ETag %q, LastModified %v: want both set", c.key, o.ETag, o.LastModified)
		}
	}
}

func testUpsert(t *testing.T, b storage.Backend) {
	bucket := NewBucket(t, b)
	ctx := context.Background()
	mustPut(t, b, bucket, "f.txt", []byte("one"), storage.PutOptions{ContentType: "text/plain"})
	// An upsert elsewhere must not make the next plain upload overwrite
	// (storage-go's sticky options).
	mustPut(t, b, bucket, "g.txt", []byte("x"), storage.PutOptions{ContentType: "text/plain", Upsert: true})
	err := b.Put(ctx, bucket, "f.txt", []byte("two"), storage.PutOptions{ContentType: "text/plain"})
	wantKind(t, err, fault.ErrConflict, true)
	if o := mustGet(t, b, bucket, "f.txt"); string(o.Data) != "one" {
		t.Fatalf("after a refused overwrite: %q, want %q", o.Data, "one")
	}
	mustPut(t, b, bucket, "f.txt", []byte("three"), storage.PutOptions{ContentType: "text/markdown", Upsert: true})
	if o := mustGet(t, b, bucket, "f.txt"); string(o.Data) != "three" || o.ContentType != "text/markdown" {
		t.Fatalf("after an upsert: %q %q, want %q text/markdown", o.Data, o.ContentType, "three")
	}
}

func testNotFound(t *testing.T, b storage.Backend) {
	bucket := NewBucket(t, b)
	ctx := context.Background()
	_, err := b.Get(ctx, bucket, "missing.txt")
	wantKind(t, err, fault.ErrNotFound, true)
	_, err = b.Get(ctx, NewBucketName(t), "missing.txt")
	wantKind(t, err, fault.ErrNotFound, true)
	err = b.Put(ctx, NewBucketName(t), "a.txt", []byte("x"), storage.PutOptions{ContentType: "text/plain"})
	wantKind(t, err, fault.ErrNotFound, true)
}

func testEnsureBucket(t *testing.T, b storage.Backend) {
	bucket := NewBucket(t, b)
	mustPut(t, b, bucket, "keep.txt", []byte("kept"), storage.PutOptions{ContentType: "text/plain"})
	if err := b.EnsureBucket(context.Background(), bucket); err != nil {
		t.Fatalf("EnsureBucket of an existing bucket: %v", err)
	}
	if o := mustGet(t, b, bucket, "keep.txt"); string(o.Data) != "kept" {
		t.Fatalf("EnsureBucket lost an object: %q", o.Data)
	}
}

func testDelete(t *testing.T, b storage.Backend) {
	bucket := NewBucket(t, b)
	ctx := context.Background()
	for _, k := range []string{"a.txt", "a.txt.bak", "dir/a.txt", "dir/b.txt"} {
		mustPut(t, b, bucket, k, []byte(k), storage.PutOptions{ContentType: "text/plain"})
	}
	if err := b.Delete(ctx, bucket, "a.txt", "dir/b.txt", "never.txt"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for k, want := range map[string]bool{"a.txt": false, "a.txt.bak": true, "dir/a.txt": true, "dir/b.txt": false} {
		_, err := b.Get(ctx, bucket, k)
		if got := err == nil; got != want {
			t.Errorf("after Delete, %q exists = %v (err %v), want %v", k, got, err, want)
		}
	}
	if err := b.Delete(ctx, bucket); err != nil {
		t.Errorf("Delete of no keys: %v", err)
	}
	if err := b.Delete(ctx, NewBucketName(t), "a.txt"); err != nil {
		t.Errorf("Delete in a missing bucket: %v", err)
	}
}

func names(infos []storage.ObjectInfo) []string {
	out := make([]string, len(infos))
	for i, e := range infos {
		out[i] = e.Name
		if e.Folder {
			out[i] += "/"
		}
	}
	return out
}

func testList(t *testing.T, b storage.Backend) {
	bucket := NewBucket(t, b)
	ctx := context.Background()
	for _, k := range []string{"b.txt", "a.md", "src/main.go", "src/util/x.go", "src/z.go"} {
		mustPut(t, b, bucket, k, []byte("content of "+k), storage.PutOptions{ContentType: "text/plain"})
	}
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a.md", "b.txt", "src/"}},
		{"src", []string{"src/main.go", "src/util/", "src/z.go"}},
		{"src/", []string{"src/main.go", "src/util/", "src/z.go"}},
		{"src/util", []string{"src/util/x.go"}},
		{"sr", []string{}},      // a partial name is not a folder
		{"b.txt", []string{}},   // nor is a file
		{"nowhere", []string{}}, // a missing folder
	}
	for _, c := range cases {
		got, err := b.List(ctx, bucket, c.prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", c.prefix, err)
		}
		if fmt.Sprint(names(got)) != fmt.Sprint(c.want) {
			t.Errorf("List(%q) = %v, want %v", c.prefix, names(got), c.want)
		}
	}
	got, err := b.List(ctx, bucket, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got {
		if e.Name == "b.txt" && (e.Size != int64(len("content of b.txt")) || e.ContentType != "text/plain" || e.UpdatedAt.IsZero()) {
			t.Errorf("List: b.txt = %+v, want size %d, text/plain, a time", e, len("content of b.txt"))
		}
	}
	if got, err := b.List(ctx, NewBucketName(t), ""); err != nil || len(got) != 0 {
		t.Errorf("List of a missing bucket = %v, %v; want empty, nil", got, err)
	}
}

func testAwkwardKeys(t *testing.T, b storage.Backend) {
	bucket := NewBucket(t, b)
	keys := []string{"q?x=1.txt", "with space/f (1).txt", "a+b=c@d;e:f,g&h$i!j*k'l.txt", "UPPER/lower.TXT", "_devbot/blobs/0"}
	for _, k := range keys {
		mustPut(t, b, bucket, k, []byte("k="+k), storage.PutOptions{ContentType: "text/plain"})
		if o := mustGet(t, b, bucket, k); string(o.Data) != "k="+k {
			t.Errorf("Get(%q) = %q", k, o.Data)
		}
	}
	got, err := b.List(context.Background(), bucket, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"UPPER/", "_devbot/", "a+b=c@d;e:f,g&h$i!j*k'l.txt", "q?x=1.txt", "with space/"}
	if fmt.Sprint(names(got)) != fmt.Sprint(want) {
		t.Errorf("List = %q, want %q (a key was cut or rewritten)", names(got), want)
	}
}

func testInvalidKeys(t *testing.T, b storage.Backend) {
	bucket := NewBucket(t, b)
	ctx := context.Background()
	for _, k := range []string{"", "/abs.txt", "../up.txt", "a/./b", "a//b", "dir/", "x#y", "50%", "tab\there", "é.txt", `a\b`} {
		err := b.Put(ctx, bucket, k, []byte("x"), storage.PutOptions{ContentType: "text/plain"})
		wantKind(t, err, fault.ErrInvalid, true)
		_, err = b.Get(ctx, bucket, k)
		wantKind(t, err, fault.ErrInvalid, true)
		wantKind(t, b.Delete(ctx, bucket, k), fault.ErrInvalid, true)
	}
	_, err := b.Get(ctx, "../etc", "passwd")
	wantKind(t, err, fault.ErrInvalid, true)
	_, err = b.List(ctx, bucket, "../")
	wantKind(t, err, fault.ErrInvalid, true)
}

func testCancelled(t *testing.T, b storage.Backend) {
	bucket := NewBucket(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := b.Put(ctx, bucket, "c.txt", []byte("x"), storage.PutOptions{ContentType: "text/plain"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: %v, want context.Canceled", err)
	}
	_, err = b.Get(ctx, bucket, "c.txt")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context: %v, want context.Canceled", err)
	}
}

// Concurrent has goroutines each upload ops objects through b and download
// them again (run it under -race). Every other upload is an upsert of the
// previous key, and every plain upload of an existing key must still be
// refused: options may not leak between concurrent operations.
func Concurrent(t *testing.T, b storage.Backend, goroutines, ops int) {
	bucket := NewBucket(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range ops {
				key := fmt.Sprintf("g%02d/f%03d.txt", g, i/2)
				data := fmt.Appendf(nil, "goroutine %d op %d", g, i)
				ct := fmt.Sprintf("text/plain; g=%d", g)
				if err := b.Put(ctx, bucket, key, data, storage.PutOptions{ContentType: ct, Upsert: i%2 == 1}); err != nil {
					errs <- fmt.Errorf("Put(%s) op %d: %w", key, i, err)
					return
				}
				if i%2 == 1 {
					err := b.Put(ctx, bucket, key, []byte("must not land"), storage.PutOptions{ContentType: ct})
					if !errors.Is(err, fault.ErrConflict) {
						errs <- fmt.Errorf("plain Put over %s: %v, want a conflict", key, err)
						return
					}
				}
				o, err := b.Get(ctx, bucket, key)
				if err != nil {
					errs <- fmt.Errorf("Get(%s) op %d: %w", key, i, err)
					return
				}
				if !bytes.Equal(o.Data, data) || o.ContentType != ct {
					errs <- fmt.Errorf("Get(%s) op %d = %q %q, want %q %q", key, i, o.Data, o.ContentType, data, ct)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
