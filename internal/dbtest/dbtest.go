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
//
// The tests can run through a transaction pooler (CI's second run goes
// through PgBouncer in transaction mode, as production goes through
// Supabase's): TEST_DATABASE_URL then names the pooler, DATABASE_EXEC_MODE
// (for example exec) how the tests' pools query, and TEST_DATABASE_ADMIN_URL
// a direct connection to the same server. The harness's own work (CREATE and
// DROP DATABASE, the session lock that serializes them, migrating the
// template) needs a session, so it always goes direct; the tests' pools,
// which are what matters, go through the pooler.
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

// ServerURL is the server URL the tests' own connections use (it may name a
// pooler).
func ServerURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// AdminURL is the direct connection the harness creates and drops databases
// with: TEST_DATABASE_ADMIN_URL, else ServerURL.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_ADMIN_URL"); u != "" {
		return u
	}
	return ServerURL()
}

// ExecMode is the pgx query exec mode the tests' connections use:
// DATABASE_EXEC_MODE, as in production ("" is pgx's default). Tests that
// build a configuration pass it on as DATABASE_EXEC_MODE.
func ExecMode() string { return os.Getenv("DATABASE_EXEC_MODE") }

// Connect opens a single connection to url (a URL from this package) with
// the tests' exec mode; it is closed at cleanup.
func Connect(tb testing.TB, url string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		tb.Fatalf("dbtest: %s: %v", redact(url), err)
	}
	mode, err := db.ParseExecMode(ExecMode())
	if err != nil {
		tb.Fatalf("dbtest: DATABASE_EXEC_MODE: %v", err)
	}
	cfg.DefaultQueryExecMode = mode
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf(howToStart, redact(url), err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
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
	conn, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		tb.Fatalf(howToStart, redact(AdminURL()), err)
	}
	defer conn.Close(ctx)
	if err := fn(ctx, conn); err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
}

// URLFor returns the server URL with its database replaced by name.
func URLFor(name string) string { return withDatabase(ServerURL(), name) }

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(fmt.Sprintf("dbtest: TEST_DATABASE_URL or TEST_DATABASE_ADMIN_URL is not a URL: %v", err))
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
	if _, err := db.Migrate(ctx, withDatabase(AdminURL(), building), quiet); err != nil {
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
	d, err := db.Open(ctx, u, db.Options{MaxConns: 8, ExecMode: ExecMode()})
	if err != nil {
		tb.Fatalf(howToStart, redact(u), err)
	}
	tb.Cleanup(d.Close)
	return d
}
