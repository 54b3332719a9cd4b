package llm_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/llm"
	"github.com/devbot-hq/devbot/internal/llm/llmtest"
)

type bundle struct {
	srv    *llmtest.Server
	client *llm.Client
	mu     sync.Mutex
	slept  []time.Duration
}

func setup(t *testing.T, script ...llmtest.Response) *bundle {
	t.Helper()
	b := &bundle{srv: llmtest.New(t, script...)}
	b.client = llm.New(llm.Config{
		BaseURL: b.srv.URL, APIKey: "sk-operator", Model: "test/model", Timeout: 5 * time.Second,
		Prices:     map[string]config.ModelPrice{"test/model": {InputPerMillion: 1, OutputPerMillion: 4}},
		MaxRetries: 3, MaxRetryDelay: 10 * time.Second, BaseDelay: time.Millisecond,
		Sleep: func(ctx context.Context, d time.Duration) error {
			b.mu.Lock()
			b.slept = append(b.slept, d)
			b.mu.Unlock()
			return nil
		},
	})
	return b
}

var msgs = []llm.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"}}

func TestCompleteSuccessRecordsUsageAndCost(t *testing.T) {
	t.Parallel()
	b := setup(t, llmtest.Response{Text: "hello", PromptTokens: 1000, CompletionTokens: 500})
	r, err := b.client.Complete(context.Background(), msgs, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Text != "hello" || r.PromptTokens != 1000 || r.CompletionTokens != 500 || r.Model != "test/model" {
		t.Errorf("reply %+v", r)
	}
	if want := 1000.0/1e6*1 + 500.0/1e6*4; r.CostUSD != want {
		t.Errorf("cost %v, want %v", r.CostUSD, want)
	}
	reqs := b.srv.Requests()
	if len(reqs) != 1 || reqs[0].Auth != "Bearer sk-operator" || reqs[0].Model != "test/model" ||
		len(reqs[0].Messages) != 2 || reqs[0].Messages[0].Role != "system" || reqs[0].Messages[1].Text() != "hi" {
		t.Errorf("request %+v", reqs)
	}
}

func TestUserKeyOverridesOperatorKey(t *testing.T) {
	t.Parallel()
	b := setup(t, llmtest.Response{Text: "ok"})
	if _, err := b.client.Complete(context.Background(), msgs, "sk-user"); err != nil {
		t.Fatal(err)
	}
	if got := b.srv.Requests()[0].Auth; got != "Bearer sk-user" {
		t.Errorf("auth %q", got)
	}
}

func TestRateLimitThenSuccessHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	b := setup(t,
		llmtest.Response{Status: 429, Headers: map[string]string{"Retry-After": "2"}},
		llmtest.Response{Status: 503},
		llmtest.Response{Text: "done"})
	r, err := b.client.Complete(context.Background(), msgs, "")
	if err != nil || r.Text != "done" {
		t.Fatalf("reply %+v, err %v", r, err)
	}
	if len(b.slept) != 2 || b.slept[0] != 2*time.Second || b.slept[1] > 10*time.Millisecond {
		t.Errorf("waits %v: want 2s (Retry-After), then a short backoff", b.slept)
	}
	if n := len(b.srv.Requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestRetryAfterBeyondBoundIsNotWaited(t *testing.T) {
	t.Parallel()
	b := setup(t, llmtest.Response{Status: 429, Headers: map[string]string{"Retry-After": "3600"}})
	_, err := b.client.Complete(context.Background(), msgs, "")
	if !fault.IsRetryable(err) || !errors.Is(err, fault.ErrRateLimited) || fault.RetryAfterOf(err) != time.Hour {
		t.Fatalf("err %v (retry after %v)", err, fault.RetryAfterOf(err))
	}
	if len(b.slept) != 0 {
		t.Errorf("slept %v", b.slept)
	}
}

func TestRetriesAreBounded(t *testing.T) {
	t.Parallel()
	b := setup(t, llmtest.Response{Status: 500}, llmtest.Response{Status: 502}, llmtest.Response{Status: 503},
		llmtest.Response{Status: 500}, llmtest.Response{Text: "too late"})
	_, err := b.client.Complete(context.Background(), msgs, "")
	if !fault.IsRetryable(err) || !errors.Is(err, fault.ErrUnavailable) {
		t.Fatalf("err %v", err)
	}
	if n := len(b.srv.Requests()); n != 4 {
		t.Errorf("%d requests, want 4 (1 + 3 retries)", n)
	}
}

func TestPermanentErrorsSayWhatIsWrong(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		want   string
		is     error
	}{
		{http.StatusUnauthorized, "the model endpoint rejected the API key", fault.ErrUnauthorized},
		{http.StatusForbidden, "the model endpoint rejected the API key", fault.ErrUnauthorized},
		{http.StatusNotFound, "the model test/model does not exist at ", fault.ErrUnauthorized},
		{http.StatusBadRequest, "refused the request (HTTP 400)", fault.ErrInvalid},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			t.Parallel()
			b := setup(t, llmtest.Response{Status: tc.status}, llmtest.Response{Text: "never"})
			_, err := b.client.Complete(context.Background(), msgs, "sk-secret-user-key")
			if err == nil || !fault.IsPermanent(err) || !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v", err)
			}
			if strings.Contains(err.Error(), "sk-secret") {
				t.Errorf("error shows the key: %v", err)
			}
			if n := len(b.srv.Requests()); n != 1 {
				t.Errorf("%d requests: a permanent error was retried", n)
			}
		})
	}
}

