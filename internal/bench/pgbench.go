package bench

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

const pgbenchAccounts = 100000

type pgbenchResult struct {
	tps, p50, p99 float64
	commits       int64 // transactions committed
}

func pgbenchSetup(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, `DROP TABLE IF EXISTS devbot_bench_accounts, devbot_bench_history;
CREATE TABLE devbot_bench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84)) WITH (fillfactor = 100);
CREATE TABLE devbot_bench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22));
INSERT INTO devbot_bench_accounts SELECT g, 1, 0, '' FROM generate_series(1, `+strconv.Itoa(pgbenchAccounts)+`) g`)
	if err == nil {
		_, err = pool.Exec(ctx, `VACUUM ANALYZE devbot_bench_accounts`)
	}
	return err
}

// pgbenchLoop runs pgbench's simple-update transaction (pgbench -N) with
// conc clients for d: UPDATE an account, SELECT its balance, INSERT a
// history row, COMMIT. Its connections are opened before the clock starts
// and closed after it stops: a closing backend reports its counts to
// pg_stat_database at once, where an idle one may wait 10 s, so the loop's
// commits can be subtracted from xact_commit exactly.
func pgbenchLoop(ctx context.Context, pool *pgxpool.Pool, conc int, d time.Duration) (pgbenchResult, error) {
	defer pool.Reset()
	var warm []*pgxpool.Conn
	for range conc {
		c, err := pool.Acquire(ctx)
		if err != nil {
			return pgbenchResult{}, err
		}
		warm = append(warm, c)
	}
	for _, c := range warm {
		c.Release()
	}
	var mu sync.Mutex
	var lat []float64
	var firstErr error
	var wg sync.WaitGroup
	t0 := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []float64
			for time.Since(t0) < d {
				aid, delta := 1+rand.IntN(pgbenchAccounts), rand.IntN(10001)-5000
				s := time.Now()
				tx, err := pool.Begin(ctx)
				if err == nil {
					var bal int
					_, err = tx.Exec(ctx, `UPDATE devbot_bench_accounts SET abalance = abalance + $1 WHERE aid = $2`, delta, aid)
					if err == nil {
						err = tx.QueryRow(ctx, `SELECT abalance FROM devbot_bench_accounts WHERE aid = $1`, aid).Scan(&bal)
					}
					if err == nil {
						_, err = tx.Exec(ctx, `INSERT INTO devbot_bench_history (tid, bid, aid, delta, mtime) VALUES ($1, 1, $2, $3, CURRENT_TIMESTAMP)`,
							rand.IntN(10)+1, aid, delta)
					}
					if err == nil {
						err = tx.Commit(ctx)
					} else {
						tx.Rollback(ctx)
					}
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				mine = append(mine, float64(time.Since(s).Microseconds())/1e3)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	if firstErr != nil {
		return pgbenchResult{}, firstErr
	}
	return pgbenchResult{tps: float64(len(lat)) / el.Seconds(), p50: percentile(lat, 50), p99: percentile(lat, 99),
		commits: int64(len(lat))}, nil
}
