package functions

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/llm/llmtest"
)

// The model service keeps failing (429 with a Retry-After longer than the
// client waits) through every delivery of a step (MAX_DELIVERY_ATTEMPTS=2):
// BuildSteps gives up on the step. During a task the build pauses (the
// progress message says so) and Resume goes on; while planning there is no
// spec to resume, so the build fails, charging nothing.

var overloaded = llmtest.Response{Status: http.StatusTooManyRequests, Headers: map[string]string{"Retry-After": "3600"}}

func TestBuildModelKeepsFailing(t *testing.T) {
	t.Parallel()
	t.Run("during a task", func(t *testing.T) {
		t.Parallel()
		g := newModelGate(t, noQuestions, partsSpec(2), overloaded, overloaded,
			createReply(1), approved, createReply(2), approved, readmeMade)
		w := newBuildWorld(t, g, buildOpts{extra: map[string]string{"BUILD_TASK_CREDITS": "5", "MAX_DELIVERY_ATTEMPTS": "2"}})
		id := w.begin("15")
		w.waitFor("⏸ The build paused: a service it depends on kept failing.", 30*time.Second)
		b := w.waitState("paused")
		if b.PauseReason == nil || *b.PauseReason != "trouble" || b.CurrentTask != 0 {
			t.Errorf("paused for %v at task %d", b.PauseReason, b.CurrentTask)
		}
		w.shownProgress("Paused:")
		w.want(w.post(w.tap(fmt.Sprintf("bresume:%d", id)), 1), "Resumed.")
		w.waitFor("✅ <b>parts</b> is built", 30*time.Second)
		w.waitState("done")
		if n := g.answered(); n != 9 {
			t.Errorf("%d model calls, want 9", n)
		}
		var balance, held int64
		w.scan(`SELECT balance, held FROM users`, &balance, &held)
		if balance != 11 || held != 0 {
			t.Errorf("balance %d, held %d; want 11, 0", balance, held)
		}
	})
	t.Run("while planning", func(t *testing.T) {
		t.Parallel()
		g := newModelGate(t, overloaded, overloaded)
		w := newBuildWorld(t, g, buildOpts{extra: map[string]string{"MAX_DELIVERY_ATTEMPTS": "2"}})
		w.want(w.post(w.msg("/start"), 1), "free credits")
		w.want(w.post(w.msg("/build a small app in Python"), 1), "Let me think about it")
		b := w.waitBuild("to give up", 30*time.Second, func(b db.Build) bool { return !b.Stepping() })
		if b.State != "failed" {
			t.Errorf("a build whose planning kept failing is %s, want failed", b.State)
		}
		w.waitFor("I could not plan this build", 20*time.Second)
		for _, c := range w.tg.Replies(ann) {
			if strings.Contains(c.Params["reply_markup"], "bresume") {
				t.Errorf("a build without a spec offers Resume: %q", c.Text())
			}
		}
		var balance, held int64
		w.scan(`SELECT balance, held FROM users`, &balance, &held)
		if balance != 20 || held != 0 {
			t.Errorf("balance %d, held %d; want 20, 0", balance, held)
		}
		// Ann can build again.
		w.want(w.post(w.msg("/build a small app in Python"), 1), "Let me think about it")
	})
	// A change of the spec that cannot be made leaves the spec as it was,
	// with its Start, Change and Cancel, and says so.
	for name, fail := range map[string][]llmtest.Response{"while revising": {overloaded, overloaded},
		"a revision refused": {{Status: http.StatusUnauthorized}}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := newModelGate(t, append([]llmtest.Response{noQuestions, partsSpec(2)}, fail...)...)
			w := newBuildWorld(t, g, buildOpts{extra: map[string]string{"MAX_DELIVERY_ATTEMPTS": "2", "BUILD_TASK_CREDITS": "5"}})
			w.want(w.post(w.msg("/start"), 1), "free credits")
			w.sendOK(w.msg("/build a small app in Python"))
			w.waitFor("Estimated 15 credits", 20*time.Second)
			b := w.waitState("proposed")
			w.want(w.post(w.tap(fmt.Sprintf("bchange:%d", b.ID)), 1), "Say in plain words what to change")
			w.want(w.post(w.msg("use three parts"), 1), "Revising the spec…")
			w.waitFor("The spec stands as it was", 30*time.Second)
			b = w.waitState("proposed")
			last := w.tg.Replies(ann)[len(w.tg.Replies(ann))-1]
			if strings.Contains(last.Text(), "Resume") || !strings.Contains(last.Params["reply_markup"], fmt.Sprintf("bstart:%d", b.ID)) {
				t.Errorf("after a failed revision: %q %s", last.Text(), last.Params["reply_markup"])
			}
			w.want(w.post(w.tap(fmt.Sprintf("bstart:%d", b.ID)), 1), "Started: 15 credits held.")
		})
	}
}
