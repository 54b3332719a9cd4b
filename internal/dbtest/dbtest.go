// Package dbtest gives each test its own migrated PostgreSQL database, on a
// real server, so tests can commit, run in parallel and never see each
// other's rows.
//
// The server comes from TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable). The schema is
// migrated once into a template database named after the migrations'
// fingerprint; each test clones it (CREATE DATABASE ... TEMPLATE), which is
// much faster than migrating. When no server answers, tests fail, with a
// message saying how to start one: CI must never pass by skipping them.
package dbtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
)

// DefaultURL is the local server our machines run.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL is the admin connection URL tests use.
func ServerURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

const howToStart = `no PostgreSQL server answers at %s: %v
Start the local one with:
    pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
or point TEST_DATABASE_URL at a server where this user may CREATE DATABASE.`

var counter atomic.Int64

// lockTemplate is the advisory lock id that serializes template creation and
// cloning across test processes (go test runs packages in parallel).
const lockTemplate = 0x64627465 // "dbte"

// withAdmin runs fn on a connection to the server's admin database.
func withAdmin(tb testing.TB, fn func(ctx context.Context, conn *pgx.Conn) error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		tb.Fatalf(howToStart, redact(ServerURL()), err)
	}
	defer conn.Close(ctx)
	if err := fn(ctx, conn); err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
}

// URLFor returns the server URL with its database replaced by name.
func URLFor(name string) string {
	u, err := url.Parse(ServerURL())
	if err != nil {
		panic(fmt.Sprintf("dbtest: TEST_DATABASE_URL is not a URL: %v", err))
	}
	u.Path = "/" + name
	return u.String()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// uniqueName returns a database name no other test or process uses.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s_%d_%d_%d", prefix, os.Getpid(), time.Now().UnixNano()%1e6, counter.Add(1))
}

// EmptyDatabase creates an empty database for the test (dropped at cleanup)
// and returns its URL. Tests of the migrations themselves use it.
func EmptyDatabase(tb testing.TB) string {
	tb.Helper()
	name := uniqueName("devbot_empty")
	withAdmin(tb, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		return err
	})
	tb.Cleanup(func() { drop(tb, name) })
	return URLFor(name)
}

func drop(tb testing.TB, name string) {
	withAdmin(tb, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		return err
	})
}

// URL creates a migrated database for the test (dropped at cleanup) and
// returns its URL.
func URL(tb testing.TB) string {
	tb.Helper()
	template := "devbot_tmpl_" + db.Fingerprint()
	name := uniqueName("devbot_test")
	withAdmin(tb, func(ctx context.Context, conn *pgx.Conn) error {
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockTemplate); err != nil {
			return err
		}
		defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", lockTemplate)
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", template).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			if err := buildTemplate(ctx, conn, template); err != nil {
				return err
			}
		}
		_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{template}.Sanitize())
		return err
	})
	tb.Cleanup(func() { drop(tb, name) })
	return URLFor(name)
}

func buildTemplate(ctx context.Context, conn *pgx.Conn, template string) error {
	building := template + "_building"
	id := pgx.Identifier{building}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+id); err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := db.Migrate(ctx, URLFor(building), quiet); err != nil {
		return fmt.Errorf("migrating the template: %w", err)
	}
	// Renamed only once complete, so a crash never leaves a half-migrated
	// template behind under the real name.
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+id+" RENAME TO "+pgx.Identifier{template}.Sanitize()); err != nil {
		return err
	}
	// Templates of earlier schemas are of no further use.
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'devbot\_tmpl\_%' AND datname <> $1`, template)
	if err != nil {
		return err
	}
	stale, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, name := range stale {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
	return nil
}

// New opens a pool on a fresh migrated database; both are closed and
// dropped at cleanup.
func New(tb testing.TB) *db.DB {
	tb.Helper()
	u := URL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := db.Open(ctx, u, db.Options{MaxConns: 8})
	if err != nil {
		tb.Fatalf(howToStart, redact(u), err)
	}
	tb.Cleanup(d.Close)
	return d
}
