package functions

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/events/embedded"
	"github.com/devbot-hq/devbot/internal/llm/llmtest"
	"github.com/devbot-hq/devbot/internal/storage/storagetest"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

// TestTelegramEndToEnd builds TelegramWebhook, TelegramUpdates and
// RefineJobs from the configuration, as production does, behind embedded
// Pub/Sub push loops, with local storage, PostgreSQL, the fake Bot API and a
// fake OpenAI-compatible model: a refinement in plain words, charged at the
// base price plus the model's token cost.
func TestTelegramEndToEnd(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"local", "supabase"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			telegramEndToEnd(t, backend)
		})
	}
}

func telegramEndToEnd(t *testing.T, backend string) {
	ctx := context.Background()
	tg := telegramtest.New(t)
	model := llmtest.New(t, llmtest.Response{
		Text:         "cmd/main.go\n```go\n<<<<<<< SEARCH\n\tpanic(\"no config\")\n=======\n\treturn errors.New(\"no config\")\n>>>>>>> REPLACE\n```\n",
		PromptTokens: 1000, CompletionTokens: 200,
	})
	var handler atomic.Value
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	spec := func(topic, fn string) embedded.TopicSpec {
		return embedded.TopicSpec{Topic: topic, Subscription: topic + "-push", PushEndpoint: hs.URL + "/" + fn,
			DeadLetterTopic: topic + "-dead", Ordering: true, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	}
	ps, err := embedded.Start(ctx, embedded.Config{Topics: []embedded.TopicSpec{
		spec("telegram-updates", TelegramUpdatesName), spec("refine-jobs", RefineJobsName)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	env := map[string]string{
		"DATABASE_URL": dbtest.URL(t), "STORAGE_BACKEND": backend, "STORAGE_DIR": t.TempDir(),
		"GOOGLE_CLOUD_PROJECT": ps.Project, "TELEGRAM_BOT_TOKEN": tg.Token, "TELEGRAM_API_URL": tg.URL,
		"TELEGRAM_WEBHOOK_SECRET": "hook-secret", "MOCK_STRIPE_PAYMENTS": "true",
		"API_KEY_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)),
		"LLM_BASE_URL":           model.URL, "LLM_API_KEY": "operator-key", "LLM_MODEL": "test-model",
		// 1000 prompt + 200 completion tokens at $1 per million each: $0.0012,
		// 0.12 credits at 100 per dollar, rounded up to 1, plus the base 2.
		"LLM_PRICES": "test-model=1:1", "BASE_REFINE_CREDITS": "2", "CREDITS_PER_USD": "100",
	}
	if backend == "supabase" {
		env["SUPABASE_URL"], env["SUPABASE_KEY"] = storagetest.NewServer(t).BaseURL, storagetest.Key
	}
	var targets []Target
	for _, n := range []string{TelegramWebhookName, TelegramUpdatesName, RefineJobsName} {
		tgt, _ := Lookup(n)
		targets = append(targets, tgt)
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Needs(targets)...)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDeps(cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	d.SetPubSubClient(ps.Client)
	t.Cleanup(d.Close)
	h, err := Handler(ctx, targets, d)
	if err != nil {
		t.Fatal(err)
	}
	handler.Store(h)

	const ann = 4242
	next := int64(900000000)
	post := func(update map[string]any, want int) []string {
		t.Helper()
		before := len(tg.Sent(ann))
		body, _ := json.Marshal(update)
		req, _ := http.NewRequest(http.MethodPost, hs.URL+"/"+TelegramWebhookName, bytes.NewReader(body))
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", "hook-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("webhook answered %d", resp.StatusCode)
		}
		var out []string
		for _, c := range tg.WaitSent(t, ann, before+want, 20*time.Second)[before:] {
			out = append(out, c.Text())
		}
		return out
	}
	msg := func(text string) map[string]any {
		next++
		return map[string]any{"update_id": next, "message": map[string]any{"message_id": next % 1000, "date": 1764000000,
			"text": text, "from": map[string]any{"id": ann, "first_name": "Ann"}, "chat": map[string]any{"id": ann, "type": "private"}}}
	}
	want := func(got []string, subs ...string) {
		t.Helper()
		all := strings.Join(got, "\n")
		for _, s := range subs {
			if !strings.Contains(all, s) {
				t.Errorf("replies %q lack %q", got, s)
			}
		}
	}
	want(post(msg("/start"), 1), "Hi Ann")
	want(post(msg("/new api"), 1), "Project api created and selected")
	up := msg("")
	m := up["message"].(map[string]any)
	m["caption"] = "cmd/main.go"
	m["document"] = map[string]any{"file_id": tg.AddFile([]byte("package main\n\nfunc run() error {\n\tpanic(\"no config\")\n}\n")),
		"file_unique_id": "x", "file_name": "main.go"}
	want(post(up, 1), "Added cmd/main.go")
	want(post(msg("/open cmd/main.go"), 1), "cmd/main.go is open")
	want(post(msg("return an error instead of panicking when the config file is missing"), 2),
		"Working on cmd/main.go…", "✅ cmd/main.go → version 2 (1 edit, 3 credits", "return errors.New(&#34;no config&#34;)")
	if reqs := model.Requests(); len(reqs) != 1 || reqs[0].Auth != "Bearer operator-key" || reqs[0].Model != "test-model" {
		t.Errorf("model requests = %+v", reqs)
	}
	want(post(msg("/balance"), 1), "17 credits", "−3")
	want(post(msg("/get cmd/main.go"), 1), "cmd/main.go, version 2")
	docs := tg.Calls("sendDocument")
	if len(docs) != 1 || !strings.Contains(string(docs[0].Document), "return errors.New") {
		t.Errorf("documents = %+v", docs)
	}
}

// testWriter routes log lines to t.Log (shown when the test fails).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
