package functions

import (
	"archive/zip"
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/llm/llmtest"
)

// A task that fails its rounds (BUILD_MAX_ROUNDS=2, the review rejects it
// twice): the build is blocked and asks Retry / Skip / Change the task /
// Stop. Skip goes on to the end; Change the task takes plain words and runs
// it again. Every call of task 1 costs 10000 tokens (1 credit), so that a
// charge of its rounds twice shows.

// costly is r at 10000 tokens: $0.01, 1 credit.
func costly(r llmtest.Response) llmtest.Response {
	r.PromptTokens, r.CompletionTokens = 9000, 1000
	return r
}

// printReply is task 1's second round: it edits the file the first made.
var printReply = llmtest.Response{Text: taskFile(1) + "\n```python\n<<<<<<< SEARCH\n    return 1\n=======\n    print(1)\n    return 1\n>>>>>>> REPLACE\n```\n"}

// blockTask1 runs a build of two tasks up to task 1 blocked after two
// rejected rounds, and checks what Ann was asked.
func blockTask1(t *testing.T, after ...llmtest.Response) (*buildWorld, int64) {
	t.Helper()
	script := []llmtest.Response{noQuestions, partsSpec(2),
		costly(createReply(1)), costly(rejected("part1 must print its number")),
		costly(printReply), costly(rejected("part1 must print its number"))}
	g := newModelGate(t, append(script, after...)...)
	w := newBuildWorld(t, g, buildOpts{extra: map[string]string{"BUILD_MAX_ROUNDS": "2", "BUILD_TASK_CREDITS": "5",
		"FREE_CREDITS": "100"}})
	id := w.begin("15")
	w.waitFor("did not pass after 2 rounds", 30*time.Second)
	b := w.waitState("blocked")
	if b.CurrentTask != 0 {
		t.Errorf("blocked at task %d, want 0", b.CurrentTask)
	}
	var ask string
	var markup string
	for _, c := range w.tg.Replies(ann) {
		if strings.Contains(c.Text(), "did not pass") {
			ask, markup = c.Text(), c.Params["reply_markup"]
		}
	}
	if want := "Task 1 (Part 1) did not pass after 2 rounds: the review still asks: part1 must print its number\nWhat now?"; ask != want {
		t.Errorf("blocked message %q, want %q", ask, want)
	}
	for text, data := range map[string]string{"Retry": "bretry", "Skip": "bskip", "Change the task": "bchange", "Stop": "bcancel"} {
		if !strings.Contains(markup, fmt.Sprintf(`"text":%q,"callback_data":"%s:%d"`, text, data, id)) {
			t.Errorf("blocked buttons %s lack %s", markup, text)
		}
	}
	progress := w.shownProgress("Stopped at a task:")
	if !strings.Contains(progress, "❌ 1 Part 1 — did not pass") {
		t.Errorf("progress %q", progress)
	}
	// Rounds 1 and 2: 4 calls, 4 credits, and the base 2.
	if got := w.ledger(); len(got) != 1 || got[fmt.Sprintf("build:%d:task:1:2", id)] != -6 {
		t.Errorf("charges when blocked: %v, want task 1's 6", got)
	}
	if n := w.gate.answered(); n != 6 {
		t.Errorf("%d model calls when blocked, want 6", n)
	}
	return w, id
}

