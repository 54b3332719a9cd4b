package functions

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/events/embedded"
	"github.com/devbot-hq/devbot/internal/llm/llmtest"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

// The build tests' world: TelegramWebhook, TelegramUpdates, RefineJobs and
// BuildSteps behind embedded Pub/Sub, as newTGWorldOf builds them, with
// knobs those tests need (a wrapper around the functions, to duplicate
// pushes or hand them to another instance; the build-steps subscription's
// backoff and attempts; a second BuildSteps instance on its own database
// connection), and a gate in front of the fake model that tells the test
// when a call arrives and can hold it.

type buildOpts struct {
	extra map[string]string
	// wrap wraps the functions' handler (every push and webhook request).
	wrap func(next http.Handler) http.Handler
	// stepsBackoff and stepsAttempts set build-steps' MaxBackoff and
	// MaxAttempts (defaults 200ms and 5).
	stepsBackoff  time.Duration
	stepsAttempts int
}

type buildWorld struct {
	*tgWorld
	ps   *embedded.Server
	env  map[string]string
	gate *modelGate
}

func newBuildWorld(t *testing.T, gate *modelGate, o buildOpts) *buildWorld {
	t.Helper()
	ctx := context.Background()
	w := &buildWorld{tgWorld: &tgWorld{t: t, tg: telegramtest.New(t)}, gate: gate}
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
	steps := spec("build-steps", BuildStepsName)
	if o.stepsBackoff > 0 {
		steps.MaxBackoff = o.stepsBackoff
	}
	steps.MaxAttempts = o.stepsAttempts
	ps, err := embedded.Start(ctx, embedded.Config{Topics: []embedded.TopicSpec{spec("telegram-updates", TelegramUpdatesName),
		spec("refine-jobs", RefineJobsName), steps}})
	if err != nil {
		t.Fatal(err)
	}
	w.ps = ps
	var closePS sync.Once
	stopPS := func() { closePS.Do(func() { ps.Close() }) }
	t.Cleanup(stopPS)
	w.env = map[string]string{
		"DATABASE_URL": dbtest.URL(t), "DATABASE_EXEC_MODE": dbtest.ExecMode(), "STORAGE_BACKEND": "local", "STORAGE_DIR": t.TempDir(),
		"GOOGLE_CLOUD_PROJECT": ps.Project, "TELEGRAM_BOT_TOKEN": w.tg.Token, "TELEGRAM_API_URL": w.tg.URL,
		"TELEGRAM_WEBHOOK_SECRET": "hook-secret", "MOCK_STRIPE_PAYMENTS": "true",
		"API_KEY_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)),
		"LLM_BASE_URL":           gate.URL, "LLM_API_KEY": "operator-key", "LLM_MODEL": "test-model",
		"LLM_PRICES": "test-model=1:1", "BASE_REFINE_CREDITS": "2", "CREDITS_PER_USD": "100",
	}
	for k, v := range o.extra {
		w.env[k] = v
	}
	d := w.buildDeps(t, w.env, TelegramWebhookName, TelegramUpdatesName, RefineJobsName, BuildStepsName)
	t.Cleanup(func() { stopPS(); d.Close() })
	w.deps = d
	h, err := Handler(ctx, targetsOf(TelegramWebhookName, TelegramUpdatesName, RefineJobsName, BuildStepsName), d)
	if err != nil {
		t.Fatal(err)
	}
	if o.wrap != nil {
		h = o.wrap(h)
	}
	handler.Store(h)
	return w
}

func targetsOf(names ...string) []Target {
	var ts []Target
	for _, n := range names {
		t, _ := Lookup(n)
		ts = append(ts, t)
	}
	return ts
}

// buildDeps builds the Deps of the functions names from env, on the world's
// Pub/Sub.
func (w *buildWorld) buildDeps(t *testing.T, env map[string]string, names ...string) *Deps {
	t.Helper()
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Needs(targetsOf(names...))...)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDeps(cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	d.SetPubSubClient(w.ps.Client)
	return d
}

