package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/devbot-hq/devbot/internal/bench"
)

func init() {
	register("bench", command{
		summary: "measure devbot beside ceilings measured in the same run (bench [part])",
		usage: `devbot bench [edit|ingress|start|pipeline] [--repeat 3] [--n N] [--files F]
             [--concurrency C] [--duration D] [--json] [--short] [--cpuprofile FILE]

Without a part, runs every part. Each figure is measured beside its ceiling,
interleaved, --repeat times; it prints min/median/max of each, the ratio of
the medians as the share of the ceiling reached, and a last line
"<part>: <figure> ... ratio NN.N%". --json prints the reports as JSON.
Parts:
  edit      the edit engine's cases beside their floor (bytes.Index of every
            SEARCH text plus one copy of the file)
  ingress   signed webhook requests/s and p50/p99 at --concurrency (32) beside
            a bare net/http handler
  start     cold start of devbot serve to its first HTTP answer, and RSS after
            1,000 requests, beside a hello-world binary built the same way
  pipeline  direct-edit refinements/s and p50/p99 webhook→reply (--n 2000 over
            --files 200 at --concurrency 32, after one file, serial, 2,000
            files of one project each, and one project of 200 files under
            load) beside a pgbench-like write loop
            on the same database; statements, transactions and round trips
            per refinement on devbot's pool; process CPU, split by component
            (not with --cpuprofile: one CPU profile at a time)
See the README's Benchmarks section.`,
		run: runBench,
	})
}

// benchParts runs one part; a variable so the test can see which exist.
var benchParts = map[string]func(context.Context, bench.Options) ([]bench.Report, error){
	"edit": func(_ context.Context, o bench.Options) ([]bench.Report, error) {
		r, err := bench.Edit(o)
		return []bench.Report{r}, err
	},
}

func runBench(ctx context.Context, e env, args []string) error {
	var parts []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		parts, args = append(parts, args[0]), args[1:]
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var o bench.Options
	fs.IntVar(&o.N, "n", 0, "pipeline: refinements (2000); ingress: requests per round")
	fs.IntVar(&o.Files, "files", 0, "pipeline: files, one user each (200, after runs at 1 file and one project of 200 by default)")
	fs.IntVar(&o.Concurrency, "concurrency", 0, "requests in flight (32)")
	fs.IntVar(&o.Repeat, "repeat", 3, "rounds of figure and ceiling, interleaved")
	fs.DurationVar(&o.Duration, "duration", 0, "ingress: length of a round; edit: of one measurement")
	asJSON := fs.Bool("json", false, "print the reports as JSON")
	verbose := fs.Bool("v", false, "print progress to stderr")
	fs.BoolVar(&o.Short, "short", false, "tiny sizes (a smoke test)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (devbot, broker, fakes and driver: one process) to this file; the pipeline's CPU split is then not measured")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	parts = append(parts, fs.Args()...)
	if len(parts) == 0 {
		for _, p := range bench.Parts {
			if benchParts[p] != nil {
				parts = append(parts, p)
			}
		}
	}
	for _, p := range parts {
		if benchParts[p] == nil {
			known := []string{}
			for k := range benchParts {
				known = append(known, k)
			}
			slices.Sort(known)
			return usageError(fmt.Sprintf("unknown part %q (parts: %s)", p, strings.Join(known, ", ")))
		}
	}
	o.Lookup = e.lookup
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *verbose {
		o.Log = e.stderr
	}
	var all []bench.Report
	for _, p := range parts {
		t0 := time.Now()
		reports, err := benchParts[p](ctx, o)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		all = append(all, reports...)
		if !*asJSON {
			for _, r := range reports {
				r.Write(e.stdout)
			}
			fmt.Fprintf(e.stderr, "(%s took %v)\n", p, time.Since(t0).Round(time.Millisecond))
		}
	}
	if *asJSON {
		return bench.WriteJSON(e.stdout, all)
	}
	return nil
}

func init() {
	benchParts["ingress"] = func(ctx context.Context, o bench.Options) ([]bench.Report, error) {
		r, err := bench.Ingress(ctx, o)
		return []bench.Report{r}, err
	}
}

func init() {
	benchParts["start"] = func(ctx context.Context, o bench.Options) ([]bench.Report, error) {
		r, err := bench.Start(ctx, o)
		return []bench.Report{r}, err
	}
}

func init() {
	benchParts["pipeline"] = bench.Pipeline
}
