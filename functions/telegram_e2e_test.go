package functions

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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
	model := llmtest.New(t, llmtest.Response{
		Text:         "cmd/main.go\n```go\n<<<<<<< SEARCH\n\tpanic(\"no config\")\n=======\n\treturn errors.New(\"no config\")\n>>>>>>> REPLACE\n```\n",
		PromptTokens: 1000, CompletionTokens: 200,
	})
	w := newTGWorld(t, backend, model.URL, nil)
	w.want(w.post(w.msg("/start"), 1), "Hi Ann", "You have 20 free credits.")
	w.want(w.post(w.msg("/new api"), 1), "Project api created and selected")
	w.want(w.post(w.upload("cmd/main.go", mainGo), 1), "Added cmd/main.go")
	w.want(w.post(w.msg("/open cmd/main.go"), 1), "cmd/main.go is open")
	w.want(w.post(w.msg("return an error instead of panicking when the config file is missing"), 2),
		"Working on cmd/main.go…", "✅ cmd/main.go → version 2 (1 edit, 3 credits", "return errors.New(&#34;no config&#34;)")
	if reqs := model.Requests(); len(reqs) != 1 || reqs[0].Auth != "Bearer operator-key" || reqs[0].Model != "test-model" {
		t.Errorf("model requests = %+v", reqs)
	}
	w.want(w.post(w.msg("/balance"), 1), "17 credits", "−3")
	w.want(w.post(w.msg("/get cmd/main.go"), 1), "cmd/main.go, version 2")
	docs := w.tg.Calls("sendDocument")
	if len(docs) != 1 || !strings.Contains(string(docs[0].Document), "return errors.New") {
		t.Errorf("documents = %+v", docs)
	}
}

const mainGo = "package main\n\nfunc run() error {\n\tpanic(\"no config\")\n}\n"

// tgWorld is TelegramWebhook, TelegramUpdates and RefineJobs built from the
// configuration as production builds them, behind embedded Pub/Sub push
// loops, with PostgreSQL, storage, the fake Bot API and (at modelURL) a
// fake OpenAI-compatible model. One user, Ann, talks to it.
type tgWorld struct {
	t    *testing.T
	tg   *telegramtest.Server
	url  string
	deps *Deps
	next atomic.Int64
}

const ann = 4242

func newTGWorld(t *testing.T, backend, modelURL string, extra map[string]string) *tgWorld {
	t.Helper()
	return newTGWorldLogged(t, backend, modelURL, extra, nil)
}

// newTGWorldLogged is newTGWorld whose functions log through newLogger
// (given the configuration), when it is not nil.
func newTGWorldLogged(t *testing.T, backend, modelURL string, extra map[string]string, newLogger func(*config.Config) *slog.Logger) *tgWorld {
	t.Helper()
	return newTGWorldOf(t, backend, modelURL, extra, newLogger, false)
}

