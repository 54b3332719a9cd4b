package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

type roundResult struct {
	rate, p50, p99 float64
	// per refinement, counted on devbot's own pool (dbCounter)
	statements, transactions, roundTrips float64
	cpuMS                                float64 // process CPU per refinement (getrusage), ms
	// split is the round's CPU profile by component (nil: not profiled);
	// profiledMS its total per refinement.
	split      cpuSplit
	profiledMS float64
}

type runResult struct {
	report Report
	rounds []roundResult
}

func (sp *stackPipeline) run(ctx context.Context, ri int, run pipelineRun) (runResult, error) {
	o := sp.o
	who := "one user per file"
	if run.oneProject {
		who = fmt.Sprintf("one user, one project, %d clients each refining a different file of it", run.conc)
	}
	r := Report{Part: "pipeline", Setup: fmt.Sprintf("%s (%s) at concurrency %d, webhook→final reply, "+
		"beside a pgbench simple-update loop on the same database, %d rounds", run, who, run.conc, o.repeat())}
	if err := sp.setup(ctx, ri, run); err != nil {
		return runResult{}, err
	}
	dur := 3 * time.Second
	if o.Short {
		dur = 300 * time.Millisecond
	}
	per := max(run.n/run.files, 1)
	x0, err := xactCommit(ctx, sp.pool)
	if err != nil {
		return runResult{}, err
	}
	var x1, pgCommits int64
	var rounds []roundResult
	var pgs []pgbenchResult
	var splitSkipped error
	for round := range o.repeat() {
		rr, err := sp.refineRound(ctx, run, ri, round*per, per)
		if errors.Is(err, errProfiling) {
			splitSkipped, err = err, nil
		}
		if err != nil {
			return runResult{}, err
		}
		// xact_commit is read once before the first round and once
		// after the last: each reading waits for the backends' reports.
		if round == o.repeat()-1 {
			if x1, err = xactCommit(ctx, sp.pool); err != nil {
				return runResult{}, err
			}
		}
		pg, err := pgbenchLoop(ctx, sp.pool, run.conc, dur)
		if err != nil {
			return runResult{}, err
		}
		if round < o.repeat()-1 {
			pgCommits += pg.commits
		}
		o.logf("pipeline: round %d: %.1f refinements/s (p50 %.1f ms, p99 %.1f ms; each %.1f statements, %.1f transactions, %.1f ms CPU); pgbench %.0f tps",
			round+1, rr.rate, rr.p50, rr.p99, rr.statements, rr.transactions, rr.cpuMS, pg.tps)
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
	stmts := stat(f(func(x roundResult) float64 { return x.statements }))
	xs := stat(f(func(x roundResult) float64 { return x.transactions }))
	trips := stat(f(func(x roundResult) float64 { return x.roundTrips }))
	cpu := stat(f(func(x roundResult) float64 { return x.cpuMS }))
	total := float64(o.repeat() * per * run.files)
	// The reading before the first round is itself a commit that the last
	// one sees; the pgbench loops between the readings are subtracted.
	whole := float64(x1-x0-pgCommits-1) / total
	r.Notes = append(r.Notes,
		fmt.Sprintf("per refinement on devbot's own pool (a pgx tracer): %s statements, %s transactions, %s round trips "+
			"(BEGIN/COMMIT are round trips, not statements; a statement outside a transaction is one; a batch is one round trip)",
			stmts, xs, trips),
		fmt.Sprintf("transactions per refinement in the whole database (pg_stat_database xact_commit over the %d rounds, less the pgbench loops): %s "+
			"(also the pool's pings and the sweeper; PostgreSQL reports a backend's counts up to 10 s late, so a few may fall outside)",
			o.repeat(), num(whole)),
		fmt.Sprintf("process CPU per refinement (getrusage: devbot, the embedded broker, the fakes and this driver; PostgreSQL not included): %s ms", cpu))
	r.Figures = map[string]Stat{"statements_per_refinement": stmts, "transactions_per_refinement": xs,
		"round_trips_per_refinement": trips, "xact_commit_per_refinement": stat([]float64{whole}), "cpu_ms_per_refinement": cpu}
	if splitSkipped != nil {
		r.Notes = append(r.Notes, "CPU by component: not measured: "+splitSkipped.Error())
	} else {
		r.Notes = append(r.Notes, splitNote(rounds, r.Figures))
	}
	if run.files == 1 {
		r.Notes = append(r.Notes, "one file is one chat: its refinements run one after another whatever the concurrency")
	}
	r.Summary = summaryLine("pipeline", fmt.Sprintf("%s refinements/s over %d files%s (p50 %s ms, p99 %s ms; each %s statements, %s transactions) beside pgbench simple-update %s tps",
		num(main.Figure.Median), run.files, map[bool]string{true: " of one project"}[run.oneProject],
		num(p50.Figure.Median), num(p99.Figure.Median), num(stmts.Median), num(xs.Median), num(main.Ceiling.Median)), main.Ratio)
	return runResult{report: r, rounds: rounds}, nil
}

// splitNote gives each component's CPU per refinement, median over the
// rounds of its share of the profile times the round's getrusage CPU, so
// the parts add up to the total; and how much of that total the profile saw.
func splitNote(rounds []roundResult, figures map[string]Stat) string {
	var parts []string
	for _, comp := range components {
		var v []float64
		for _, r := range rounds {
			if t := r.split.total(); t > 0 {
				v = append(v, r.cpuMS*float64(r.split[comp])/float64(t))
			}
		}
		figures["cpu_ms_"+comp] = stat(v)
		parts = append(parts, fmt.Sprintf("%s %s", comp, num(stat(v).Median)))
	}
	var cover []float64
	for _, r := range rounds {
		if r.cpuMS > 0 {
			cover = append(cover, 100*r.profiledMS/r.cpuMS)
		}
	}
	figures["cpu_profiled_percent"] = stat(cover)
	return fmt.Sprintf("CPU per refinement by component (ms, median of the rounds; a CPU profile of each round, its shares scaled to getrusage's total, "+
		"which the profile saw %.0f%% of): %s. A sample counts for the first component found walking its stack from the leaf "+
		"(devbot: its own packages; broker: pstest, the gRPC server, the push loop; fakes: the fake Bot API and storage.Local, even under devbot's code; "+
		"driver: this bench and the profiler); a stack with none counts for the component whose code started the goroutine, "+
		"else the runtime (GC, scheduler)", stat(cover).Median, strings.Join(parts, ", "))
}

// compareOneProject adds, to the report of the last run with many projects,
// the one-project run's rate beside it: ordering should serialize one
// project's jobs and nothing else.
func compareOneProject(runs []pipelineRun, results []runResult, reports []Report) {
	one, many := -1, -1
	for i, r := range runs {
		switch {
		case r.oneProject:
			one = i
		case r.files > 1:
			many = i
		}
	}
	if one < 0 || many < 0 {
		return
	}
	rate := func(rs []roundResult) []float64 {
		var out []float64
		for _, r := range rs {
			out = append(out, r.rate)
		}
		return out
	}
	p := newPair(fmt.Sprintf("one project, %d clients", runs[one].conc), "/s", rate(results[one].rounds),
		fmt.Sprintf("%d projects", runs[many].files), rate(results[many].rounds), false)
	reports[many].Pairs = append(reports[many].Pairs, p)
	reports[many].Notes = append(reports[many].Notes, fmt.Sprintf("one project under load reaches %.1f%% of the rate of %d projects "+
		"(medians: %s refinements/s over %d files of one project, one chat, against %s/s over %d projects, both at concurrency %d)",
		p.Ratio, runs[many].files, num(p.Figure.Median), runs[one].files, num(p.Ceiling.Median), runs[many].files, runs[many].conc))
}

// refineRound applies per refinements to each file, in order per file,
// with run.conc in flight, and times each from the POST to its reply.
func (sp *stackPipeline) refineRound(ctx context.Context, run pipelineRun, ri, done, per int) (roundResult, error) {
	total := per * run.files
	lat := make([]float64, 0, total)
	var mu sync.Mutex
	var firstErr error
	// Files go to workers round-robin; a worker sends its files' k-th
	// refinements one after another, so each file's stay in order.
	workers := min(run.conc, run.files)
	var wg sync.WaitGroup
	prof, profErr := startProfile()
	db0, c0, t0 := sp.count.read(), cpuTime(), time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range per {
				for i := w; i < run.files; i += workers {
					chat := run.chat(ri, i)
					want := sp.tap.expect(chat, benchPath(i)+" changed")
					s := time.Now()
					err := sp.post.text(ctx, chat, refinement(i, done+k))
					if err == nil {
						err = sp.tap.wait(ctx, want, 2*time.Minute)
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
	el, cpu, dbc := time.Since(t0), cpuTime()-c0, sp.count.read().sub(db0)
	var split cpuSplit
	if prof != nil {
		var err error
		if split, err = prof.stop(); err != nil {
			return roundResult{}, err
		}
	}
	if firstErr != nil {
		return roundResult{}, firstErr
	}
	n := float64(total)
	return roundResult{rate: n / el.Seconds(), p50: percentile(lat, 50), p99: percentile(lat, 99),
		statements: float64(dbc.Statements) / n, transactions: float64(dbc.Transactions) / n, roundTrips: float64(dbc.RoundTrips) / n,
		cpuMS: float64(cpu.Microseconds()) / 1e3 / n, split: split, profiledMS: float64(split.total()) / 1e6 / n}, profErr
}
