package functions

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/llm/llmtest"
)

// TestBuildDuplicates: every message is delivered twice. Telegram sends
// every update twice (the same update_id), and Pub/Sub pushes every
// telegram-updates and build-steps message twice, one after the other or
// both at once. No task runs twice (the model calls are exactly the
// script's), nothing is charged twice (one ledger entry per cause), and no
// message, progress edit or zip goes out twice.
func TestBuildDuplicates(t *testing.T) {
	t.Parallel()
	for _, together := range []bool{false, true} {
		t.Run(map[bool]string{false: "after", true: "together"}[together], func(t *testing.T) {
			t.Parallel()
			buildDuplicates(t, together)
		})
	}
}

// duplicating delivers every push of telegram-updates and build-steps
// twice: the copy after the original, or alongside it. Pub/Sub is told
// what the original came to.
func duplicating(together bool, pushes *atomic.Int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/"+BuildStepsName && r.URL.Path != "/"+TelegramUpdatesName {
				next.ServeHTTP(rw, r)
				return
			}
			pushes.Add(1)
			body, _ := io.ReadAll(r.Body)
			dup := r.Clone(r.Context()) // before the mux writes r
			dup.Body = io.NopCloser(bytes.NewReader(body))
			again := func() { next.ServeHTTP(httptest.NewRecorder(), dup) }
			r.Body = io.NopCloser(bytes.NewReader(body))
			if !together {
				next.ServeHTTP(rw, r)
				again()
				return
			}
			var wg sync.WaitGroup
			wg.Go(again)
			next.ServeHTTP(rw, r)
			wg.Wait()
		})
	}
}

func buildDuplicates(t *testing.T, together bool) {
	g := newModelGate(t, llmtest.Response{Text: `{"questions":["Which Python version?"]}`}, partsSpec(2),
		createReply(1), approved, createReply(2), rejected("part2 must print its number"),
		llmtest.Response{Text: taskFile(2) + "\n```python\n<<<<<<< SEARCH\n    return 2\n=======\n    print(2)\n    return 2\n>>>>>>> REPLACE\n```\n"},
		approved, readmeMade)
	var pushes atomic.Int64
	w := newBuildWorld(t, g, buildOpts{extra: map[string]string{"BUILD_TASK_CREDITS": "5"}, wrap: duplicating(together, &pushes)})
	// twice sends update to the webhook twice and waits for want replies.
	twice := func(update map[string]any, want int) []string {
		t.Helper()
		before := len(w.tg.Replies(ann))
		w.sendOK(update)
		w.sendOK(update)
		var out []string
		for _, c := range w.tg.WaitReplies(t, ann, before+want, 20*time.Second)[before:] {
			out = append(out, c.Text())
		}
		return out
	}
	w.want(twice(w.msg("/start"), 1), "20 free credits")
	w.want(twice(w.msg("/build a small app in Python"), 2), "Let me think about it", "Which Python version?")
	w.want(twice(w.msg("3.12"), 2), "Thanks, planning it now", "Estimated 15 credits")
	b := w.waitState("proposed")
	w.want(twice(w.tap(fmt.Sprintf("bstart:%d", b.ID)), 1), "Started: 15 credits held.")
	w.waitFor("✅ <b>parts</b> is built", 30*time.Second)
	b = w.waitState("done")
	time.Sleep(500 * time.Millisecond) // for anything sent twice to arrive
	if pushes.Load() < 10 {
		t.Errorf("only %d pushes duplicated", pushes.Load())
	}

	if n := g.answered(); n != 9 {
		t.Errorf("%d model calls, want 9: %v", n, g.calls())
	}
	want := map[string]int64{fmt.Sprintf("build:%d:task:1:1", b.ID): -3, fmt.Sprintf("build:%d:task:2:2", b.ID): -3,
		fmt.Sprintf("build:%d:task:3:1", b.ID): -3}
	if got := w.ledger(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("charges %v, want %v", got, want)
	}
	var balance, held int64
	w.scan(`SELECT balance, held FROM users`, &balance, &held)
	if balance != 11 || held != 0 || b.ChargedCredits != 9 {
		t.Errorf("balance %d, held %d, charged %d; want 11, 0, 9", balance, held, b.ChargedCredits)
	}
	if n := w.count(`SELECT count(*) FROM change_sets WHERE build_id = $1`, b.ID); n != 4 {
		t.Errorf("%d change sets, want 4", n)
	}
	if n := len(w.tg.Calls("sendDocument")); n != 1 {
		t.Errorf("%d zips sent, want 1", n)
	}
	if n := len(w.tg.Calls("answerCallbackQuery")); n != 1 {
		t.Errorf("%d callback answers, want 1", n)
	}
	seen := map[string]bool{}
	for _, c := range w.tg.Calls("sendMessage") {
		if seen[c.Text()] {
			t.Errorf("sent twice: %q", c.Text())
		}
		seen[c.Text()] = true
	}
	edits := map[string]bool{}
	for _, c := range w.tg.Calls("editMessageText") {
		k := c.Params["message_id"] + "\x00" + c.Text() + "\x00" + c.Params["reply_markup"]
		if edits[k] {
			t.Errorf("edited twice into %q", c.Text())
		}
		edits[k] = true
	}
	if len(edits) < 3 {
		t.Errorf("%d progress edits, want at least 3", len(edits))
	}
}
