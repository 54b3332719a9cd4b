package functions

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/db"
)

// Pause and Cancel tapped while a task's editor call is in flight, through
// the webhook, embedded Pub/Sub, storage and PostgreSQL.

// TestBuildPauseResume: Pause while task 1 runs; the step in flight
// finishes (task 1 approved and charged), then the build waits (paused, no
// further model call, the progress message says Paused); Resume goes on to
// the end, each task charged once.
func TestBuildPauseResume(t *testing.T) {
	t.Parallel()
	g := newModelGate(t, noQuestions, partsSpec(2), createReply(1), approved, createReply(2), approved, readmeMade)
	held := g.hold("editor", 1, false)
	w := newBuildWorld(t, g, buildOpts{extra: map[string]string{"BUILD_TASK_CREDITS": "5"}})
	id := w.begin("15")
	held.wait(t)

	w.want(w.post(w.tap(fmt.Sprintf("bpause:%d", id)), 1), "Pausing: the step in progress finishes, then the build waits.")
	w.waitState("paused")
	w.want(w.post(w.tap(fmt.Sprintf("bpause:%d", id)), 1), "Not now: it is not running.")
	close(held.release)

	b := w.waitBuild("task 1 done", 30*time.Second, func(b db.Build) bool { return b.CurrentTask == 1 })
	progress := w.shownProgress("Paused:")
	for _, s := range []string{"Paused: <b>parts</b>", "✅ 1 Part 1", "◻️ 2 Part 2", "3 credits so far."} {
		if !strings.Contains(progress, s) {
			t.Errorf("progress %q lacks %q", progress, s)
		}
	}
	if b.State != "paused" {
		t.Errorf("after the step in flight: state %s, want paused", b.State)
	}
	w.want(w.post(w.msg("/status"), 1), "Paused: <b>parts</b>", "✅ 1 Part 1")
	if kb := w.tg.Replies(ann)[len(w.tg.Replies(ann))-1].Params["reply_markup"]; !strings.Contains(kb, fmt.Sprintf("bresume:%d", id)) {
		t.Errorf("/status of a paused build: buttons %s", kb)
	}
	time.Sleep(500 * time.Millisecond) // long enough for a step that should not run
	if n := g.answered(); n != 4 {
		t.Errorf("%d model calls while paused, want 4 (questions, spec, task 1's edit and review)", n)
	}
	if b := w.build(); b.State != "paused" || b.CurrentTask != 1 {
		t.Errorf("paused build moved on: %s at task %d", b.State, b.CurrentTask)
	}

	w.want(w.post(w.tap(fmt.Sprintf("bresume:%d", id)), 1), "Resumed.")
	w.waitFor("✅ <b>parts</b> is built", 30*time.Second)
	w.waitState("done")
	if n := g.answered(); n != 7 {
		t.Errorf("%d model calls, want 7", n)
	}
	// Each round costs 2 calls of 120 tokens at $1 per million: 0.024
	// credits, rounded up to 1, plus the base 2; the README likewise.
	want := map[string]int64{fmt.Sprintf("build:%d:task:1:1", id): -3, fmt.Sprintf("build:%d:task:2:1", id): -3,
		fmt.Sprintf("build:%d:task:3:1", id): -3}
	if got := w.ledger(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("charges %v, want %v", got, want)
	}
	var balance, held2, charged int64
	w.scan(`SELECT u.balance, u.held, b.charged_credits FROM users u JOIN builds b ON b.user_id = u.id`, &balance, &held2, &charged)
	if balance != 11 || held2 != 0 || charged != 9 {
		t.Errorf("balance %d, held %d, charged %d; want 11, 0, 9", balance, held2, charged)
	}
	if n := w.count(`SELECT count(*) FROM change_sets WHERE build_id = $1`, id); n != 3 {
		t.Errorf("%d change sets, want 3", n)
	}
	w.shownProgress("Built <b>parts</b>")
}

