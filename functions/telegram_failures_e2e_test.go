package functions

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/llm/llmtest"
)

// A refinement that fails through the real editor and llm client, against
// the fake OpenAI-compatible model: the job is failed, its credits released
// (balance back, nothing held), and Ann is told in plain words what to do.
func TestTelegramEndToEndRefineFailures(t *testing.T) {
	t.Parallel()
	refused := llmtest.Response{Text: "cmd/main.go\n```go\n<<<<<<< SEARCH\n\tlog.Fatal(\"no config\")\n=======\n\treturn nil\n>>>>>>> REPLACE\n```\n"}
	valid := llmtest.Response{Text: "cmd/main.go\n```go\n<<<<<<< SEARCH\n\tpanic(\"no config\")\n=======\n\treturn errors.New(\"no config\")\n>>>>>>> REPLACE\n```\n"}
	// validV2 is the same edit of the version uploaded meanwhile.
	validV2 := llmtest.Response{Text: "cmd/main.go\n```go\n<<<<<<< SEARCH\n\tpanic(\"no config!\")\n=======\n\treturn errors.New(\"no config\")\n>>>>>>> REPLACE\n```\n"}
	rejected := llmtest.Response{Status: http.StatusUnauthorized, Body: `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`}
	tests := []struct {
		name   string
		script []llmtest.Response
		ownKey bool
		// meanwhile, when set, runs while the model is thinking.
		meanwhile func(w *tgWorld)
		replies   int // to the refinement (the meanwhile's own included)
		want      []string
		calls     int
		state     string
		buttons   string
	}{
		{name: "model never produces a valid edit", script: []llmtest.Response{refused, refused}, calls: 2, state: "failed",
			want: []string{"❌ The model could not produce an edit that applies to cmd/main.go (2 tries), so nothing was changed or charged.",
				"Its last try: the text to change is not in cmd/main.go.", "Try a sharper instruction: name the function"}},
		{name: "the bot's key is rejected", script: []llmtest.Response{rejected}, calls: 1, state: "failed",
			want: []string{"❌ The model service rejected the bot's API key, so cmd/main.go was not changed. Nothing was charged.",
				"/setkey YOUR_KEY lets you use your own key"}},
		{name: "the user's own key is rejected", script: []llmtest.Response{rejected}, ownKey: true, calls: 1, state: "failed",
			want: []string{"❌ The model service rejected your API key (the one you set with /setkey), so cmd/main.go was not changed.",
				"Nothing was charged.", "/setkey NEW_KEY sets another; /delkey goes back to the bot's model."}},
		{name: "the file changed meanwhile", script: []llmtest.Response{valid, validV2}, calls: 1, state: "failed", replies: 3,
			meanwhile: func(w *tgWorld) {
				// Ann uploads a new version, changing the very line the
				// model edits, while it works on version 1: the change is
				// applied again to version 2, where it no longer matches.
				if err := w.send(w.upload("cmd/main.go", strings.Replace(mainGo, `"no config"`, `"no config!"`, 1))); err != nil {
					w.t.Error(err)
				}
				w.waitFor("Updated cmd/main.go (", 20*time.Second)
			},
			want: []string{"❌ cmd/main.go changed meanwhile, and the change no longer applies to it, so I did not save it.",
				"Nothing was charged.", "Tap Retry"},
			buttons: `"retry:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			model := llmtest.New(t, tt.script...)
			var once sync.Once
			var world atomic.Pointer[tgWorld]
			target, _ := url.Parse(strings.TrimSuffix(model.URL, "/v1"))
			proxy := httputil.NewSingleHostReverseProxy(target)
			front := newServer(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				if tt.meanwhile != nil {
					once.Do(func() { tt.meanwhile(world.Load()) })
				}
				proxy.ServeHTTP(rw, r)
			}))
			w := newTGWorld(t, "local", front+"/v1", map[string]string{"MAX_REFLECTIONS": "1", "MAX_REFINE_CREDITS": "10"})
			world.Store(w)
			w.want(w.post(w.msg("/start"), 1), "You have 20 free credits.")
			w.want(w.post(w.msg("/new api"), 1), "Project api created")
			w.want(w.post(w.upload("cmd/main.go", mainGo), 1), "Added cmd/main.go")
			if tt.ownKey {
				w.post(w.msg("/setkey sk-users-own-key-123"), 1)
			}
			got := w.post(w.msg("/refine cmd/main.go return an error instead of panicking"), max(2, tt.replies))
			w.want(got, "Working on cmd/main.go…")
			w.want(got[1:], tt.want...)
			if strings.Contains(strings.Join(got, "\n"), "✅") {
				t.Errorf("a failed job reported success: %q", got)
			}
			reqs := model.Requests()
			if len(reqs) != tt.calls {
				t.Errorf("%d model calls, want %d", len(reqs), tt.calls)
			}
			wantAuth := "Bearer operator-key"
			if tt.ownKey {
				wantAuth = "Bearer sk-users-own-key-123"
			}
			for _, r := range reqs {
				if r.Auth != wantAuth {
					t.Errorf("model called with %q, want %q", r.Auth, wantAuth)
				}
			}
			var state string
			var charged, hold int64
			w.scan(`SELECT state, charged_credits, hold_credits FROM refine_jobs`, &state, &charged, &hold)
			if state != tt.state || charged != 0 || hold != 10 {
				t.Errorf("job: state %s, charged %d, hold %d; want %s, 0, 10", state, charged, hold, tt.state)
			}
			var balance, held, refineEntries int64
			w.scan(`SELECT balance, held, (SELECT count(*) FROM credit_ledger WHERE kind = 'refine') FROM users`, &balance, &held, &refineEntries)
			if balance != 20 || held != 0 || refineEntries != 0 {
				t.Errorf("after a failed job: balance %d, held %d, %d charges; want 20, 0, 0", balance, held, refineEntries)
			}
			last := w.tg.Replies(ann)[len(w.tg.Replies(ann))-1]
			if kb := last.Params["reply_markup"]; (tt.buttons == "") != (kb == "") || !strings.Contains(kb, tt.buttons) {
				t.Errorf("buttons %q, want %q", kb, tt.buttons)
			}
			w.want(w.post(w.msg("/balance"), 1), "20 credits")
			if tt.buttons == "" {
				return
			}
			// Retry runs the same instruction again, on version 2.
			var id int64
			w.scan(`SELECT id FROM refine_jobs`, &id)
			w.want(w.post(w.tap(fmt.Sprintf("retry:%d", id)), 2), "Working on cmd/main.go…", "✅ cmd/main.go changed (", "cmd/main.go (+1 −1)")
		})
	}
}

// newServer serves h until the test ends and returns its URL.
func newServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// waitFor waits until a reply to Ann contains s. It may run outside the
// test's goroutine, so it reports with Errorf.
func (w *tgWorld) waitFor(s string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, c := range w.tg.Replies(ann) {
			if strings.Contains(c.Text(), s) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.t.Errorf("no reply says %q after %s", s, timeout)
}
