package functions

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/llm/llmtest"
)

// TestBuildEightTasksCharges: a build of 8 tasks against the fake model,
// every answer with its own token usage, at LLM_PRICES test-model=1:1 ($1
// per million tokens each way) and 100 credits per dollar: a task is
// charged BASE_REFINE_CREDITS (2) plus its calls' cost rounded up once
// (ceil(tokens / 10000)), the README likewise; the architect's planning is
// not charged. The ledger, each task's charge, the build's total and the
// final balance are exact, and the hold is released at the end.
func TestBuildEightTasksCharges(t *testing.T) {
	t.Parallel()
	// Start holds 20 per task and one for the README (180), which covers
	// every charge; or 2 each (18), which runs out after a few tasks, the
	// rest charged from the free balance.
	for _, per := range []int64{20, 2} {
		t.Run(fmt.Sprintf("hold %d", 9*per), func(t *testing.T) {
			t.Parallel()
			buildEightTasks(t, per)
		})
	}
}

func buildEightTasks(t *testing.T, per int64) {
	const tasks = 8
	// use gives a response prompt and completion tokens.
	use := func(r llmtest.Response, prompt, completion int) llmtest.Response {
		r.PromptTokens, r.CompletionTokens = prompt, completion
		return r
	}
	script := []llmtest.Response{use(noQuestions, 50000, 5000), use(partsSpec(tasks), 80000, 9000)}
	want := map[string]int64{}
	perTask := map[int]int64{}
	var total int64
	for k := 1; k <= tasks+1; k++ {
		// Editor and review usage vary per task; task 3 is rejected once,
		// so it has two rounds (4 calls) summed before rounding.
		edit := [2]int{7000*k + 1234, 900 + 37*k}
		review := [2]int{3000 + 11*k, 150 + k}
		tokens := 0
		rounds := 1
		switch {
		case k == tasks+1:
			script = append(script, use(readmeMade, edit[0], edit[1]))
			tokens = edit[0] + edit[1]
		case k == 3:
			script = append(script, use(createReply(k), edit[0], edit[1]), use(rejected("part3 must print"), review[0], review[1]),
				use(llmtest.Response{Text: taskFile(3) + "\n```python\n<<<<<<< SEARCH\n    return 3\n=======\n    print(3)\n    return 3\n>>>>>>> REPLACE\n```\n"}, edit[0], edit[1]),
				use(approved, review[0], review[1]))
			tokens = 2 * (edit[0] + edit[1] + review[0] + review[1])
			rounds = 2
		default:
			script = append(script, use(createReply(k), edit[0], edit[1]), use(approved, review[0], review[1]))
			tokens = edit[0] + edit[1] + review[0] + review[1]
		}
		if tokens%10000 == 0 {
			t.Fatalf("task %d: %d tokens is a whole number of credits; pick others", k, tokens)
		}
		credits := 2 + int64((tokens+9999)/10000)
		want[fmt.Sprintf("task:%d:%d", k, rounds)] = -credits
		perTask[k] = credits
		total += credits
	}
	g := newModelGate(t, script...)
	w := newBuildWorld(t, g, buildOpts{extra: map[string]string{"BUILD_TASK_CREDITS": fmt.Sprint(per), "FREE_CREDITS": "1000"}})
	id := w.begin(fmt.Sprint(9 * per))
	if per*9 < total/2 {
		t.Logf("the hold (%d) covers less than half of the %d charged", 9*per, total)
	}
	w.waitFor("✅ <b>parts</b> is built", 60*time.Second)
	b := w.waitState("done")

	if n := g.answered(); n != len(script) {
		t.Errorf("%d model calls, want %d", n, len(script))
	}
	got := map[string]int64{}
	for cause, amount := range w.ledger() {
		got[strings.TrimPrefix(cause, fmt.Sprintf("build:%d:", id))] = amount
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("charges %v,\nwant %v", got, want)
	}
	rows, err := w.pool().Pool.Query(t.Context(), `SELECT n, charged_credits, state FROM build_tasks ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n int
		var charged int64
		var state string
		if err := rows.Scan(&n, &charged, &state); err != nil {
			t.Fatal(err)
		}
		if charged != perTask[n] || state != "approved" {
			t.Errorf("task %d: %s, charged %d; want approved, %d", n, state, charged, perTask[n])
		}
	}
	rows.Close()
	var balance, held, holds int64
	w.scan(`SELECT balance, held, (SELECT count(*) FROM credit_holds WHERE state = 'held') FROM users`, &balance, &held, &holds)
	if b.ChargedCredits != total || balance != 1000-total || held != 0 || holds != 0 {
		t.Errorf("charged %d, balance %d, held %d, %d holds left; want %d, %d, 0, 0", b.ChargedCredits, balance, held, holds, total, 1000-total)
	}
	var done string
	for _, c := range w.tg.Replies(ann) {
		if strings.Contains(c.Text(), "is built") {
			done = c.Text()
		}
	}
	if s := fmt.Sprintf("9 files, 8 tasks, %d credits", total); !strings.Contains(done, s) {
		t.Errorf("closing message %q lacks %q", done, s)
	}
	w.want(w.post(w.msg("/balance"), 1), fmt.Sprintf("%d credits", 1000-total))
	progress := w.shownProgress("Built <b>parts</b>")
	if !strings.Contains(progress, "8/8") || !strings.Contains(progress, fmt.Sprintf("%d credits so far.", total)) {
		t.Errorf("progress %q", progress)
	}
}
