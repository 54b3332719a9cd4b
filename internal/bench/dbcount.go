package bench

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// dbCounter is a pgx tracer (query, batch and copy) that counts what a pool
// sends: statements, transactions and round trips. devbot bench installs it
// on devbot's own pool (devstack.Options.DBTracer), so the counts are exact
// for devbot's connections and leave out the bench's own queries, which
// pg_stat_database cannot tell apart.
//
// A statement is one SQL command sent: BEGIN, COMMIT, ROLLBACK and
// savepoints are not statements but mark transactions. A transaction is a
// BEGIN, or a statement (or a batch, or a copy) sent while the connection is
// outside a transaction: PostgreSQL runs that in a transaction of its own
// (a batch runs in one implicit transaction: pgx sends one Sync after it).
// A round trip is one Exec, Query or QueryRow (BEGIN and COMMIT included),
// one batch or one copy.
type dbCounter struct {
	statements, transactions, roundTrips atomic.Int64
}

// dbCounts is a reading of a dbCounter.
type dbCounts struct{ Statements, Transactions, RoundTrips int64 }

func (c *dbCounter) read() dbCounts {
	return dbCounts{Statements: c.statements.Load(), Transactions: c.transactions.Load(), RoundTrips: c.roundTrips.Load()}
}

func (a dbCounts) sub(b dbCounts) dbCounts {
	return dbCounts{Statements: a.Statements - b.Statements, Transactions: a.Transactions - b.Transactions,
		RoundTrips: a.RoundTrips - b.RoundTrips}
}

type sqlKind int

const (
	sqlStatement sqlKind = iota
	sqlBegin             // opens a transaction
	sqlTxControl         // COMMIT, ROLLBACK, savepoints: part of a transaction already counted
)

func classify(sql string) sqlKind {
	s := strings.TrimLeft(sql, " \t\r\n")
	word := s
	if i := strings.IndexAny(s, " \t\r\n;"); i >= 0 {
		word = s[:i]
	}
	switch strings.ToLower(word) {
	case "begin", "start":
		return sqlBegin
	case "commit", "end", "rollback", "savepoint", "release", "abort":
		return sqlTxControl
	}
	return sqlStatement
}

// idle says whether conn is outside a transaction: a statement sent now
// runs in a transaction of its own.
func idle(conn *pgx.Conn) bool { return conn.PgConn().TxStatus() == 'I' }

func (c *dbCounter) TraceQueryStart(ctx context.Context, conn *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.roundTrips.Add(1)
	switch classify(d.SQL) {
	case sqlBegin:
		c.transactions.Add(1)
	case sqlStatement:
		c.statements.Add(1)
		if idle(conn) {
			c.transactions.Add(1)
		}
	}
	return ctx
}

func (c *dbCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *dbCounter) TraceBatchStart(ctx context.Context, conn *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	c.roundTrips.Add(1)
	begins := 0
	if d.Batch != nil {
		for _, q := range d.Batch.QueuedQueries {
			switch classify(q.SQL) {
			case sqlBegin:
				begins++
			case sqlStatement:
				c.statements.Add(1)
			}
		}
	}
	switch {
	case begins > 0:
		c.transactions.Add(int64(begins))
	case idle(conn):
		c.transactions.Add(1)
	}
	return ctx
}

func (c *dbCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *dbCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func (c *dbCounter) TraceCopyFromStart(ctx context.Context, conn *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	c.roundTrips.Add(1)
	c.statements.Add(1)
	if idle(conn) {
		c.transactions.Add(1)
	}
	return ctx
}

func (c *dbCounter) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}
