package functions

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestBuildOutOfCredits: Ann's 20 credits cover Start's hold (2 per task and
// the README: 6) and task 1's round (MAX_REFINE_CREDITS=18, a round's worst
// case), but once task 1 is charged 3, the hold's rest and her free balance
// (17) no longer cover a round: the build pauses before task 2 with a Buy
// button and Resume. Resume without credits pauses it again without a
// model call; after buying (mock payments) Resume finishes where it
// stopped, each task charged once.
func TestBuildOutOfCredits(t *testing.T) {
	t.Parallel()
	g := newModelGate(t, noQuestions, partsSpec(2), createReply(1), approved, createReply(2), approved, readmeMade)
	w := newBuildWorld(t, g, buildOpts{extra: map[string]string{"BUILD_TASK_CREDITS": "2", "MAX_REFINE_CREDITS": "18"}})
	id := w.begin("6")

	const paused = "⏸ The build paused: the next task may need up to 18 credits and you have fewer left. " +
		"Buy more, then tap Resume: it goes on where it stopped."
	w.waitFor(paused, 30*time.Second)
	b := w.waitState("paused")
	if b.CurrentTask != 1 || b.PauseReason == nil || *b.PauseReason != "credits" {
		t.Errorf("paused at task %d for %v, want task 1 (the second) for credits", b.CurrentTask, b.PauseReason)
	}
	checkPausedNotice := func() {
		t.Helper()
		var markup string
		for _, c := range w.tg.Replies(ann) {
			if c.Text() == paused {
				markup = c.Params["reply_markup"]
			}
		}
		for _, s := range []string{`"text":"Buy credits","callback_data":"buy:0"`, fmt.Sprintf(`"text":"Resume","callback_data":"bresume:%d"`, id),
			fmt.Sprintf(`"callback_data":"bcancel:%d"`, id)} {
			if !strings.Contains(markup, s) {
				t.Errorf("the pause notice's buttons %s lack %s", markup, s)
			}
		}
	}
	checkPausedNotice()
	progress := w.shownProgress("Paused:")
	if !strings.Contains(progress, "✅ 1 Part 1") || strings.Contains(progress, "bpause") {
		t.Errorf("progress while out of credits: %q", progress)
	}
	if n := g.answered(); n != 4 {
		t.Errorf("%d model calls before the pause, want 4", n)
	}

	// Resume without credits: paused again at once, no model call.
	notices := func() int {
		n := 0
		for _, c := range w.tg.Replies(ann) {
			if c.Text() == paused {
				n++
			}
		}
		return n
	}
	w.want(w.post(w.tap(fmt.Sprintf("bresume:%d", id)), 1), "Resumed.")
	deadline := time.Now().Add(20 * time.Second)
	for notices() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if notices() != 2 {
		t.Fatalf("Resume without credits: %d pause notices, want 2", notices())
	}
	w.waitState("paused")
	checkPausedNotice()
	if n := g.answered(); n != 4 {
		t.Errorf("%d model calls after a Resume without credits, want 4", n)
	}

	w.want(w.post(w.tap("buy:0"), 1), "✅ 100 credits added (test mode: no money moved).")
	w.want(w.post(w.tap(fmt.Sprintf("bresume:%d", id)), 1), "Resumed.")
	w.waitFor("✅ <b>parts</b> is built", 30*time.Second)
	b = w.waitState("done")
	if n := g.answered(); n != 7 {
		t.Errorf("%d model calls, want 7", n)
	}
	want := map[string]int64{fmt.Sprintf("build:%d:task:1:1", id): -3, fmt.Sprintf("build:%d:task:2:1", id): -3,
		fmt.Sprintf("build:%d:task:3:1", id): -3}
	if got := w.ledger(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("charges %v, want %v", got, want)
	}
	var balance, held int64
	w.scan(`SELECT balance, held FROM users`, &balance, &held)
	if balance != 111 || held != 0 || b.ChargedCredits != 9 {
		t.Errorf("balance %d, held %d, charged %d; want 111, 0, 9", balance, held, b.ChargedCredits)
	}
	var rounds1, rounds2 int
	w.scan(`SELECT (SELECT round FROM build_tasks WHERE n = 1), (SELECT round FROM build_tasks WHERE n = 2)`, &rounds1, &rounds2)
	if rounds1 != 1 || rounds2 != 1 {
		t.Errorf("rounds %d, %d; want 1, 1", rounds1, rounds2)
	}
}