// The client names what is missing; what to do is the caller's to say
// (the bot: /setkey; devbot edit: LLM_API_KEY), so it names no chat command.
func TestNoKeyIsPermanent(t *testing.T) {
	t.Parallel()
	c := llm.New(llm.Config{BaseURL: "http://127.0.0.1:1/v1", Model: "m"})
	_, err := c.Complete(context.Background(), msgs, "")
	if !fault.IsPermanent(err) || !errors.Is(err, fault.ErrUnauthorized) || !errors.Is(err, llm.ErrNoKey) ||
		!strings.Contains(err.Error(), "LLM_API_KEY is not set") || strings.Contains(err.Error(), "/setkey") {
		t.Fatalf("err %v", err)
	}
}

func TestCancelledContextStopsRetrying(t *testing.T) {
	t.Parallel()
	b := setup(t, llmtest.Response{Status: 500}, llmtest.Response{Status: 500})
	ctx, cancel := context.WithCancel(context.Background())
	c := llm.New(llm.Config{BaseURL: b.srv.URL, APIKey: "k", Model: "m", BaseDelay: time.Millisecond,
		Sleep: func(context.Context, time.Duration) error { cancel(); return context.Canceled }})
	_, err := c.Complete(ctx, msgs, "")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

// An endpoint that quotes the key it refused, in its message and elsewhere
// in its body, at every status: no error carries the key, however long the
// message (a truncation must not leave the key's start).
func TestErrorsNeverCarryTheKey(t *testing.T) {
	t.Parallel()
	const userKey = "sk-user-0123456789abcdefXYZ"
	body := `{"error":{"message":"` + strings.Repeat("x", 290) + ` key ` + llmtest.EchoAuth + ` (Bearer ` + llmtest.EchoAuth +
		`) other sk-proj-abcdefghijklmnop AIzaSyA0123456789abcdefghijklmnopq","param":"` + llmtest.EchoAuth + `"}}`
	short := `{"error":{"message":"Invalid key ` + llmtest.EchoAuth + `"},"key":"` + llmtest.EchoAuth + `"}`
	for _, status := range []int{401, 402, 403, 404, 400, 429, 500, 503} {
		for _, b := range []string{body, short, "<html>" + llmtest.EchoAuth + "</html>"} {
			for _, key := range []string{"", userKey} {
				bd := setup(t, llmtest.Response{Status: status, Body: b})
				bd.client = llm.New(llm.Config{BaseURL: bd.srv.URL, APIKey: "sk-operator-0123456789", Model: "m", MaxRetries: -1})
				_, err := bd.client.Complete(context.Background(), msgs, key)
				if err == nil {
					t.Fatalf("HTTP %d: no error", status)
				}
				for _, k := range []string{"sk-operator-0123456789", userKey, "sk-operator-0", "sk-user-0", "sk-proj-abcdefghijklmnop", "AIzaSyA0123456789"} {
					if strings.Contains(err.Error(), k) {
						t.Errorf("HTTP %d error holds %q: %v", status, k, err)
					}
				}
			}
		}
	}
}