// TestBuildPauseResumeInFlight: Pause and then Resume, both while task 1's
// editor call is in flight: the step goes on as if never paused, its work
// kept; task 1 runs once.
func TestBuildPauseResumeInFlight(t *testing.T) {
	t.Parallel()
	g := newModelGate(t, noQuestions, partsSpec(2), createReply(1), approved, createReply(2), approved, readmeMade)
	held := g.hold("editor", 1, false)
	w := newBuildWorld(t, g, buildOpts{extra: map[string]string{"BUILD_TASK_CREDITS": "5"}})
	id := w.begin("15")
	held.wait(t)
	w.shownProgress("⏳ 1 Part 1") // what Start queued is shown before the model works
	w.want(w.post(w.tap(fmt.Sprintf("bpause:%d", id)), 1), "Pausing")
	w.want(w.post(w.tap(fmt.Sprintf("bresume:%d", id)), 1), "Resumed.")
	close(held.release)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b := w.build(); b.Final() || b.State == "blocked" {
			break
		}
	}
	b := w.build()
	if b.State != "done" {
		t.Errorf("build %s, want done", b.State)
	}
	editor := 0
	for _, k := range g.calls() {
		if k == "editor" {
			editor++
		}
	}
	if n := g.answered(); n != 7 || editor != 3 {
		t.Errorf("%d model calls, %d of the editor, want 7 and 3 (task 1 once): %v", n, editor, g.calls())
	}
	if n := w.count(`SELECT count(*) FROM file_versions WHERE path = 'part1.py'`); n != 1 {
		t.Errorf("part1.py has %d versions, want 1", n)
	}
	want := map[string]int64{fmt.Sprintf("build:%d:task:1:1", id): -3, fmt.Sprintf("build:%d:task:2:1", id): -3,
		fmt.Sprintf("build:%d:task:3:1", id): -3}
	if got := w.ledger(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("charges %v, want %v", got, want)
	}
}

// stepPushes records the build-steps pushes by step, so that a test can
// deliver one again late.
type stepPushes struct {
	mu     sync.Mutex
	bodies map[int64][]byte
}

func (p *stepPushes) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/"+BuildStepsName {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if seq := pushSeq(body); seq > 0 {
				p.mu.Lock()
				if _, ok := p.bodies[seq]; !ok {
					p.bodies[seq] = body
				}
				p.mu.Unlock()
			}
		}
		next.ServeHTTP(rw, r)
	})
}

func (p *stepPushes) of(seq int64) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bodies[seq]
}

// pushSeq is the step of a build-steps push body (0 if it is not one).
func pushSeq(body []byte) int64 {
	var env struct {
		Message struct {
			Data string `json:"data"`
		} `json:"message"`
	}
	if json.Unmarshal(body, &env) != nil {
		return 0
	}
	data, _ := base64.StdEncoding.DecodeString(env.Message.Data)
	var m struct {
		Seq int64 `json:"seq"`
	}
	_ = json.Unmarshal(data, &m)
	return m.Seq
}

// TestBuildCancelDuringTask: Cancel while task 1's editor call is in
// flight; the step's work is dropped whole (no change set, no charge, the
// task as it was), the hold released, the build cancelled and the progress
// message says so; no model call after the one in flight, and a late
// redelivery of the old step is acknowledged and does nothing. With a
// lease of 1 s the step's heartbeat sees the Cancel and ends the call in
// flight; with the default 30 s the call answers and the step stops there.
func TestBuildCancelDuringTask(t *testing.T) {
	t.Parallel()
	t.Run("the call answers", func(t *testing.T) {
		t.Parallel()
		buildCancelDuringTask(t, "30s", "editor")
	})
	t.Run("the heartbeat ends the call", func(t *testing.T) {
		t.Parallel()
		buildCancelDuringTask(t, "1s", "editor")
	})
	// Cancel during the review: the change set is stored and the verdict
	// in, and the step's commit is refused (its step is past) as a whole.
	t.Run("during the review", func(t *testing.T) {
		t.Parallel()
		buildCancelDuringTask(t, "30s", "verdict")
	})
}