func TestBuildTaskFailsItsRounds(t *testing.T) {
	t.Parallel()
	t.Run("skip", func(t *testing.T) {
		t.Parallel()
		w, id := blockTask1(t, createReply(2), approved, readmeMade)
		w.want(w.post(w.tap(fmt.Sprintf("bskip:%d", id)), 1), "Skipped the task; going on with the next.")
		w.waitFor("is built", 30*time.Second)
		b := w.waitState("done")
		var done string
		for _, c := range w.tg.Replies(ann) {
			if strings.Contains(c.Text(), "is built") {
				done = c.Text()
			}
		}
		if !strings.Contains(done, "3 files, 1 task, 12 credits") || !strings.Contains(done, "(1 task skipped)") {
			t.Errorf("closing message %q", done)
		}
		if n := w.gate.answered(); n != 9 {
			t.Errorf("%d model calls, want 9", n)
		}
		var states []string
		rows, _ := w.pool().Pool.Query(t.Context(), `SELECT state FROM build_tasks ORDER BY n`)
		for rows.Next() {
			var s string
			_ = rows.Scan(&s)
			states = append(states, s)
		}
		rows.Close()
		if strings.Join(states, ",") != "skipped,approved" {
			t.Errorf("tasks %v, want skipped, approved", states)
		}
		want := map[string]int64{fmt.Sprintf("build:%d:task:1:2", id): -6, fmt.Sprintf("build:%d:task:2:1", id): -3,
			fmt.Sprintf("build:%d:task:3:1", id): -3}
		if got := w.ledger(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("charges %v, want %v", got, want)
		}
		if b.ChargedCredits != 12 {
			t.Errorf("charged %d, want 12", b.ChargedCredits)
		}
		var balance, held int64
		w.scan(`SELECT balance, held FROM users`, &balance, &held)
		if balance != 88 || held != 0 {
			t.Errorf("balance %d, held %d; want 88, 0", balance, held)
		}
		// The zip holds what task 1 built, unapproved, and the rest.
		docs := w.tg.Calls("sendDocument")
		if len(docs) != 1 {
			t.Fatalf("%d documents, want 1", len(docs))
		}
		zr, err := zip.NewReader(bytes.NewReader(docs[0].Document), int64(len(docs[0].Document)))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
		}
		sort.Strings(names)
		if strings.Join(names, ",") != "README.md,part1.py,part2.py" {
			t.Errorf("zip holds %v", names)
		}
		w.shownProgress("⏭ 1 Part 1 — skipped")
	})
	t.Run("change the task", func(t *testing.T) {
		t.Parallel()
		fixed := llmtest.Response{Text: taskFile(1) + "\n```python\n<<<<<<< SEARCH\n    print(1)\n=======\n    print(\"one\", 1)\n>>>>>>> REPLACE\n```\n"}
		w, id := blockTask1(t, costly(fixed), costly(approved), createReply(2), approved, readmeMade)
		w.want(w.post(w.tap(fmt.Sprintf("bchange:%d", id)), 1), "Say in plain words how the task should change; I run it again with that.")
		w.want(w.post(w.msg("print the word one before the number"), 1), "Changed the task; running it again.")
		w.waitFor("is built", 30*time.Second)
		b := w.waitState("done")
		reqs := w.gate.model.Requests()
		if len(reqs) != 11 {
			t.Fatalf("%d model calls, want 11", len(reqs))
		}
		var edit string
		for _, m := range reqs[6].Messages {
			edit += m.Text()
		}
		for _, s := range []string{"The user changed this task: print the word one before the number",
			"(The user adds: print the word one before the number)"} {
			if !strings.Contains(edit, s) {
				t.Errorf("the editor's request for the changed task lacks %q", s)
			}
		}
		var state string
		var round, charged int64
		w.scan(`SELECT state, round, charged_credits FROM build_tasks WHERE n = 1`, &state, &round, &charged)
		// Task 1: the base once and its 6 calls once, 1 credit each.
		if state != "approved" || round != 1 || charged != 8 {
			t.Errorf("task 1 %s after round %d, charged %d; want approved, 1, 8", state, round, charged)
		}
		want := map[string]int64{fmt.Sprintf("build:%d:task:1:2", id): -6, fmt.Sprintf("build:%d:task:1:3", id): -2,
			fmt.Sprintf("build:%d:task:2:1", id): -3, fmt.Sprintf("build:%d:task:3:1", id): -3}
		if got := w.ledger(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("charges %v, want %v", got, want)
		}
		var balance, held int64
		w.scan(`SELECT balance, held FROM users`, &balance, &held)
		if b.ChargedCredits != 14 || balance != 86 || held != 0 {
			t.Errorf("charged %d, balance %d, held %d; want 14, 86, 0", b.ChargedCredits, balance, held)
		}
		var done string
		for _, c := range w.tg.Replies(ann) {
			if strings.Contains(c.Text(), "is built") {
				done = c.Text()
			}
		}
		if !strings.Contains(done, "3 files, 2 tasks, 14 credits") || strings.Contains(done, "skipped") {
			t.Errorf("closing message %q", done)
		}
	})
	t.Run("retry", func(t *testing.T) {
		t.Parallel()
		fixed := llmtest.Response{Text: taskFile(1) + "\n```python\n<<<<<<< SEARCH\n    print(1)\n=======\n    print(\"one\", 1)\n>>>>>>> REPLACE\n```\n"}
		w, id := blockTask1(t, costly(fixed), costly(approved), createReply(2), approved, readmeMade)
		w.want(w.post(w.tap(fmt.Sprintf("bretry:%d", id)), 1), "Running the task again.")
		w.waitFor("is built", 30*time.Second)
		b := w.waitState("done")
		if n := w.gate.answered(); n != 11 {
			t.Errorf("%d model calls, want 11", n)
		}
		// The retry's request starts afresh: no feedback of the failed rounds.
		var edit string
		for _, m := range w.gate.model.Requests()[6].Messages {
			edit += m.Text()
		}
		if strings.Contains(edit, "the review rejected it") {
			t.Error("the retried task's request carries the failed rounds' feedback")
		}
		want := map[string]int64{fmt.Sprintf("build:%d:task:1:2", id): -6, fmt.Sprintf("build:%d:task:1:3", id): -2,
			fmt.Sprintf("build:%d:task:2:1", id): -3, fmt.Sprintf("build:%d:task:3:1", id): -3}
		if got := w.ledger(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("charges %v, want %v", got, want)
		}
		var balance, held int64
		w.scan(`SELECT balance, held FROM users`, &balance, &held)
		if b.ChargedCredits != 14 || balance != 86 || held != 0 {
			t.Errorf("charged %d, balance %d, held %d; want 14, 86, 0", b.ChargedCredits, balance, held)
		}
	})
	t.Run("paused in its last round", func(t *testing.T) {
		t.Parallel()
		// Pause taps while the last round's editor works: when the round
		// fails, the build is blocked (not paused with a failed task that
		// Resume would run past its rounds).
		g := newModelGate(t, noQuestions, partsSpec(2), createReply(1), rejected("part1 must print its number"),
			createReply(2), approved, readmeMade)
		held := g.hold("editor", 1, false)
		w := newBuildWorld(t, g, buildOpts{extra: map[string]string{"BUILD_MAX_ROUNDS": "1", "BUILD_TASK_CREDITS": "5"}})
		id := w.begin("15")
		held.wait(t)
		w.want(w.post(w.tap(fmt.Sprintf("bpause:%d", id)), 1), "Pausing")
		w.waitState("paused")
		close(held.release)
		w.waitFor("did not pass after 1 round", 30*time.Second)
		w.want([]string{w.tg.Replies(ann)[len(w.tg.Replies(ann))-1].Text()}, "Task 1 (Part 1) did not pass after 1 round: the review")
		b := w.waitState("blocked")
		if b.CurrentTask != 0 {
			t.Errorf("blocked at task %d", b.CurrentTask)
		}
		w.want(w.post(w.tap(fmt.Sprintf("bskip:%d", id)), 1), "Skipped the task")
		w.waitState("done")
		if n := g.answered(); n != 7 {
			t.Errorf("%d model calls, want 7", n)
		}
		var rounds int
		w.scan(`SELECT round FROM build_tasks WHERE n = 1`, &rounds)
		if rounds != 1 {
			t.Errorf("task 1 ran %d rounds, want 1 (BUILD_MAX_ROUNDS)", rounds)
		}
	})
}
