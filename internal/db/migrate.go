package db

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockID is the advisory lock two concurrent migrate runs contend
// for; the second waits until the first is done, then finds nothing to do.
const migrationLockID = 0x64657662 // "devb"

// MigrationResult is one applied migration.
type MigrationResult struct {
	Version int64
	Name    string
}

// Migrate applies every pending migration. It is idempotent and safe to run
// from several instances at once (a session advisory lock serializes them).
// Run it against a direct or session-mode connection: Supabase's transaction
// pooler does not keep session advisory locks.
func Migrate(ctx context.Context, url string, logger *slog.Logger) ([]MigrationResult, error) {
	cfg, err := stdlibConfig(url)
	if err != nil {
		return nil, err
	}
	sqlDB := stdlib.OpenDB(*cfg)
	defer sqlDB.Close()

	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(2, 300))
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		var partial *goose.PartialError
		if errors.As(err, &partial) && partial.Failed != nil {
			return nil, fmt.Errorf("migrate: %s failed: %w", partial.Failed.Source.Path, partial.Err)
		}
		return nil, translate(fmt.Errorf("migrate: %w", err))
	}
	var out []MigrationResult
	for _, r := range results {
		out = append(out, MigrationResult{Version: r.Source.Version, Name: r.Source.Path})
		logger.InfoContext(ctx, "migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration.String())
	}
	return out, nil
}

// SchemaVersion reports the newest migration embedded in this binary.
func SchemaVersion() (int64, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return 0, err
	}
	names, err := fs.Glob(sub, "*.sql")
	if err != nil || len(names) == 0 {
		return 0, fmt.Errorf("no embedded migrations")
	}
	return goose.NumericComponent(names[len(names)-1])
}

// Fingerprint identifies the embedded migrations' content, so test harnesses
// can keep one migrated template per schema.
func Fingerprint() string {
	h := sha256.New()
	_ = fs.WalkDir(migrations, "migrations", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := migrations.ReadFile(path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}
