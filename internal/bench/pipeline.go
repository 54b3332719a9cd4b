package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devbot-hq/devbot/internal/devstack"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

// replyTap serves a fake Telegram Bot API (telegramtest) and hands every
// message sent or edited to the chat's channel as it arrives, so a
// refinement's webhook→reply time is measured without polling.
type replyTap struct {
	fake *telegramtest.Server
	mu   sync.Mutex
	chat map[int64]chan string
}

func (t *replyTap) ch(chat int64) chan string {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.chat[chat]
	if c == nil {
		c = make(chan string, 256)
		t.chat[chat] = c
	}
	return c
}

func (t *replyTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var chat int64
	var text string
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") &&
		(strings.HasSuffix(r.URL.Path, "/sendMessage") || strings.HasSuffix(r.URL.Path, "/editMessageText")) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		var p struct {
			ChatID json.Number `json:"chat_id"`
			Text   string      `json:"text"`
		}
		if json.Unmarshal(body, &p) == nil {
			chat, _ = p.ChatID.Int64()
			text = p.Text
		}
	}
	t.fake.ServeHTTP(w, r)
	if chat != 0 {
		select {
		case t.ch(chat) <- text:
		default:
		}
	}
}

// wait reads chat's replies until one contains want.
func (t *replyTap) wait(ctx context.Context, chat int64, want string, timeout time.Duration) error {
	c := t.ch(chat)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var seen []string
	for {
		select {
		case s := <-c:
			if strings.Contains(s, want) {
				return nil
			}
			seen = append(seen, s)
		case <-timer.C:
			return fmt.Errorf("chat %d: no reply saying %q within %v (replies: %q)", chat, want, timeout, seen)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// poster posts updates to the stack's webhook as Telegram would.
type poster struct {
	url, secret string
	hc          *http.Client
	next        atomic.Int64
}

func (p *poster) post(ctx context.Context, update map[string]any) error {
	update["update_id"] = p.next.Add(1)
	body, _ := json.Marshal(update)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/TelegramWebhook", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", p.secret)
	resp, err := p.hc.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the webhook answered %s", resp.Status)
	}
	return nil
}

func (p *poster) message(chat int64, m map[string]any) map[string]any {
	m["message_id"] = p.next.Add(1)
	m["date"] = time.Now().Unix()
	m["from"] = map[string]any{"id": chat, "is_bot": false, "first_name": "Bench", "language_code": "en"}
	m["chat"] = map[string]any{"id": chat, "type": "private", "first_name": "Bench"}
	return map[string]any{"message": m}
}

func (p *poster) text(ctx context.Context, chat int64, text string) error {
	m := map[string]any{"text": text}
	if strings.HasPrefix(text, "/") {
		cmd, _, _ := strings.Cut(text, " ")
		cmd, _, _ = strings.Cut(cmd, "\n")
		m["entities"] = []map[string]any{{"offset": 0, "length": len(cmd), "type": "bot_command"}}
	}
	return p.post(ctx, p.message(chat, m))
}

func benchPath(i int) string  { return fmt.Sprintf("bench/f%04d.txt", i) }
func benchLine(k int) string  { return fmt.Sprintf("line %06d\n", k) }
func chatOf(run, i int) int64 { return 710000000 + int64(run)*100000 + int64(i) }
func refinement(i, k int) string {
	p := benchPath(i)
	return "/refine " + p + "\n" + p + "\n```\n<<<<<<< SEARCH\n" + benchLine(k) + "=======\n" + benchLine(k) + benchLine(k+1) + ">>>>>>> REPLACE\n```"
}

// pipelineRun is one configuration of the pipeline part.
type pipelineRun struct{ n, files, conc int }

type roundResult struct {
	rate, p50, p99 float64
	xacts          float64 // committed transactions per refinement
	cpuMS          float64 // process CPU per refinement, ms
}

type pgbenchResult struct{ tps, p50, p99 float64 }

// Pipeline measures direct-edit refinements through devbot dev's whole
// pipeline, beside a pgbench-like simple-update loop on the same database.
func Pipeline(ctx context.Context, o Options) ([]Report, error) {
	conc := o.Concurrency
	if conc <= 0 {
		conc = 32
	}
	var runs []pipelineRun
	switch {
	case o.Short:
		runs = []pipelineRun{{n: max(o.N, 20), files: max(o.Files, 4), conc: min(conc, 4)}}
	case o.N > 0 || o.Files > 0:
		runs = []pipelineRun{{n: or(o.N, 2000), files: or(o.Files, 200), conc: conc}}
	default:
		// The extremes, one file (its refinements are serial: one
		// chat) and one refinement per file, then the main run, whose
		// summary is the last line.
		runs = []pipelineRun{{100, 1, conc}, {2000, 2000, conc}, {2000, 200, conc}}
	}
	tap := &replyTap{fake: telegramtest.NewHandler(telegramtest.Token), chat: map[int64]chan string{}}
	tapURL, stopTap, err := serveLocal(tap)
	if err != nil {
		return nil, err
	}
	defer stopTap()
	stack, stop, err := startStack(ctx, o, map[string]string{
		"TELEGRAM_BOT_TOKEN": telegramtest.Token, "TELEGRAM_API_URL": tapURL,
		"REFINE_RATE_LIMIT": "0", "FREE_CREDITS": "1000000000", "LOG_LEVEL": "error",
	})
	if err != nil {
		return nil, err
	}
	defer stop()
	pgConns := int32(conc)
	pcfg, err := pgxpool.ParseConfig(stack.Config.DatabaseURL)
	if err != nil {
		return nil, err
	}
	pcfg.MaxConns = pgConns
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	if err := pgbenchSetup(ctx, pool); err != nil {
		return nil, fmt.Errorf("setting up the pgbench-like tables: %w", err)
	}
	defer pool.Exec(context.Background(), `DROP TABLE IF EXISTS devbot_bench_accounts, devbot_bench_history`)
	p := &poster{url: stack.URL, secret: stack.WebhookSecret, hc: httpClient(conc * 2)}
	p.next.Store(time.Now().UnixMilli() % 1e12)

	var reports []Report
	for ri, run := range runs {
		rep, err := pipelineOne(ctx, o, ri, run, stack, tap, p, pool)
		if err != nil {
			return reports, fmt.Errorf("%d refinements over %d files: %w", run.n, run.files, err)
		}
		reports = append(reports, rep)
	}
	return reports, nil
}

func or(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func pipelineOne(ctx context.Context, o Options, ri int, run pipelineRun, stack *devstack.Stack, tap *replyTap, p *poster, pool *pgxpool.Pool) (Report, error) {
	r := Report{Part: "pipeline", Setup: fmt.Sprintf("%d direct-edit refinements over %d files (one user per file) at concurrency %d, "+
		"webhook→final reply, beside a pgbench simple-update loop on the same database, %d rounds", run.n, run.files, run.conc, o.repeat())}
	// Set up one user per file: /start, /new, the file.
	o.logf("pipeline: setting up %d users and files", run.files)
	var next atomic.Int64
	errs := make(chan error, run.conc)
	var wg sync.WaitGroup
	for range run.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= run.files {
					return
				}
				if err := setupUser(ctx, p, tap, chatOf(ri, i), i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return r, err
	default:
	}
	dur := 3 * time.Second
	if o.Short {
		dur = 300 * time.Millisecond
	}
	var rounds []roundResult
	var pgs []pgbenchResult
	done := 0 // refinements applied per file so far
	for round := range o.repeat() {
		per := run.n / run.files
		if per == 0 {
			per = 1
		}
		rr, err := refineRound(ctx, run, ri, done, per, p, tap, pool)
		if err != nil {
			return r, err
		}
		done += per
		pg, err := pgbenchLoop(ctx, pool, run.conc, dur)
		if err != nil {
			return r, err
		}
		o.logf("pipeline: round %d: %.1f refinements/s (p50 %.1f ms, p99 %.1f ms, %.1f transactions, %.1f ms CPU each); pgbench %.0f tps",
			round+1, rr.rate, rr.p50, rr.p99, rr.xacts, rr.cpuMS, pg.tps)
		rounds, pgs = append(rounds, rr), append(pgs, pg)
	}
	f := func(g func(roundResult) float64) []float64 {
		var out []float64
		for _, x := range rounds {
			out = append(out, g(x))
		}
		return out
	}
	c := func(g func(pgbenchResult) float64) []float64 {
		var out []float64
		for _, x := range pgs {
			out = append(out, g(x))
		}
		return out
	}
	main := newPair("refinements", "/s", f(func(x roundResult) float64 { return x.rate }), "pgbench simple-update",
		c(func(x pgbenchResult) float64 { return x.tps }), false)
	p50 := newPair("webhook→reply p50", "ms", f(func(x roundResult) float64 { return x.p50 }), "pgbench transaction p50",
		c(func(x pgbenchResult) float64 { return x.p50 }), true)
	p99 := newPair("webhook→reply p99", "ms", f(func(x roundResult) float64 { return x.p99 }), "pgbench transaction p99",
		c(func(x pgbenchResult) float64 { return x.p99 }), true)
	r.Pairs = append(r.Pairs, main, p50, p99)
	xs := stat(f(func(x roundResult) float64 { return x.xacts }))
	cpu := stat(f(func(x roundResult) float64 { return x.cpuMS }))
	r.Notes = append(r.Notes,
		fmt.Sprintf("transactions per refinement (pg_stat_database xact_commit deltas, the whole database): %s", xs),
		fmt.Sprintf("process CPU per refinement (getrusage: devbot, the embedded broker, the fake Bot API and this driver together; "+
			"PostgreSQL not included): %s ms; the split by component is not done", cpu),
		"statements per refinement (pg_stat_statements) are not measured")
	if run.files == 1 {
		r.Notes = append(r.Notes, "one file is one chat: its refinements run one after another whatever the concurrency")
	}
	r.Summary = summaryLine("pipeline", fmt.Sprintf("%s refinements/s over %d files (p50 %s ms, p99 %s ms, %s transactions each) beside pgbench simple-update %s tps",
		num(main.Figure.Median), run.files, num(p50.Figure.Median), num(p99.Figure.Median), num(xs.Median), num(main.Ceiling.Median)), main.Ratio)
	return r, nil
}

func setupUser(ctx context.Context, p *poster, tap *replyTap, chat int64, i int) error {
	if err := p.text(ctx, chat, "/start"); err != nil {
		return err
	}
	if err := tap.wait(ctx, chat, "", 60*time.Second); err != nil {
		return err
	}
	if err := p.text(ctx, chat, "/new bench"); err != nil {
		return err
	}
	if err := tap.wait(ctx, chat, "created", 60*time.Second); err != nil {
		return err
	}
	id := tap.fake.AddFile([]byte(benchLine(0)))
	name := benchPath(i)
	doc := map[string]any{"document": map[string]any{"file_id": id, "file_unique_id": "u" + id,
		"file_name": name[strings.LastIndex(name, "/")+1:], "mime_type": "text/plain", "file_size": len(benchLine(0))}, "caption": name}
	if err := p.post(ctx, p.message(chat, doc)); err != nil {
		return err
	}
	return tap.wait(ctx, chat, "Added "+name, 60*time.Second)
}

func xactCommit(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	// Backends report their counts at most once a second.
	time.Sleep(1200 * time.Millisecond)
	var n int64
	err := pool.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
	return n, err
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// refineRound applies per refinements to each file, in order per file,
// with run.conc in flight, and times each from the POST to its reply.
func refineRound(ctx context.Context, run pipelineRun, ri, done, per int, p *poster, tap *replyTap, pool *pgxpool.Pool) (roundResult, error) {
	x0, err := xactCommit(ctx, pool)
	if err != nil {
		return roundResult{}, err
	}
	total := per * run.files
	lat := make([]float64, 0, total)
	var mu sync.Mutex
	var firstErr error
	// Files go to workers round-robin; a worker sends its files' k-th
	// refinements one after another, so each file's stay in order.
	workers := min(run.conc, run.files)
	var wg sync.WaitGroup
	c0, t0 := cpuTime(), time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range per {
				for i := w; i < run.files; i += workers {
					chat := chatOf(ri, i)
					s := time.Now()
					err := p.text(ctx, chat, refinement(i, done+k))
					if err == nil {
						err = tap.wait(ctx, chat, benchPath(i)+" changed", 2*time.Minute)
					}
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					lat = append(lat, float64(time.Since(s).Microseconds())/1e3)
					failed := firstErr != nil
					mu.Unlock()
					if failed {
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	el, cpu := time.Since(t0), cpuTime()-c0
	if firstErr != nil {
		return roundResult{}, firstErr
	}
	x1, err := xactCommit(ctx, pool)
	if err != nil {
		return roundResult{}, err
	}
	return roundResult{rate: float64(total) / el.Seconds(), p50: percentile(lat, 50), p99: percentile(lat, 99),
		xacts: float64(x1-x0) / float64(total), cpuMS: float64(cpu.Microseconds()) / 1e3 / float64(total)}, nil
}

const pgbenchAccounts = 100000

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
// history row, COMMIT.
func pgbenchLoop(ctx context.Context, pool *pgxpool.Pool, conc int, d time.Duration) (pgbenchResult, error) {
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
	return pgbenchResult{tps: float64(len(lat)) / el.Seconds(), p50: percentile(lat, 50), p99: percentile(lat, 99)}, nil
}
