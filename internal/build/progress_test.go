package build_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/build"
	"github.com/devbot-hq/devbot/internal/db"
	breply "github.com/devbot-hq/devbot/internal/reply"
)

// progressSpec is a spec of three tasks whose titles need escaping.
var progressSpec = build.Spec{Title: "Todo & API", Summary: "s", Stack: []string{"Go"}, Tasks: []build.Task{
	{Title: "Skeleton", Does: "d", Files: []string{"main.go"}, DoneWhen: "w"},
	{Title: "Endpoints <v1>", Does: "d", Files: []string{"api.go"}, DoneWhen: "w"},
	{Title: "Tests", Does: "d", Files: []string{"api_test.go"}, DoneWhen: "w"},
}}

// progressTasks are the spec's tasks in the given states.
func progressTasks(states ...string) []db.BuildTask {
	var ts []db.BuildTask
	for i, st := range states {
		tj, _ := json.Marshal(progressSpec.Tasks[i])
		ts = append(ts, db.BuildTask{BuildID: 5, N: i + 1, Task: tj, State: st})
	}
	return ts
}

func buttonsText(rows [][]breply.Button) string {
	var out []string
	for _, row := range rows {
		var r []string
		for _, b := range row {
			r = append(r, b.Text+"="+b.Data)
		}
		out = append(out, strings.Join(r, " "))
	}
	return strings.Join(out, " | ")
}

