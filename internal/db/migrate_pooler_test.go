package db_test

import (
	"context"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/pgtemp"
)

// Supabase's transaction pooler (and PgBouncer in transaction mode) hands
// each transaction to any backend, so a session advisory lock taken by one
// migrate run protects nothing (and a backend that already holds it grants
// it again). Eight runs through a pool of two must each finish, and apply
// every migration exactly once between them. A race shows only now and then,
// so the test plays several rounds, each on a new database.
func TestMigrateConcurrentlyThroughTransactionPooler(t *testing.T) {
	t.Parallel()
	b := startBouncer(t, 2)
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	const rounds, runs = 4, 8
	for round := range rounds {
		direct := dbtest.EmptyDatabase(t)
		pooled := throughBouncer(t, direct, b)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		var wg sync.WaitGroup
		errs := make([]error, runs)
		applied := make([]int, runs)
		start := time.Now()
		for i := range runs {
			wg.Go(func() {
				r, err := db.Migrate(ctx, pooled, quiet)
				errs[i], applied[i] = err, len(r)
			})
		}
		wg.Wait()
		t.Logf("round %d: %d runs took %v, applied %v", round, runs, time.Since(start).Round(time.Millisecond), applied)
		total := 0
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, migrate %d: %v", round, i, err)
			}
			total += applied[i]
		}
		if total != len(files) {
			t.Errorf("round %d: the %d runs applied %d migrations in all, want each of the %d exactly once", round, runs, total, len(files))
		}
		conn := dbtest.Connect(t, direct)
		var rows, distinct int
		if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&rows, &distinct); err != nil {
			t.Fatal(err)
		}
		if rows != len(files) || distinct != len(files) {
			t.Errorf("round %d: goose_db_version has %d rows (%d versions), want %d", round, rows, distinct, len(files))
		}
		// Nothing is left locked for the next deploy.
		if again, err := db.Migrate(ctx, pooled, quiet); err != nil || len(again) != 0 {
			t.Errorf("round %d: a later migrate applied %d, err %v; want 0, nil", round, len(again), err)
		}
		cancel()
		if t.Failed() {
			return
		}
	}
}

// startBouncer starts PgBouncer in transaction mode with a pool of size in
// front of the tests' server (the direct one).
func startBouncer(t *testing.T, size int) *pgtemp.Bouncer {
	t.Helper()
	u, err := url.Parse(dbtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	b, err := pgtemp.StartBouncer(context.Background(), pgtemp.BouncerOptions{Upstream: u.Host, PoolSize: size})
	if err != nil {
		t.Fatalf("this test needs PgBouncer: %v", err)
	}
	t.Cleanup(func() { b.Stop() })
	return b
}

// throughBouncer returns rawURL (a direct one) through b.
func throughBouncer(t *testing.T, rawURL string, b *pgtemp.Bouncer) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = "127.0.0.1:" + strconv.Itoa(b.Port)
	return u.String()
}

// A run that died holding the lock (kill -9 during a deploy, before it
// applied anything) leaves its row locked; once its lease has expired the
// next run takes the lock over instead of waiting forever.
func TestMigrateTakesOverTheLockOfADeadRun(t *testing.T) {
	t.Parallel()
	url := dbtest.EmptyDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := dbtest.Connect(t, url)
	// goose's lock table, as its table locker creates it, with the row of a
	// run that is gone.
	if _, err := conn.Exec(ctx, `CREATE TABLE goose_lock (
		lock_id bigint NOT NULL PRIMARY KEY, locked boolean NOT NULL DEFAULT false, locked_at timestamptz NULL,
		locked_by text NULL, lease_expires_at timestamptz NULL, updated_at timestamptz NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO goose_lock VALUES ($1, true, now() - interval '1 minute', 'dead-run',
		now() - interval '1 second', now() - interval '1 minute')`, int64(0x64657662)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	applied, err := db.Migrate(ctx, url, quiet)
	if err != nil || len(applied) == 0 {
		t.Fatalf("migrate after a dead run: applied %d, %v", len(applied), err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("migrate waited %v for an expired lock", d)
	}
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT locked FROM goose_lock`).Scan(&locked); err != nil || locked {
		t.Errorf("after the run the lock is locked=%v (err %v), want released", locked, err)
	}
}
