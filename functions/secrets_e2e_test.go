package functions

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/llm/llmtest"
	"github.com/devbot-hq/devbot/internal/logging"
)

// TestKeysNeverLogged runs a conversation against a model endpoint that
// quotes the key it refuses in its 401, 429 and 500 bodies (in the error's
// message and elsewhere), first with the operator's key, then with Ann's own
// /setkey key, and captures every log line the functions write, at debug
// level, through the production logger. No key may appear in any line, nor
// in any reply.
func TestKeysNeverLogged(t *testing.T) {
	t.Parallel()
	const (
		operatorKey = "sk-or-v1-OPERATOR7f3a9c2e41b8d0aa"
		userKey     = "sk-ann-OWNKEY5d1e8b7c3f2a6094"
	)
	echo := func(status int, retryAfter string) llmtest.Response {
		r := llmtest.Response{Status: status, Body: `{"error":{"message":"key ` + llmtest.EchoAuth +
			` refused","type":"invalid_request_error","param":"Authorization: Bearer ` + llmtest.EchoAuth +
			`","code":"invalid_api_key"},"echo":"` + llmtest.EchoAuth + `"}`}
		if retryAfter != "" {
			// Longer than the client waits: the error leaves the client at once
			// and the delivery is retried.
			r.Headers = map[string]string{"Retry-After": retryAfter}
		}
		return r
	}
	round := []llmtest.Response{echo(http.StatusTooManyRequests, "60"), echo(http.StatusInternalServerError, "60"),
		echo(http.StatusUnauthorized, "")}
	model := llmtest.New(t, append(append([]llmtest.Response{}, round...), round...)...)

	var mu sync.Mutex
	var logs bytes.Buffer
	w := newTGWorldLogged(t, "local", model.URL, map[string]string{"LLM_API_KEY": operatorKey},
		func(cfg *config.Config) *slog.Logger {
			return logging.New(lockedWriter{&mu, &logs}, "json", "debug", cfg.Secrets()...)
		})
	w.post(w.msg("/start"), 1)
	w.post(w.msg("/new api"), 1)
	w.want(w.post(w.upload("cmd/main.go", mainGo), 1), "Added cmd/main.go")

	// The operator's key: refused after a rate limit and an outage.
	if err := w.send(w.msg("/refine cmd/main.go return an error instead of panicking")); err != nil {
		t.Fatal(err)
	}
	w.jobState(1, "failed", 60*time.Second)

	// Ann's own key, the same way.
	w.post(w.msg("/setkey "+userKey), 1)
	if err := w.send(w.msg("/refine cmd/main.go return an error instead of panicking")); err != nil {
		t.Fatal(err)
	}
	w.jobState(2, "failed", 60*time.Second)

	reqs := model.Requests()
	if len(reqs) != 6 || reqs[0].Auth != "Bearer "+operatorKey || reqs[5].Auth != "Bearer "+userKey {
		t.Fatalf("the model saw %d requests (want 6, three with each key): %+v", len(reqs), reqs)
	}
	mu.Lock()
	captured := logs.String()
	mu.Unlock()
	if !strings.Contains(captured, `"job_id":`) {
		t.Fatalf("no log line names a job: the capture missed the refinements:\n%s", captured)
	}
	var replies []string
	for _, c := range w.tg.Sent(ann) {
		replies = append(replies, c.Text())
	}
	for _, key := range []string{operatorKey, userKey} {
		for i, line := range strings.Split(captured, "\n") {
			if strings.Contains(line, key) {
				t.Errorf("log line %d holds a key: %s", i+1, line)
			}
		}
		for _, r := range replies {
			if strings.Contains(r, key) {
				t.Errorf("a reply holds a key: %q", r)
			}
		}
	}
}

// jobState waits until the n-th refinement job (by id order) is in state.
func (w *tgWorld) jobState(n int, state string, timeout time.Duration) {
	w.t.Helper()
	pool, err := w.deps.DB(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	var got string
	for time.Now().Before(deadline) {
		err := pool.Pool.QueryRow(context.Background(),
			`SELECT state FROM refine_jobs ORDER BY id OFFSET $1 LIMIT 1`, n-1).Scan(&got)
		if err == nil && got == state {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.t.Fatalf("refinement %d is %q after %s, want %q", n, got, timeout, state)
}

// lockedWriter serializes writes from concurrent handlers into one buffer.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
