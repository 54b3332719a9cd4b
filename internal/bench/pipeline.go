package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/devstack"
	"github.com/devbot-hq/devbot/internal/telegram"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

func benchPath(i int) string  { return fmt.Sprintf("bench/f%04d.txt", i) }
func benchLine(k int) string  { return fmt.Sprintf("line %06d\n", k) }
func chatOf(run, i int) int64 { return 710000000 + int64(run)*100000 + int64(i) }
func refinement(i, k int) string {
	p := benchPath(i)
	return "/refine " + p + "\n" + p + "\n```\n<<<<<<< SEARCH\n" + benchLine(k) + "=======\n" + benchLine(k) + benchLine(k+1) + ">>>>>>> REPLACE\n```"
}

// pipelineRun is one configuration of the pipeline part.
type pipelineRun struct {
	n, files, conc int
	// oneProject: one user (one chat) holds every file in one project,
	// and conc clients refine different files of it at once; else each
	// file is a user of its own.
	oneProject bool
}

func (r pipelineRun) String() string {
	if r.oneProject {
		return fmt.Sprintf("%d refinements over %d files of one project", r.n, r.files)
	}
	return fmt.Sprintf("%d refinements over %d files", r.n, r.files)
}

// chat is the chat that refines file i in configuration ri.
func (r pipelineRun) chat(ri, i int) int64 {
	if r.oneProject {
		return chatOf(ri, 0)
	}
	return chatOf(ri, i)
}

// defaultRuns are the configurations of a default run, the main one last
// (its summary is the last line): one chat refining one file (serial: a
// latency figure), the extreme of one refinement per project over 2,000
// projects, one project under load (many clients, one user, one project:
// what ordering serializes there and nothing more), and 200 projects. The
// one project's 600 refinements a round (3 per file) are enough for a
// steady rate. All four took 2.5 minutes on the idle 2-core machine.
func defaultRuns(conc int) []pipelineRun {
	return []pipelineRun{{n: 100, files: 1, conc: conc}, {n: 2000, files: 2000, conc: conc},
		{n: 600, files: 200, conc: conc, oneProject: true}, {n: 2000, files: 200, conc: conc}}
}

// stackPipeline is what every configuration shares.
type stackPipeline struct {
	o     Options
	stack *devstack.Stack
	tap   *replyTap
	post  *poster
	pool  *pgxpool.Pool // the bench's own: pgbench, pg_stat_database
	count *dbCounter    // devbot's pool
}

// Pipeline measures direct-edit refinements through devbot dev's whole
// pipeline, beside a pgbench-like simple-update loop on the same database.
func Pipeline(ctx context.Context, o Options) (reports []Report, err error) {
	withComponent(ctx, compDriver, func(ctx context.Context) { reports, err = pipeline(ctx, o) })
	return reports, err
}

func pipeline(ctx context.Context, o Options) ([]Report, error) {
	conc := o.Concurrency
	if conc <= 0 {
		conc = 32
	}
	var runs []pipelineRun
	switch {
	case o.Short:
		c, n, f := min(conc, 4), max(o.N, 20), max(o.Files, 4)
		runs = []pipelineRun{{n: n, files: f, conc: c, oneProject: true}, {n: n, files: f, conc: c}}
	case o.N > 0 || o.Files > 0:
		runs = []pipelineRun{{n: or(o.N, 2000), files: or(o.Files, 200), conc: conc}}
	default:
		runs = defaultRuns(conc)
	}
	sp := &stackPipeline{o: o, tap: newReplyTap(), count: &dbCounter{}}
	var tapURL string
	var stopTap func()
	var err error
	withComponent(ctx, compFakes, func(context.Context) { tapURL, stopTap, err = serveLocal(sp.tap) })
	if err != nil {
		return nil, err
	}
	defer stopTap()
	var stop func()
	withComponent(ctx, compDevbot, func(ctx context.Context) {
		sp.stack, stop, err = startStack(ctx, o, map[string]string{
			"TELEGRAM_BOT_TOKEN": telegramtest.Token, "TELEGRAM_API_URL": tapURL,
			"REFINE_RATE_LIMIT": "0", "FREE_CREDITS": "1000000000", "LOG_LEVEL": "error",
			// The stack is thrown away on exit, and its PostgreSQL cluster
			// (the ceiling's too) runs with fsync=off: the files skip it
			// as well, so both sides keep the same durability.
			"STORAGE_NO_SYNC": "true",
		}, sp.count)
	})
	if err != nil {
		return nil, err
	}
	defer stop()
	pcfg, err := pgxpool.ParseConfig(sp.stack.Config.DatabaseURL)
	if err != nil {
		return nil, err
	}
	// The bench's own connections honour DATABASE_EXEC_MODE as devbot's do
	// (behind a transaction pooler prepared statements do not survive).
	mode, err := db.ParseExecMode(sp.stack.Config.DatabaseExecMode)
	if err != nil {
		return nil, err
	}
	pcfg.ConnConfig.DefaultQueryExecMode = mode
	pcfg.MaxConns = int32(conc)
	if sp.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, err
	}
	defer sp.pool.Close()
	if err := pgbenchSetup(ctx, sp.pool); err != nil {
		return nil, fmt.Errorf("setting up the pgbench-like tables: %w", err)
	}
	defer sp.pool.Exec(context.Background(), `DROP TABLE IF EXISTS devbot_bench_accounts, devbot_bench_history`)
	sp.post = &poster{url: sp.stack.URL, secret: sp.stack.WebhookSecret, hc: httpClient(conc * 2)}
	sp.post.next.Store(time.Now().UnixMilli() % 1e12)

	var reports []Report
	var results []runResult
	for ri, run := range runs {
		res, err := sp.run(ctx, ri, run)
		if err != nil {
			return reports, fmt.Errorf("%s: %w", run, err)
		}
		results = append(results, res)
		reports = append(reports, res.report)
	}
	compareOneProject(runs, results, reports)
	return reports, nil
}