func TestRenderProgress(t *testing.T) {
	fb := "Your last change was saved, but the review rejected it"
	reviewing := progressTasks(db.TaskApproved, db.TaskRunning, db.TaskPending)
	reviewing[1].Round, reviewing[1].Feedback = 1, &fb
	reviewing[1].Rounds = []db.TaskRound{{Round: 1, Reasons: []string{"POST /todos is missing & the list is not sorted by the due date of each todo"}}}
	checks := progressTasks(db.TaskRunning, db.TaskPending, db.TaskPending)
	checks[0].Round, checks[0].Feedback, checks[0].Rounds = 2, &fb, []db.TaskRound{{Round: 1}, {Round: 2, Checks: "main.go:3:1: expected '}'\n"}}
	applyErr := progressTasks(db.TaskRunning, db.TaskPending, db.TaskPending)
	applyErr[0].Round, applyErr[0].Feedback, applyErr[0].Rounds = 1, &fb, []db.TaskRound{{Round: 1, Error: "the change changed no file"}}
	firstRound := progressTasks(db.TaskRunning, db.TaskPending, db.TaskPending)
	firstRound[0].Round = 1 // a round ran, no feedback: nothing to say yet

	tests := []struct {
		name    string
		state   string
		current int
		charged int64
		tasks   []db.BuildTask
		want    string
		buttons string
	}{
		{name: "started", state: db.BuildRunning, tasks: progressTasks(db.TaskPending, db.TaskPending, db.TaskPending),
			want:    "Building <b>Todo &amp; API</b>  ░░░░░░░░░░  0/3\n⏳ 1 Skeleton\n◻️ 2 Endpoints &lt;v1&gt;\n◻️ 3 Tests\n0 credits so far.",
			buttons: "Pause=bpause:5 Cancel=bcancel:5"},
		{name: "a review asked for more", state: db.BuildRunning, current: 1, charged: 7, tasks: reviewing,
			want: "Building <b>Todo &amp; API</b>  ▓▓▓░░░░░░░  1/3\n✅ 1 Skeleton\n" +
				"⏳ 2 Endpoints &lt;v1&gt; — review asked: POST /todos is missing &amp; the list is not sorted by the due …, fixing (round 2)\n" +
				"◻️ 3 Tests\n7 credits so far.",
			buttons: "Pause=bpause:5 Cancel=bcancel:5"},
		{name: "a file did not parse", state: db.BuildRunning, tasks: checks,
			want:    "Building <b>Todo &amp; API</b>  ░░░░░░░░░░  0/3\n⏳ 1 Skeleton — a file did not parse, fixing (round 3)\n◻️ 2 Endpoints &lt;v1&gt;\n◻️ 3 Tests\n0 credits so far.",
			buttons: "Pause=bpause:5 Cancel=bcancel:5"},
		{name: "the change did not apply", state: db.BuildRunning, charged: 1, tasks: applyErr,
			want:    "Building <b>Todo &amp; API</b>  ░░░░░░░░░░  0/3\n⏳ 1 Skeleton — the change did not apply, fixing (round 2)\n◻️ 2 Endpoints &lt;v1&gt;\n◻️ 3 Tests\n1 credit so far.",
			buttons: "Pause=bpause:5 Cancel=bcancel:5"},
		{name: "a round without feedback", state: db.BuildRunning, tasks: firstRound,
			want:    "Building <b>Todo &amp; API</b>  ░░░░░░░░░░  0/3\n⏳ 1 Skeleton\n◻️ 2 Endpoints &lt;v1&gt;\n◻️ 3 Tests\n0 credits so far.",
			buttons: "Pause=bpause:5 Cancel=bcancel:5"},
		{name: "paused", state: db.BuildPaused, current: 2, charged: 12, tasks: progressTasks(db.TaskApproved, db.TaskApproved, db.TaskPending),
			want:    "Paused: <b>Todo &amp; API</b>  ▓▓▓▓▓▓░░░░  2/3\n✅ 1 Skeleton\n✅ 2 Endpoints &lt;v1&gt;\n◻️ 3 Tests\n12 credits so far.",
			buttons: "Resume=bresume:5 Cancel=bcancel:5"},
		{name: "writing the README", state: db.BuildRunning, current: 3, charged: 18, tasks: progressTasks(db.TaskApproved, db.TaskSkipped, db.TaskApproved),
			want: "Building <b>Todo &amp; API</b>  ▓▓▓▓▓▓▓▓▓▓  3/3\n✅ 1 Skeleton\n⏭ 2 Endpoints &lt;v1&gt; — skipped\n✅ 3 Tests\n" +
				"⏳ README.md\n18 credits so far.",
			buttons: "Pause=bpause:5 Cancel=bcancel:5"},
		{name: "blocked", state: db.BuildBlocked, current: 1, charged: 9, tasks: progressTasks(db.TaskApproved, db.TaskFailed, db.TaskPending),
			want: "Stopped at a task: <b>Todo &amp; API</b>  ▓▓▓░░░░░░░  1/3\n✅ 1 Skeleton\n❌ 2 Endpoints &lt;v1&gt; — did not pass\n◻️ 3 Tests\n9 credits so far."},
		{name: "built", state: db.BuildDone, current: 4, charged: 21, tasks: progressTasks(db.TaskApproved, db.TaskSkipped, db.TaskApproved),
			want: "Built <b>Todo &amp; API</b>  ▓▓▓▓▓▓▓▓▓▓  3/3\n✅ 1 Skeleton\n⏭ 2 Endpoints &lt;v1&gt; — skipped\n✅ 3 Tests\n21 credits so far."},
		{name: "cancelled", state: db.BuildCancelled, current: 1, charged: 3, tasks: progressTasks(db.TaskApproved, db.TaskRunning, db.TaskPending),
			want: "Cancelled: <b>Todo &amp; API</b>  ▓▓▓░░░░░░░  1/3\n✅ 1 Skeleton\n◻️ 2 Endpoints &lt;v1&gt;\n◻️ 3 Tests\n3 credits so far."},
		{name: "failed", state: db.BuildFailed, tasks: progressTasks(db.TaskPending, db.TaskPending, db.TaskPending),
			want: "Failed: <b>Todo &amp; API</b>  ░░░░░░░░░░  0/3\n◻️ 1 Skeleton\n◻️ 2 Endpoints &lt;v1&gt;\n◻️ 3 Tests\n0 credits so far."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := db.Build{ID: 5, State: tt.state, CurrentTask: tt.current, ChargedCredits: tt.charged}
			got, buttons := build.RenderProgress(b, progressSpec, tt.tasks)
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			if bt := buttonsText(buttons); bt != tt.buttons {
				t.Errorf("buttons %q, want %q", bt, tt.buttons)
			}
		})
	}
}

// The bar fills in tenths, rounding down.
func TestRenderProgressBar(t *testing.T) {
	spec := build.Spec{Title: "t"}
	for _, c := range []struct{ done, of, filled int }{{0, 1, 0}, {1, 1, 10}, {1, 3, 3}, {2, 3, 6}, {7, 8, 8}, {8, 8, 10}, {1, 12, 0}} {
		var ts []db.BuildTask
		for i := range c.of {
			st := db.TaskPending
			if i < c.done {
				st = db.TaskApproved
			}
			tj, _ := json.Marshal(build.Task{Title: fmt.Sprintf("task %d", i+1)})
			ts = append(ts, db.BuildTask{N: i + 1, Task: tj, State: st})
		}
		got, _ := build.RenderProgress(db.Build{State: db.BuildRunning, CurrentTask: c.done}, spec, ts)
		bar := strings.Repeat("▓", c.filled) + strings.Repeat("░", 10-c.filled)
		if want := fmt.Sprintf("Building <b>t</b>  %s  %d/%d\n", bar, c.done, c.of); !strings.HasPrefix(got, want) {
			t.Errorf("%d of %d: %q, want it to start %q", c.done, c.of, got, want)
		}
	}
}
