package bench

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
)

// TestDBCounterCounts checks the tracer's counts against what each kind of
// call sends, on a real server, in the exec mode the tests run with.
func TestDBCounterCounts(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.EmptyDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	mode, err := db.ParseExecMode(dbtest.ExecMode())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.DefaultQueryExecMode = mode
	count := &dbCounter{}
	cfg.ConnConfig.Tracer = count
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	d := &db.DB{Pool: pool}
	if _, err := pool.Exec(ctx, `CREATE TABLE t (x int)`); err != nil {
		t.Fatal(err)
	}
	step := func(name string, want dbCounts, f func() error) {
		t.Helper()
		before := count.read()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := count.read().sub(before); got != want {
			t.Errorf("%s: counted %+v, want %+v", name, got, want)
		}
	}
	step("a statement alone", dbCounts{Statements: 1, Transactions: 1, RoundTrips: 1}, func() error {
		_, err := pool.Exec(ctx, `INSERT INTO t VALUES (1)`)
		return err
	})
	step("InTx with two statements", dbCounts{Statements: 2, Transactions: 1, RoundTrips: 4}, func() error {
		return d.InTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO t VALUES (2)`); err != nil {
				return err
			}
			var n int
			return tx.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n)
		})
	})
	step("a batch alone (one implicit transaction)", dbCounts{Statements: 3, Transactions: 1, RoundTrips: 1}, func() error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO t VALUES (3)`)
		b.Queue(`INSERT INTO t VALUES (4)`)
		b.Queue(`SELECT count(*) FROM t`)
		return pool.SendBatch(ctx, b).Close()
	})
	step("a batch in a transaction", dbCounts{Statements: 2, Transactions: 1, RoundTrips: 3}, func() error {
		return d.InTx(ctx, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			b.Queue(`INSERT INTO t VALUES (5)`)
			b.Queue(`INSERT INTO t VALUES (6)`)
			return tx.SendBatch(ctx, b).Close()
		})
	})
	step("a copy alone", dbCounts{Statements: 1, Transactions: 1, RoundTrips: 1}, func() error {
		_, err := pool.CopyFrom(ctx, pgx.Identifier{"t"}, []string{"x"}, pgx.CopyFromRows([][]any{{7}, {8}}))
		return err
	})
	step("a rolled-back transaction", dbCounts{Statements: 1, Transactions: 1, RoundTrips: 3}, func() error {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO t VALUES (9)`); err != nil {
			return err
		}
		return tx.Rollback(ctx)
	})
}

func TestClassifySQL(t *testing.T) {
	for sql, want := range map[string]sqlKind{
		"begin": sqlBegin, "begin isolation level serializable": sqlBegin, " START TRANSACTION": sqlBegin,
		"commit": sqlTxControl, "rollback": sqlTxControl, "savepoint sp_1": sqlTxControl, "release savepoint sp_1": sqlTxControl,
		"SELECT 1": sqlStatement, "\n  insert into t values (1)": sqlStatement, "beginning_table_select": sqlStatement,
	} {
		if got := classify(sql); got != want {
			t.Errorf("classify(%q) = %d, want %d", sql, got, want)
		}
	}
}
