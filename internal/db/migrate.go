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
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockID is the row of goose_lock that concurrent migrate runs
// contend for; the second waits until the first is done, then finds nothing
// to do.
const migrationLockID = 0x64657662 // "devb"

// The lock is a lease: held while its holder's heartbeat renews it, taken
// over once it has expired (its holder died). A waiting run polls every
// lockPoll for up to lockWait.
const (
	lockLease     = 30 * time.Second
	lockHeartbeat = 5 * time.Second
	lockPoll      = 500 * time.Millisecond
	lockWait      = 10 * time.Minute
)

// MigrationResult is one applied migration.
type MigrationResult struct {
	Version int64
	Name    string
}

// Migrate applies every pending migration. It is idempotent and safe to run
// from several instances at once, through any pooler: the runs are
// serialized by a lock row in the table goose_lock (goose's table locker), a
// lease renewed by a heartbeat, which works through a transaction pooler
// where a session advisory lock does not (Supabase's pooler on port 6543
// and PgBouncer in transaction mode hand each transaction to any backend,
// so a session lock lands on a pooled backend, is granted again to whoever
// next lands there, and its unlock lands elsewhere). Each migration runs in
// a transaction of its own, which a transaction pooler keeps on one backend,
// and every query uses the simple protocol (no prepared statements).
func Migrate(ctx context.Context, url string, logger *slog.Logger) ([]MigrationResult, error) {
	cfg, err := stdlibConfig(url)
	if err != nil {
		return nil, err
	}
	sqlDB := stdlib.OpenDB(*cfg)
	defer sqlDB.Close()

	locker, err := lock.NewPostgresTableLocker(
		lock.WithTableLockID(migrationLockID),
		lock.WithTableLeaseDuration(lockLease),
		lock.WithTableHeartbeatInterval(lockHeartbeat),
		lock.WithTableLockTimeout(lockPoll, uint64(lockWait/lockPoll)),
		lock.WithTableUnlockTimeout(time.Second, 60),
		lock.WithTableLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub,
		goose.WithLocker(locker), goose.WithDisableGlobalRegistry(true))
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
