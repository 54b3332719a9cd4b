// Package db is devbot's PostgreSQL store: the connection pool, the embedded
// schema migrations, a transaction helper that reruns serialization failures
// and deadlocks, and typed queries for every table.
//
// Driver errors are translated here, at the edge: pgx.ErrNoRows becomes
// fault.ErrNotFound, a unique or exclusion violation fault.ErrConflict, a
// CHECK violation on a balance fault.ErrInsufficient, and connection loss,
// serialization failures and similar conditions retryable errors. Callers
// above this package never look at SQLSTATE codes.
package db

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devbot-hq/devbot/internal/fault"
)

// DB is the store. It is safe for concurrent use.
type DB struct {
	Pool *pgxpool.Pool
}

// Options tune the pool.
type Options struct {
	// ExecMode is a pgx QueryExecMode name. Supabase's transaction pooler
	// (port 6543) cannot keep prepared statements across transactions: use
	// "exec" (or "simple_protocol") there.
	ExecMode string
	MaxConns int32
}

// ParseExecMode maps a configuration name to pgx's mode.
func ParseExecMode(name string) (pgx.QueryExecMode, error) {
	switch name {
	case "", "cache_statement":
		return pgx.QueryExecModeCacheStatement, nil
	case "cache_describe":
		return pgx.QueryExecModeCacheDescribe, nil
	case "describe_exec":
		return pgx.QueryExecModeDescribeExec, nil
	case "exec":
		return pgx.QueryExecModeExec, nil
	case "simple_protocol":
		return pgx.QueryExecModeSimpleProtocol, nil
	}
	return 0, fmt.Errorf("unknown query exec mode %q", name)
}

// Open connects a pool and checks that the server answers.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message can quote the URL, password included.
		return nil, errors.New("db: DATABASE_URL cannot be parsed as a PostgreSQL connection string")
	}
	mode, err := ParseExecMode(opts.ExecMode)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.DefaultQueryExecMode = mode
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, translate(fmt.Errorf("db: connect: %w", err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fault.AsRetryable(fmt.Errorf("db: cannot reach PostgreSQL at %s:%d: %w",
			cfg.ConnConfig.Host, cfg.ConnConfig.Port, err))
	}
	return &DB{Pool: pool}, nil
}

// Close closes the pool.
func (db *DB) Close() { db.Pool.Close() }

// Querier is what both the pool and a transaction offer; queries take one so
// they can run inside or outside InTx.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// maxTxAttempts bounds the reruns of a transaction that lost a race.
const maxTxAttempts = 5

// InTx runs fn in a transaction and commits it. A serialization failure or
// deadlock reruns fn from the start (so fn must not have effects outside the
// transaction), up to a bound; other errors roll back and are returned,
// translated.
func (db *DB) InTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.inTx(ctx, pgx.TxOptions{}, fn)
}

// InSerializableTx is InTx at the serializable isolation level.
func (db *DB) InSerializableTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.inTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable}, fn)
}

func (db *DB) inTx(ctx context.Context, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = pgx.BeginTxFunc(ctx, db.Pool, opts, fn)
		if err == nil || !isTxConflict(err) || attempt == maxTxAttempts {
			break
		}
		// Back off a little, with jitter, so the racers do not collide again.
		d := time.Duration(attempt*attempt)*5*time.Millisecond + rand.N(5*time.Millisecond)
		select {
		case <-ctx.Done():
			return fault.AsRetryable(ctx.Err())
		case <-time.After(d):
		}
	}
	return translate(err)
}

func isTxConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// translate maps a driver error to the domain's categories, once. Errors
// that are already classified pass through.
func translate(err error) error {
	if err == nil || fault.KindOf(err) != fault.Unknown {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fault.AsPermanent(fmt.Errorf("%w: %w", fault.ErrNotFound, err))
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fault.AsRetryable(err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505" || pgErr.Code == "23P01": // unique, exclusion
			return fault.AsPermanent(fmt.Errorf("%w: %w", fault.ErrConflict, err))
		case pgErr.Code == "23514" && isBalanceConstraint(pgErr.ConstraintName):
			return fault.AsPermanent(fmt.Errorf("%w: %w", fault.ErrInsufficient, err))
		case pgErr.Code[:2] == "23" || pgErr.Code[:2] == "22": // integrity, data
			return fault.AsPermanent(fmt.Errorf("%w: %w", fault.ErrInvalid, err))
		case pgErr.Code == "40001" || pgErr.Code == "40P01", // serialization, deadlock
			pgErr.Code[:2] == "08", // connection exception
			pgErr.Code[:2] == "53", // insufficient resources
			pgErr.Code[:2] == "57", // operator intervention (shutdown, cancel)
			pgErr.Code == "55P03":  // lock not available
			return fault.AsRetryable(fmt.Errorf("%w: %w", fault.ErrUnavailable, err))
		}
		// Syntax errors, undefined tables and the like are bugs or a missing
		// migration: a retry after a deploy can fix them, so leave them
		// unclassified (retried, then dead-lettered).
		return err
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return fault.AsRetryable(fmt.Errorf("%w: %w", fault.ErrUnavailable, err))
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return fault.AsRetryable(fmt.Errorf("%w: %w", fault.ErrUnavailable, err))
	}
	return err
}

func isBalanceConstraint(name string) bool {
	switch name {
	case "users_balance_not_negative", "users_held_covered":
		return true
	}
	return false
}

// Translate exposes the edge translation to packages that run their own SQL
// through a Querier.
func Translate(err error) error { return translate(err) }
