package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/db"
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
		return err
	}
	version, _ := db.SchemaVersion()
	if len(applied) == 0 {
		fmt.Fprintf(e.stdout, "schema is up to date (version %d)\n", version)
		return nil
	}
	fmt.Fprintf(e.stdout, "applied %d migration(s); schema is at version %d\n", len(applied), version)
	return nil
}