// newTGWorldOf is newTGWorldLogged, with BuildSteps and its topic too when
// builds is set.
func newTGWorldOf(t *testing.T, backend, modelURL string, extra map[string]string, newLogger func(*config.Config) *slog.Logger, builds bool) *tgWorld {
	t.Helper()
	ctx := context.Background()
	w := &tgWorld{t: t, tg: telegramtest.New(t)}
	w.next.Store(900000000)
	var handler atomic.Value
	hs := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		handler.Load().(http.Handler).ServeHTTP(rw, r)
	}))
	t.Cleanup(hs.Close)
	w.url = hs.URL
	spec := func(topic, fn string) embedded.TopicSpec {
		return embedded.TopicSpec{Topic: topic, Subscription: topic + "-push", PushEndpoint: hs.URL + "/" + fn,
			DeadLetterTopic: topic + "-dead", Ordering: true, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	}
	topics := []embedded.TopicSpec{spec("telegram-updates", TelegramUpdatesName), spec("refine-jobs", RefineJobsName)}
	names := []string{TelegramWebhookName, TelegramUpdatesName, RefineJobsName}
	if builds {
		topics = append(topics, spec("build-steps", BuildStepsName))
		names = append(names, BuildStepsName)
	}
	ps, err := embedded.Start(ctx, embedded.Config{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	var closePS sync.Once
	stopPS := func() { closePS.Do(func() { ps.Close() }) }
	t.Cleanup(stopPS)
	env := map[string]string{
		"DATABASE_URL": dbtest.URL(t), "DATABASE_EXEC_MODE": dbtest.ExecMode(), "STORAGE_BACKEND": backend, "STORAGE_DIR": t.TempDir(),
		"GOOGLE_CLOUD_PROJECT": ps.Project, "TELEGRAM_BOT_TOKEN": w.tg.Token, "TELEGRAM_API_URL": w.tg.URL,
		"TELEGRAM_WEBHOOK_SECRET": "hook-secret", "MOCK_STRIPE_PAYMENTS": "true",
		"API_KEY_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)),
		"LLM_BASE_URL":           modelURL, "LLM_API_KEY": "operator-key", "LLM_MODEL": "test-model",
		// 1000 prompt + 200 completion tokens at $1 per million each: $0.0012,
		// 0.12 credits at 100 per dollar, rounded up to 1, plus the base 2.
		"LLM_PRICES": "test-model=1:1", "BASE_REFINE_CREDITS": "2", "CREDITS_PER_USD": "100",
	}
	if backend == "supabase" {
		env["SUPABASE_URL"], env["SUPABASE_KEY"] = storagetest.NewServer(t).BaseURL, storagetest.Key
	}
	for k, v := range extra {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	var targets []Target
	for _, n := range names {
		tgt, _ := Lookup(n)
		targets = append(targets, tgt)
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Needs(targets)...)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if newLogger != nil {
		logger = newLogger(cfg)
	}
	d := NewDeps(cfg, logger)
	d.SetPubSubClient(ps.Client)
	// Stop the push loops before closing the pool, so that no delivery
	// runs against a closed pool at the end.
	t.Cleanup(func() { stopPS(); d.Close() })
	w.deps = d
	h, err := Handler(ctx, targets, d)
	if err != nil {
		t.Fatal(err)
	}
	handler.Store(h)
	return w
}

// send posts update to TelegramWebhook with Telegram's secret header.
func (w *tgWorld) send(update map[string]any) error {
	body, _ := json.Marshal(update)
	req, _ := http.NewRequest(http.MethodPost, w.url+"/"+TelegramWebhookName, bytes.NewReader(body))
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", "hook-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return nil
}

// post sends update and waits for want more replies to Ann (a message
// edited into a job's result counts as one); it returns them.
func (w *tgWorld) post(update map[string]any, want int) []string {
	w.t.Helper()
	before := len(w.tg.Replies(ann))
	if err := w.send(update); err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, c := range w.tg.WaitReplies(w.t, ann, before+want, 20*time.Second)[before:] {
		out = append(out, c.Text())
	}
	return out
}

func (w *tgWorld) msg(text string) map[string]any {
	id := w.next.Add(1)
	return map[string]any{"update_id": id, "message": map[string]any{"message_id": id % 1000, "date": 1764000000,
		"text": text, "from": map[string]any{"id": ann, "first_name": "Ann"}, "chat": map[string]any{"id": ann, "type": "private"}}}
}

// upload is Ann sending content as a document with path as its caption.
func (w *tgWorld) upload(path, content string) map[string]any {
	up := w.msg("")
	m := up["message"].(map[string]any)
	m["caption"] = path
	m["document"] = map[string]any{"file_id": w.tg.AddFile([]byte(content)), "file_unique_id": "x", "file_name": "main.go"}
	return up
}

// tap is Ann tapping an inline button carrying data.
func (w *tgWorld) tap(data string) map[string]any {
	id := w.next.Add(1)
	return map[string]any{"update_id": id, "callback_query": map[string]any{"id": fmt.Sprintf("cb-%d", id),
		"from": map[string]any{"id": ann, "first_name": "Ann"}, "data": data,
		"message": map[string]any{"message_id": 9, "chat": map[string]any{"id": ann, "type": "private"}}}}
}

func (w *tgWorld) want(got []string, subs ...string) {
	w.t.Helper()
	all := strings.Join(got, "\n")
	for _, s := range subs {
		if !strings.Contains(all, s) && !strings.Contains(html.UnescapeString(all), s) {
			w.t.Errorf("replies %q lack %q", got, s)
		}
	}
}

// scan reads the one row of q (no arguments) on the world's database.
func (w *tgWorld) scan(q string, dest ...any) {
	w.t.Helper()
	pool, err := w.deps.DB(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	if err := pool.Pool.QueryRow(context.Background(), q).Scan(dest...); err != nil {
		w.t.Fatalf("%s: %v", q, err)
	}
}

// testWriter routes log lines to t.Log (shown when the test fails).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
