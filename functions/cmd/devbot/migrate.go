package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/logging"
)

func init() {
	register("migrate", command{
		summary: "apply the database schema (idempotent; safe to run concurrently)",
		usage: `Applies every pending migration embedded in this binary to DATABASE_URL.
Use a direct or session-mode connection: Supabase's transaction pooler (port
6543) does not keep the advisory lock that serializes concurrent runs.`,
		run: migrate,
	})
}

func migrate(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	cfg, err := config.Load(e.lookup, config.Database)
	if err != nil {
		return err
	}
	logger := logging.New(e.stderr, cfg.LogFormat, cfg.LogLevel, cfg.Secrets()...)
	applied, err := db.Migrate(ctx, cfg.DatabaseURL, logger)
	if err != nil {
		return plainMigrateError(err)
	}
	version, _ := db.SchemaVersion()
	if len(applied) == 0 {
		fmt.Fprintf(e.stdout, "schema is up to date (version %d)\n", version)
		return nil
	}
	fmt.Fprintf(e.stdout, "applied %d migration(s); schema is at version %d\n", len(applied), version)
	return nil
}

// plainMigrateError says what went wrong for the operator who ran the
// command, and what to check: the database's own message, without the
// error class and the layers it passed through.
func plainMigrateError(err error) error {
	var (
		ce *pgconn.ConnectError
		pe *pgconn.PgError
		oe *net.OpError
	)
	connecting := errors.As(err, &ce)
	switch {
	case connecting && errors.As(err, &pe):
		return fmt.Errorf("the database refused the connection: %s; check the user, password and database name in DATABASE_URL", pe.Message)
	case connecting:
		where, why := "", "no answer"
		if ce.Config != nil {
			where = net.JoinHostPort(ce.Config.Host, fmt.Sprint(ce.Config.Port))
		}
		if errors.As(err, &oe) {
			why = oe.Err.Error()
			if _, after, ok := strings.Cut(why, ": "); ok { // "connect: connection refused"
				why = after
			}
		}
		return fmt.Errorf("cannot reach the database at %s (%s): is PostgreSQL running there, and is DATABASE_URL right?", where, why)
	case errors.As(err, &pe):
		msg := "a migration failed: " + pe.Message
		if pe.Detail != "" {
			msg += " (" + pe.Detail + ")"
		}
		return errors.New(msg)
	case errors.Is(err, context.Canceled):
		return errors.New("stopped before the schema was up to date; run it again")
	}
	return fmt.Errorf("the schema could not be applied: %s", plainText(err))
}

// plainText is err's text without the leading error classes and "migrate:"
// prefixes that only developers read.
func plainText(err error) string {
	s := err.Error()
	for {
		t := strings.TrimPrefix(s, "migrate: ")
		for _, k := range []error{fault.ErrUnavailable, fault.ErrInvalid, fault.ErrConflict, fault.ErrNotFound, fault.ErrUnauthorized} {
			t = strings.TrimPrefix(t, k.Error()+": ")
		}
		if t == s {
			return s
		}
		s = t
	}
}