func or(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// setup gives every file of run its user (or the one user) and project,
// each file holding one line, through the webhook as a user would: a user
// per file sends /new and the file as a document (posted without waiting
// for the first answer: Pub/Sub orders a chat's updates), conc chats at a
// time. The one user of oneProject sends /new, then creates the files with
// direct edits of many files each (an empty SEARCH creates a file), as
// long as a Telegram message may be: 200 uploads one after another in one
// chat took minutes on a loaded machine.
func (sp *stackPipeline) setup(ctx context.Context, ri int, run pipelineRun) error {
	if run.oneProject {
		sp.o.logf("pipeline: setting up one user, one project of %d files", run.files)
		return sp.setupProject(ctx, run.chat(ri, 0), run.files)
	}
	sp.o.logf("pipeline: setting up %d users, one project and one file each", run.files)
	var next atomic.Int64
	errs := make(chan error, run.conc)
	var wg sync.WaitGroup
	for range min(run.conc, run.files) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= run.files {
					return
				}
				if err := sp.setupUser(ctx, run.chat(ri, i), i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func (sp *stackPipeline) setupUser(ctx context.Context, chat int64, i int) error {
	created := sp.tap.expect(chat, "created")
	added := sp.tap.expect(chat, "Added "+benchPath(i))
	if err := sp.post.text(ctx, chat, "/new bench"); err != nil {
		return err
	}
	if err := sp.post.upload(ctx, sp.tap, chat, benchPath(i), []byte(benchLine(0))); err != nil {
		return err
	}
	if err := sp.tap.wait(ctx, created, 2*time.Minute); err != nil {
		return err
	}
	return sp.tap.wait(ctx, added, 2*time.Minute)
}

func (sp *stackPipeline) setupProject(ctx context.Context, chat int64, files int) error {
	w := sp.tap.expect(chat, "created")
	if err := sp.post.text(ctx, chat, "/new bench"); err != nil {
		return err
	}
	if err := sp.tap.wait(ctx, w, 2*time.Minute); err != nil {
		return err
	}
	for _, msg := range creations(files, telegram.MaxMessageLength) {
		w := sp.tap.expect(chat, " changed")
		if err := sp.post.text(ctx, chat, msg); err != nil {
			return err
		}
		if err := sp.tap.wait(ctx, w, 2*time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// creations are /refine messages, each at most limit bytes, that together
// create files 0..files-1, each holding benchLine(0).
func creations(files, limit int) []string {
	var msgs []string
	var b strings.Builder
	for i := range files {
		block := benchPath(i) + "\n```\n<<<<<<< SEARCH\n=======\n" + benchLine(0) + ">>>>>>> REPLACE\n```\n"
		if b.Len() > 0 && b.Len()+len(block) > limit {
			msgs = append(msgs, strings.TrimSuffix(b.String(), "\n"))
			b.Reset()
		}
		if b.Len() == 0 {
			b.WriteString("/refine\n")
		}
		b.WriteString(block)
	}
	if b.Len() > 0 {
		msgs = append(msgs, strings.TrimSuffix(b.String(), "\n"))
	}
	return msgs
}

// xactCommit reads pg_stat_database's committed transactions. A backend
// reports its counts when it goes idle at least a second after its last
// report (else up to 10 s later), so the reading waits a little first.
func xactCommit(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
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
