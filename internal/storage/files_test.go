package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/storage"
	"github.com/devbot-hq/devbot/internal/storage/storagetest"
)

// backends returns each adapter, fresh, by name.
func backends(t *testing.T) map[string]storage.Backend {
	return map[string]storage.Backend{"local": newLocal(t), "supabase": setupSupabase(t).sb}
}

func TestFilesBlobs(t *testing.T) {
	t.Parallel()
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := storage.NewFiles(b, 0)
			bucket := storagetest.NewBucket(t, b)
			data := []byte("package main\n")
			sum := sha256.Sum256(data)
			key, sha, err := f.PutBlob(ctx, bucket, data, "text/x-go")
			if err != nil {
				t.Fatal(err)
			}
			if sha != hex.EncodeToString(sum[:]) || key != storage.BlobPrefix+sha || !storage.IsBlobKey(key) {
				t.Fatalf("PutBlob = %q, %q", key, sha)
			}
			// The same content again (a retry, or another path) is the same blob.
			key2, _, err := f.PutBlob(ctx, bucket, data, "text/plain")
			if err != nil || key2 != key {
				t.Fatalf("PutBlob again = %q, %v; want %q, nil", key2, err, key)
			}
			got, err := f.GetBlob(ctx, bucket, key)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("GetBlob = %q, %v", got, err)
			}
			// Until it is published, nothing but the reserved folder shows.
			entries, err := b.List(ctx, bucket, "")
			if err != nil || len(entries) != 1 || entries[0].Name != "_devbot" || !entries[0].Folder {
				t.Fatalf("List after PutBlob = %+v, %v; want only the _devbot folder", entries, err)
			}
			if err := f.PublishCurrent(ctx, bucket, "cmd/main.go", data, "text/x-go"); err != nil {
				t.Fatal(err)
			}
			if err := f.PublishCurrent(ctx, bucket, "cmd/main.go", []byte("v2"), "text/x-go"); err != nil {
				t.Fatalf("PublishCurrent over the current copy: %v", err)
			}
			if o, err := b.Get(ctx, bucket, "cmd/main.go"); err != nil || string(o.Data) != "v2" || o.ContentType != "text/x-go" {
				t.Fatalf("plain copy = %q %q, %v", o.Data, o.ContentType, err)
			}
			if got, err := f.GetBlob(ctx, bucket, key); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("the blob changed after publishing: %q, %v", got, err)
			}
			if err := f.Unpublish(ctx, bucket, "cmd/main.go"); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Get(ctx, bucket, "cmd/main.go"); !errors.Is(err, fault.ErrNotFound) {
				t.Fatalf("after Unpublish: %v", err)
			}
			if _, err := f.GetBlob(ctx, bucket, key); err != nil {
				t.Fatalf("Unpublish lost history: %v", err)
			}
		})
	}
}

func TestFilesRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bundle := setupSupabase(t)
	for name, b := range map[string]storage.Backend{"local": newLocal(t), "supabase": bundle.sb} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := storage.NewFiles(b, 0)
			bucket := storagetest.NewBucket(t, b)
			// A corrupted blob is reported, not served.
			bad := storage.BlobKey(strings.Repeat("0", 64))
			if err := b.Put(ctx, bucket, bad, []byte("not that"), storage.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.GetBlob(ctx, bucket, bad); err == nil || !strings.Contains(err.Error(), "corrupted") || !fault.IsPermanent(err) {
				t.Fatalf("GetBlob of a corrupted blob: %v", err)
			}
			for _, k := range []string{"main.go", "_devbot/blobs/xyz", storage.BlobPrefix + strings.Repeat("A", 64)} {
				if _, err := f.GetBlob(ctx, bucket, k); !errors.Is(err, fault.ErrInvalid) {
					t.Errorf("GetBlob(%q): %v, want invalid", k, err)
				}
			}
			for _, p := range []string{"_devbot/blobs/" + strings.Repeat("0", 64), "../x", "x#y"} {
				if err := f.PublishCurrent(ctx, bucket, p, []byte("x"), "text/plain"); !errors.Is(err, fault.ErrInvalid) {
					t.Errorf("PublishCurrent(%q): %v, want invalid", p, err)
				}
			}
		})
	}
}

// A 10 MiB file is refused before anything is sent, with a message a user
// can read.
func TestFilesTooLarge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bundle := setupSupabase(t)
	local := newLocal(t)
	for name, b := range map[string]storage.Backend{"local": local, "supabase": bundle.sb} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := storage.NewFiles(b, 0) // the default, 1 MiB
			bucket := storagetest.NewBucket(t, b)
			sentBefore := len(bundle.srv.Requests())
			big := make([]byte, 10<<20)
			_, _, err := f.PutBlob(ctx, bucket, big, "text/plain")
			wantTooLarge(t, err)
			wantTooLarge(t, f.PublishCurrent(ctx, bucket, "big.txt", big, "text/plain"))
			wantTooLarge(t, f.CheckSize(10<<20))
			if name == "supabase" {
				if n := len(bundle.srv.Requests()) - sentBefore; n != 0 {
					t.Fatalf("%d requests sent for a refused file", n)
				}
			}
			if entries, err := b.List(ctx, bucket, ""); err != nil || len(entries) != 0 {
				t.Fatalf("List after refusals = %v, %v; want empty", entries, err)
			}
			// Exactly the limit is allowed.
			if _, _, err := f.PutBlob(ctx, bucket, make([]byte, storage.DefaultMaxBytes), "text/plain"); err != nil {
				t.Fatalf("PutBlob of exactly the limit: %v", err)
			}
		})
	}
}

func wantTooLarge(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, fault.ErrTooLarge) || !fault.IsPermanent(err) {
		t.Fatalf("%v: want a permanent fault.ErrTooLarge", err)
	}
	if !strings.Contains(err.Error(), "the file is 10 MiB; the limit is 1 MiB") {
		t.Fatalf("message %q does not say the size and the limit", err)
	}
}

func TestFormatBytes(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 bytes", 1: "1 byte", 1023: "1023 bytes", 1024: "1 KiB",
		1536: "1.5 KiB", 1 << 20: "1 MiB", 10 << 20: "10 MiB", 1<<20 + 1<<19: "1.5 MiB"} {
		if got := storage.FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func BenchmarkLocalBlobs(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("PutBlob/%s", storage.FormatBytes(int64(size))), func(b *testing.B) {
			l := newLocal(b)
			f := storage.NewFiles(l, 0)
			bucket := storagetest.NewBucket(b, l)
			data := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16) // a new blob each time
				if _, _, err := f.PutBlob(context.Background(), bucket, data, "text/plain"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("GetBlob/%s", storage.FormatBytes(int64(size))), func(b *testing.B) {
			l := newLocal(b)
			f := storage.NewFiles(l, 0)
			bucket := storagetest.NewBucket(b, l)
			key, _, err := f.PutBlob(context.Background(), bucket, make([]byte, size), "text/plain")
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.GetBlob(context.Background(), bucket, key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
