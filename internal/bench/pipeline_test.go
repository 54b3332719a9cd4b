package bench

import (
	"bytes"
	"context"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/dbtest"
)

// TestBenchPipelineShort runs the pipeline part at tiny sizes (one project
// under load, then one user per file) and checks that its figures are there
// and sane: devbot's pool was traced, the CPU split adds up, and the
// one-project run is compared with the other.
func TestBenchPipelineShort(t *testing.T) {
	env := map[string]string{"DATABASE_URL": dbtest.EmptyDatabase(t), "DATABASE_EXEC_MODE": dbtest.ExecMode()}
	var log bytes.Buffer
	reports, err := Pipeline(context.Background(), Options{Short: true, Repeat: 2, Log: &log,
		Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(reports) != 2 || !strings.Contains(reports[0].Setup, "one project") {
		t.Fatalf("want the one-project run then the main one, got %d reports", len(reports))
	}
	for _, r := range reports {
		f := r.Figures
		stmts, xacts, trips := f["statements_per_refinement"].Median, f["transactions_per_refinement"].Median, f["round_trips_per_refinement"].Median
		if !(stmts > xacts && xacts > 0 && trips >= stmts) {
			t.Errorf("%s: per refinement %v statements, %v transactions, %v round trips: want statements > transactions > 0, round trips >= statements",
				r.Setup, stmts, xacts, trips)
		}
		if whole := f["xact_commit_per_refinement"].Median; whole <= 0 {
			t.Errorf("%s: xact_commit per refinement %v", r.Setup, whole)
		}
		cpu := f["cpu_ms_per_refinement"].Median
		if cpu <= 0 {
			t.Errorf("%s: CPU per refinement %v", r.Setup, cpu)
		}
		// Each round's parts add up to its total; the medians of the
		// parts, over two rounds, to about the median total.
		sum := 0.0
		for _, c := range components {
			s, ok := f["cpu_ms_"+c]
			if !ok {
				t.Errorf("%s: no CPU figure for %s", r.Setup, c)
			}
			sum += s.Median
		}
		if math.Abs(sum-cpu) > 0.3*cpu {
			t.Errorf("%s: CPU split sums to %v ms, total %v ms", r.Setup, sum, cpu)
		}
		if f["cpu_ms_devbot"].Median <= 0 || f["cpu_ms_broker"].Median <= 0 {
			t.Errorf("%s: devbot or the broker used no CPU: %v", r.Setup, f)
		}
		if p := f["cpu_profiled_percent"].Median; p < 30 || p > 130 {
			t.Errorf("%s: the profile saw %v%% of getrusage's CPU", r.Setup, p)
		}
		var b bytes.Buffer
		r.Write(&b)
		out := b.String()
		for _, want := range []string{"statements", "round trips", "xact_commit", "CPU per refinement by component"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if last := lines[len(lines)-1]; !regexp.MustCompile(`^pipeline: .+ ratio \d+\.\d%$`).MatchString(last) {
			t.Errorf("last line %q", last)
		}
	}
	var one *Pair
	for i, p := range reports[1].Pairs {
		if strings.HasPrefix(p.Name, "one project") {
			one = &reports[1].Pairs[i]
		}
	}
	if one == nil || one.Ratio <= 0 {
		t.Errorf("the main run lacks the one-project comparison: %+v", reports[1].Pairs)
	}
	t.Logf("%s", log.String())
}

// The one project's files are created by messages a Telegram user could
// send: each within the Bot API's length, every file exactly once.
func TestCreationsFitAMessage(t *testing.T) {
	msgs := creations(200, 4096)
	if len(msgs) < 2 {
		t.Fatalf("%d messages for 200 files", len(msgs))
	}
	seen := map[string]int{}
	for _, m := range msgs {
		if len(m) > 4096 || !strings.HasPrefix(m, "/refine\n") {
			t.Errorf("message of %d bytes starting %q", len(m), m[:20])
		}
		for _, l := range strings.Split(m, "\n") {
			if strings.HasPrefix(l, "bench/") {
				seen[l]++
			}
		}
	}
	for i := range 200 {
		if seen[benchPath(i)] != 1 {
			t.Errorf("%s created %d times", benchPath(i), seen[benchPath(i)])
		}
	}
}