// instance is a second BuildSteps instance whose database connections go to
// dbURL; its Deps close at cleanup.
func (w *buildWorld) instance(dbURL string) http.Handler {
	w.t.Helper()
	env := map[string]string{}
	for k, v := range w.env {
		env[k] = v
	}
	env["DATABASE_URL"] = dbURL
	d := w.buildDeps(w.t, env, BuildStepsName)
	w.t.Cleanup(d.Close)
	h, err := Handler(context.Background(), targetsOf(BuildStepsName), d)
	if err != nil {
		w.t.Fatal(err)
	}
	return h
}

func (w *buildWorld) pool() *db.DB {
	w.t.Helper()
	p, err := w.deps.DB(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

// count runs a query of one integer.
func (w *buildWorld) count(q string, args ...any) int64 {
	w.t.Helper()
	var n int64
	if err := w.pool().Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		w.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// build is the one build's row.
func (w *buildWorld) build() db.Build {
	w.t.Helper()
	var id int64
	w.scan(`SELECT id FROM builds`, &id)
	b, err := db.GetBuild(context.Background(), w.pool().Pool, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// waitBuild waits until the build's row satisfies ok.
func (w *buildWorld) waitBuild(what string, timeout time.Duration, ok func(db.Build) bool) db.Build {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if w.count(`SELECT count(*) FROM builds`) == 1 {
			if b := w.build(); ok(b) {
				return b
			}
		}
		if time.Now().After(deadline) {
			b := w.build()
			w.t.Fatalf("the build never got %s: state %s, task %d, step %d", what, b.State, b.CurrentTask, b.StepSeq)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *buildWorld) waitState(state string) db.Build {
	w.t.Helper()
	return w.waitBuild("to "+state, 30*time.Second, func(b db.Build) bool { return b.State == state })
}

// sendOK posts an update to the webhook.
func (w *buildWorld) sendOK(update map[string]any) {
	w.t.Helper()
	if err := w.send(update); err != nil {
		w.t.Fatal(err)
	}
}

// shownProgress is the build's progress message as the chat shows it, once
// it shows want (waiting for the outbox to be sent).
func (w *buildWorld) shownProgress(want string) string {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b := w.build()
		if b.ProgressMessageID != nil {
			if text, ok := w.tg.Shown(ann, *b.ProgressMessageID); ok && strings.Contains(text, want) {
				return text
			}
		}
		if time.Now().After(deadline) {
			var text string
			if b.ProgressMessageID != nil {
				text, _ = w.tg.Shown(ann, *b.ProgressMessageID)
			}
			w.t.Fatalf("the progress message does not say %q: %q", want, text)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// begin runs /start and /build up to the spec (the architect asks nothing)
// and taps Start; it returns the build's id.
func (w *buildWorld) begin(estimate string) int64 {
	w.t.Helper()
	w.want(w.post(w.msg("/start"), 1), "free credits")
	w.sendOK(w.msg("/build a small app in Python"))
	w.waitFor("Estimated "+estimate+" credits", 20*time.Second)
	b := w.waitState("proposed")
	w.want(w.post(w.tap(fmt.Sprintf("bstart:%d", b.ID)), 1), "Started: "+estimate+" credits held.")
	return b.ID
}

// ledger is the build's charges by cause.
func (w *buildWorld) ledger() map[string]int64 {
	w.t.Helper()
	rows, err := w.pool().Pool.Query(context.Background(), `SELECT cause, amount FROM credit_ledger WHERE kind = 'build' ORDER BY id`)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var cause string
		var amount int64
		if err := rows.Scan(&cause, &amount); err != nil {
			w.t.Fatal(err)
		}
		if _, dup := out[cause]; dup {
			w.t.Errorf("cause %s charged twice", cause)
		}
		out[cause] = amount
	}
	return out
}

// taskFile is task k's file and editorReply its creation.
func taskFile(k int) string { return fmt.Sprintf("part%d.py", k) }

func editorReply(k int, body string) string {
	return taskFile(k) + "\n```python\n<<<<<<< SEARCH\n=======\n" + body + ">>>>>>> REPLACE\n```\n"
}

func createReply(k int) llmtest.Response {
	return llmtest.Response{Text: editorReply(k, fmt.Sprintf("def part%d():\n    return %d\n", k, k))}
}

const readmeBody = "README.md\n```\n<<<<<<< SEARCH\n=======\n# parts\n\nRun: python part1.py\n>>>>>>> REPLACE\n```\n"

var (
	noQuestions = llmtest.Response{Text: `{"questions":[]}`}
	approved    = llmtest.Response{Text: `{"approve":true,"reasons":[]}`}
	readmeMade  = llmtest.Response{Text: readmeBody}
)

func rejected(reason string) llmtest.Response {
	return llmtest.Response{Text: jsonText(map[string]any{"approve": false, "reasons": []string{reason}})}
}

// partsSpec is a spec of n tasks, task k making taskFile(k).
func partsSpec(n int) llmtest.Response {
	var tasks []map[string]any
	for k := 1; k <= n; k++ {
		tasks = append(tasks, map[string]any{"title": fmt.Sprintf("Part %d", k), "does": fmt.Sprintf("Write %s.", taskFile(k)),
			"files": []string{taskFile(k)}, "done_when": fmt.Sprintf("%s defines part%d.", taskFile(k), k)})
	}
	return llmtest.Response{Text: jsonText(map[string]any{"title": "parts", "summary": "A program in parts.",
		"stack": []string{"Python 3.12"}, "tasks": tasks})}
}

// modelGate stands in front of the fake model: it classifies each call
// (questions, spec, verdict: the architect's structured outputs; editor:
// the rest), counts them, and holds the calls a test asks it to.
type modelGate struct {
	URL   string
	model *llmtest.Server

	mu      sync.Mutex
	kinds   []string
	holds   map[string]*hold // "editor#2": the second editor call
	stopped chan struct{}
}

// hold is one held call: arrived is closed when it comes, and it waits
// until release is closed (then goes to the model, or, with hang, never).
type hold struct {
	arrived, release chan struct{}
	hang             bool
}

func newModelGate(t *testing.T, script ...llmtest.Response) *modelGate {
	g := &modelGate{model: llmtest.New(t, script...), holds: map[string]*hold{}, stopped: make(chan struct{})}
	target, _ := url.Parse(strings.TrimSuffix(g.model.URL, "/v1"))
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var req struct {
			ResponseFormat struct {
				JSONSchema struct {
					Name string `json:"name"`
				} `json:"json_schema"`
			} `json:"response_format"`
		}
		_ = json.Unmarshal(body, &req)
		kind := req.ResponseFormat.JSONSchema.Name
		if kind == "" {
			kind = "editor"
		}
		g.mu.Lock()
		g.kinds = append(g.kinds, kind)
		n := 0
		for _, k := range g.kinds {
			if k == kind {
				n++
			}
		}
		h := g.holds[fmt.Sprintf("%s#%d", kind, n)]
		g.mu.Unlock()
		if h != nil {
			close(h.arrived)
			select {
			case <-h.release:
			case <-r.Context().Done():
				return
			case <-g.stopped:
				return
			}
			if h.hang {
				select {
				case <-r.Context().Done():
				case <-g.stopped:
				}
				return
			}
		}
		proxy.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(g.stopped) }) // before srv.Close, which waits for held calls
	g.URL = srv.URL + "/v1"
	return g
}

// hold holds the nth call of kind.
func (g *modelGate) hold(kind string, nth int, hang bool) *hold {
	h := &hold{arrived: make(chan struct{}), release: make(chan struct{}), hang: hang}
	g.mu.Lock()
	g.holds[fmt.Sprintf("%s#%d", kind, nth)] = h
	g.mu.Unlock()
	return h
}

// calls is the kinds of the calls that came, in order.
func (g *modelGate) calls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.kinds...)
}

// answered counts the calls the model answered (held ones that never went
// on are not among them).
func (g *modelGate) answered() int { return len(g.model.Requests()) }

func (h *hold) wait(t *testing.T) {
	t.Helper()
	select {
	case <-h.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the held model call never came")
	}
}
