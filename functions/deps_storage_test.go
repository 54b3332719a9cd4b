package functions

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/storage/storagetest"
)

func TestDepsStorage(t *testing.T) {
	t.Parallel()
	srv := storagetest.NewServer(t)
	cases := []struct {
		name string
		env  map[string]string
	}{
		{"local", map[string]string{"STORAGE_BACKEND": "local", "STORAGE_DIR": t.TempDir(), "MAX_FILE_BYTES": "16"}},
		{"supabase", map[string]string{"STORAGE_BACKEND": "supabase", "SUPABASE_URL": srv.BaseURL,
			"SUPABASE_KEY": storagetest.Key, "MAX_FILE_BYTES": "16"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }, config.Storage)
			if err != nil {
				t.Fatal(err)
			}
			files, err := NewDeps(cfg, slog.New(slog.DiscardHandler)).Storage()
			if err != nil {
				t.Fatal(err)
			}
			if files.MaxBytes() != 16 {
				t.Errorf("MaxBytes = %d, want MAX_FILE_BYTES", files.MaxBytes())
			}
			ctx := context.Background()
			bucket := storagetest.NewBucketName(t)
			if err := files.EnsureBucket(ctx, bucket); err != nil {
				t.Fatal(err)
			}
			key, _, err := files.PutBlob(ctx, bucket, []byte("hello"), "text/plain")
			if err != nil {
				t.Fatal(err)
			}
			if got, err := files.GetBlob(ctx, bucket, key); err != nil || string(got) != "hello" {
				t.Fatalf("GetBlob = %q, %v", got, err)
			}
			if _, _, err := files.PutBlob(ctx, bucket, make([]byte, 17), "text/plain"); !errors.Is(err, fault.ErrTooLarge) {
				t.Fatalf("PutBlob over MAX_FILE_BYTES: %v", err)
			}
		})
	}
}

func TestDepsStorageUnknownBackend(t *testing.T) {
	t.Parallel()
	d := NewDeps(&config.Config{StorageBackend: "s3"}, slog.New(slog.DiscardHandler))
	if _, err := d.Storage(); !errors.Is(err, fault.ErrInvalid) {
		t.Fatalf("Storage with STORAGE_BACKEND=s3: %v", err)
	}
}