func buildCancelDuringTask(t *testing.T, lease, during string) {
	g := newModelGate(t, noQuestions, partsSpec(2), createReply(1), approved, createReply(2), approved, readmeMade)
	held := g.hold(during, 1, false)
	pushes := &stepPushes{bodies: map[int64][]byte{}}
	w := newBuildWorld(t, g, buildOpts{extra: map[string]string{"BUILD_TASK_CREDITS": "5", "REFINE_LEASE": lease}, wrap: pushes.wrap})
	calls := 3 // questions, spec, the edit in flight
	if during == "verdict" {
		calls = 4 // and the review in flight
	}
	id := w.begin("15")
	held.wait(t)
	inFlight := w.build().StepSeq
	var userHeld int64
	w.scan(`SELECT held FROM users`, &userHeld)
	if userHeld != 15 {
		t.Fatalf("held %d while the build runs, want 15", userHeld)
	}

	w.want(w.post(w.tap(fmt.Sprintf("bcancel:%d", id)), 1), "Cancelled. What was built stays in the project")
	w.waitState("cancelled")
	w.scan(`SELECT held FROM users`, &userHeld)
	if userHeld != 0 {
		t.Errorf("held %d after Cancel, want 0", userHeld)
	}
	if lease == "30s" {
		close(held.release) // the call in flight answers
	} else {
		calls = 2 // the edit in flight never answered
	}

	progress := w.shownProgress("Cancelled:")
	if !strings.Contains(progress, "◻️ 1 Part 1") || strings.Contains(progress, "✅") {
		t.Errorf("progress after Cancel: %q", progress)
	}
	// Wait until the step in flight let its lease go (it ended).
	w.waitBuild("the lease released", 30*time.Second, func(b db.Build) bool { return b.ClaimedAt == nil })
	time.Sleep(300 * time.Millisecond)
	checkDropped := func(when string) {
		t.Helper()
		if n := g.answered(); n != calls {
			t.Errorf("%s: %d model calls answered, want %d: %v", when, n, calls, g.calls())
		}
		if n := w.count(`SELECT count(*) FROM change_sets`); n != 0 {
			t.Errorf("%s: %d change sets committed by a cancelled step", when, n)
		}
		if n := w.count(`SELECT count(*) FROM project_files`); n != 0 {
			t.Errorf("%s: %d files in the project", when, n)
		}
		if n := w.count(`SELECT count(*) FROM credit_ledger WHERE kind = 'build'`); n != 0 {
			t.Errorf("%s: %d build charges", when, n)
		}
		var state string
		var round int
		w.scan(`SELECT state, round FROM build_tasks WHERE n = 1`, &state, &round)
		if state != "pending" || round != 0 {
			t.Errorf("%s: task 1 is %s after %d rounds, want pending, 0", when, state, round)
		}
		var balance, held int64
		w.scan(`SELECT balance, held FROM users`, &balance, &held)
		if balance != 20 || held != 0 {
			t.Errorf("%s: balance %d, held %d; want 20, 0", when, balance, held)
		}
		if b := w.build(); b.State != "cancelled" || b.ChargedCredits != 0 {
			t.Errorf("%s: build %s, charged %d", when, b.State, b.ChargedCredits)
		}
	}
	checkDropped("after Cancel")

	// Pub/Sub delivers the old step once more, late.
	body := pushes.of(inFlight)
	if body == nil {
		t.Fatalf("no push of step %d recorded", inFlight)
	}
	said := len(w.tg.Calls())
	resp, err := http.Post(w.url+"/"+BuildStepsName, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Errorf("a late redelivery of step %d answered %d, want an ack", inFlight, resp.StatusCode)
	}
	time.Sleep(300 * time.Millisecond)
	checkDropped("after a late redelivery")
	if calls := w.tg.Calls()[said:]; len(calls) != 0 {
		t.Errorf("a late redelivery made %d Bot API calls (%s …)", len(calls), calls[0].Method)
	}
	w.want(w.post(w.tap(fmt.Sprintf("bresume:%d", id)), 1), "Not now: this build has ended (cancelled).")
}
