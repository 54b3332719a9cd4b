package devstack

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devbot-hq/devbot/internal/db"
)

// traceDB reopens d's pool with tracer installed. The pool is reopened from
// its own configuration (pgxpool.Pool.Config) rather than through an option
// of db.Open, so that whatever db.Open sets up (exec mode, limits, hooks,
// a tracer of its own) stays exactly as in production and only the tracer
// is added. It runs before anything else holds the pool: every function
// reads it through the same *db.DB.
func traceDB(ctx context.Context, d *db.DB, tracer pgx.QueryTracer) error {
	old := d.Pool
	cfg := old.Config()
	if cfg.ConnConfig.Tracer != nil {
		tracer = multitracer.New(cfg.ConnConfig.Tracer, tracer)
	}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("database: reopening the pool with a tracer: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return fmt.Errorf("database: reopening the pool with a tracer: %w", err)
	}
	d.Pool = pool
	old.Close()
	return nil
}
