package functions

import (
	"context"
	"errors"
	"log/slog"
	"strings"
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
		{"supabase project URL", map[string]string{"STORAGE_BACKEND": "supabase", "SUPABASE_URL": srv.URL,
			"SUPABASE_KEY": storagetest.SecretKey, "MAX_FILE_BYTES": "16"}},
		{"bare Storage server", map[string]string{"STORAGE_BACKEND": "supabase", "SUPABASE_STORAGE_URL": storagetest.NewBareServer(t).BaseURL,
			"SUPABASE_KEY": storagetest.Key, "MAX_FILE_BYTES": "16"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }, config.Storage)
			if err != nil {
				t.Fatal(err)
			}
			d := NewDeps(cfg, slog.New(slog.DiscardHandler))
			defer d.Close()
			files, err := d.Storage()
			if err != nil {
				t.Fatal(err)
			}
			if again, err := d.Storage(); err != nil || again != files {
				t.Errorf("a second Storage() made another backend (%v): want the process's one", err)
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

// An anon or publishable key would make storage silently empty: the
// configuration refuses it at start, naming the key needed.
func TestDepsStorageRefusesAnonKey(t *testing.T) {
	t.Parallel()
	srv := storagetest.NewServer(t)
	for key, want := range map[string]string{
		storagetest.AnonKey:               `SUPABASE_KEY is the "anon" key: use the project's service_role key (or an sb_secret_… key)`,
		"sb_publishable_storagetest01234": "SUPABASE_KEY is a publishable key (sb_publishable_…): use a secret key (sb_secret_…) or the service_role key",
	} {
		env := map[string]string{"STORAGE_BACKEND": "supabase", "SUPABASE_URL": srv.BaseURL, "SUPABASE_KEY": key}
		_, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.Storage)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("SUPABASE_KEY=%.20s…: %v, want %q", key, err, want)
		}
	}
}
