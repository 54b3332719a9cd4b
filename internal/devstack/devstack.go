// Package devstack runs the whole devbot pipeline on one machine, on one
// port, along the production path: the five functions, Pub/Sub (embedded
// pstest with a push loop, or the installed emulator with real push
// subscriptions), storage (the local adapter, or Supabase when configured),
// PostgreSQL (DATABASE_URL, or a local cluster kept in the data directory,
// or a throwaway one), and Telegram (a fake Bot
// API on the same port that prints every reply to the console, or the real
// one when a token is configured). The model is the configured one, or
// with Options.Model = ModelScripted the built-in scripted model
// (internal/scriptedmodel), served on the same port: it plays the demo
// build with canned answers, no network and no key.
//
// It also serves a few /_dev/ endpoints that `devbot say` and `devbot demo`
// use to read the replies back and to upload files into the fake Bot API.
package devstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/functions"
	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/scriptedmodel"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

// Options configure Start.
type Options struct {
	// Addr to listen on; default 127.0.0.1:8080. Port 0 picks a free one.
	Addr string
	// DataDir keeps local storage and generated secrets; default .devbot.
	DataDir string
	// PubSub is "embedded" (default) or "emulator".
	PubSub string
	// Lookup reads the environment; default os.LookupEnv.
	Lookup func(string) (string, bool)
	// Console receives the human-readable progress and the bot's replies.
	Console io.Writer
	// Logger receives the functions' structured logs.
	Logger *slog.Logger
	// PrintReplies prints every reply of the fake Bot API to Console, as a
	// chat would show it (devbot dev; the demo prints its own transcript).
	PrintReplies bool
	// FreshDatabase, without DATABASE_URL, uses a throwaway local cluster
	// (removed on exit) instead of the one kept in DataDir.
	FreshDatabase bool
	// Model is ModelConfigured (the default: the model LLM_API_KEY and
	// the rest configure, or none) or ModelScripted (the built-in scripted
	// model, whatever is configured). Empty: DEV_MODEL, else configured.
	Model string
	// DBTracer, when set, traces every query of the functions' pool
	// (pgx.ConnConfig.Tracer; if it also implements pgx.BatchTracer or
	// pgx.CopyFromTracer, batches and copies too): devbot bench counts
	// statements and transactions with it. Nil costs nothing.
	DBTracer pgx.QueryTracer
}

// Models a stack can use.
const (
	// ModelConfigured is the model the environment configures (LLM_*,
	// ARCHITECT_*), or none without a key: only direct edits then.
	ModelConfigured = "configured"
	// ModelScripted is internal/scriptedmodel, served by the stack itself
	// at /_dev/model/v1: canned answers that play the demo build, no
	// network, no key.
	ModelScripted = "scripted"
)

// ScriptedKey is the key the stack gives the model clients for the
// scripted model, which takes any.
const ScriptedKey = "devbot-scripted-model-takes-any-key"

// ModelNote is what the stack says at start when it uses the scripted
// model.
const ModelNote = "model: scripted (built in, no network: canned answers for the demo build)"

// Stack is a running local pipeline.
type Stack struct {
	URL           string // http://host:port
	WebhookSecret string
	// Model is the model the stack uses: ModelScripted, or
	// ModelConfigured (which may be none).
	Model  string
	Config *config.Config
	DB     *db.DB
	// BotAPI is the fake Telegram Bot API, nil when a real token is set.
	BotAPI *telegramtest.Server

	deps     *functions.Deps
	console  io.Writer
	dataDir  string
	server   *http.Server
	closers  []func() error
	stopOnce sync.Once
	done     chan struct{}
}

// Publisher is the stack's own publisher of topic: the client and settings
// its functions publish with (devbot bench compares the webhook with it).
func (s *Stack) Publisher(ctx context.Context, topic string) (*events.Publisher, error) {
	return s.deps.Publisher(ctx, topic)
}

// scriptedPrefix is where the stack serves the scripted model.
const scriptedPrefix = "/_dev/model"

// StateFile is where a running stack tells `devbot say` and `devbot demo`
// how to reach it.
const StateFile = "dev.json"

// State is the content of StateFile.
type State struct {
	URL           string `json:"url"`
	WebhookSecret string `json:"webhook_secret"`
	PID           int    `json:"pid"`
}

// Start brings the stack up and returns when it is ready. Close stops it.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:8080"
	}
	if opts.DataDir == "" {
		opts.DataDir = ".devbot"
	}
	if opts.PubSub == "" {
		opts.PubSub = "embedded"
	}
	if opts.PubSub != "embedded" && opts.PubSub != "emulator" {
		return nil, fmt.Errorf("--pubsub must be embedded or emulator, not %q", opts.PubSub)
	}
	if opts.Lookup == nil {
		opts.Lookup = os.LookupEnv
	}
	if opts.Console == nil {
		opts.Console = io.Discard
	}
	if opts.Model == "" {
		opts.Model, _ = opts.Lookup("DEV_MODEL")
	}
	switch opts.Model {
	case "", ModelConfigured:
		opts.Model = ModelConfigured
	case ModelScripted:
	default:
		return nil, fmt.Errorf("the model (--model or DEV_MODEL) must be %s or %s, not %q", ModelConfigured, ModelScripted, opts.Model)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Stack{console: opts.Console, dataDir: opts.DataDir, Model: opts.Model, done: make(chan struct{})}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := s.checkStale(); err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (is another devbot dev running? try --addr 127.0.0.1:0)", opts.Addr, err)
	}
	s.URL = "http://" + ln.Addr().String()
	s.closers = append(s.closers, func() error { ln.Close(); return nil })

	env, notes, err := s.environment(ctx, opts)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(env, functions.Needs(functions.Targets())...)
	if err != nil {
		return nil, err
	}
	s.Config = cfg
	s.WebhookSecret = cfg.TelegramWebhookSecret
	for _, n := range notes {
		s.say("%s", n)
	}

	// The exec mode is shown because behind a transaction pooler only exec
	// or simple_protocol work, and a path that dropped DATABASE_EXEC_MODE
	// fails there only now and then.
	s.say("database: applying migrations (queries with DATABASE_EXEC_MODE=%s)", cfg.DatabaseExecMode)
	if _, err := db.Migrate(ctx, cfg.DatabaseURL, opts.Logger); err != nil {
		return nil, err
	}

	deps := functions.NewDeps(cfg, opts.Logger)
	s.deps = deps
	s.closers = append(s.closers, func() error { deps.Close(); return nil })
	if s.DB, err = deps.DB(ctx); err != nil {
		return nil, err
	}
	if opts.DBTracer != nil {
		if err := traceDB(ctx, s.DB, opts.DBTracer); err != nil {
			return nil, err
		}
	}

	if err := s.startPubSub(ctx, opts, deps); err != nil {
		return nil, err
	}
	if err := s.startSweeps(ctx, opts, deps); err != nil { // sweep.go
		return nil, err
	}

	handler, err := functions.Handler(ctx, functions.Targets(), deps)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/", handler)
	if s.BotAPI != nil {
		mux.Handle("/_telegram/", http.StripPrefix("/_telegram", s.BotAPI))
	}
	if s.Model == ModelScripted {
		mux.Handle(scriptedPrefix+"/", http.StripPrefix(scriptedPrefix, scriptedmodel.Handler()))
	}
	s.devRoutes(mux)
	s.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Error("dev server stopped", "error", err.Error())
		}
	}()
	if s.BotAPI != nil && opts.PrintReplies {
		go s.printReplies()
	}
	if err := s.writeState(); err != nil {
		return nil, err
	}
	s.say("ready: %s (webhook %s/TelegramWebhook)", s.URL, s.URL)
	return s, nil
}

// environment layers the dev defaults under the real environment: what the
// operator set wins, everything else is filled in so that nothing needs
// configuring.
func (s *Stack) environment(ctx context.Context, opts Options) (func(string) (string, bool), []string, error) {
	set := func(k string) bool { v, ok := opts.Lookup(k); return ok && v != "" }
	dev := map[string]string{
		"ENVIRONMENT":           "development",
		"GOOGLE_CLOUD_PROJECT":  "devbot-local",
		"MAX_DELIVERY_ATTEMPTS": "5",
		"HANDLER_TIMEOUT":       "120s",
	}
	var notes []string

	secrets, err := s.secrets()
	if err != nil {
		return nil, nil, err
	}
	dev["TELEGRAM_WEBHOOK_SECRET"] = secrets.Webhook
	dev["API_KEY_ENCRYPTION_KEY"] = secrets.Encryption
	dev["STRIPE_WEBHOOK_SECRET"] = secrets.Stripe

	if set("SUPABASE_URL") && set("SUPABASE_KEY") {
		notes = append(notes, "storage: Supabase at "+mustGet(opts.Lookup, "SUPABASE_URL"))
	} else {
		dir, _ := filepath.Abs(filepath.Join(opts.DataDir, "storage"))
		dev["STORAGE_BACKEND"] = "local"
		dev["STORAGE_DIR"] = dir
		notes = append(notes, "storage: local files under "+dir)
	}

	if set("TELEGRAM_BOT_TOKEN") {
		notes = append(notes, "telegram: replies are sent for real with TELEGRAM_BOT_TOKEN")
	} else {
		s.BotAPI = telegramtest.NewHandler(telegramtest.Token)
		dev["TELEGRAM_BOT_TOKEN"] = telegramtest.Token
		dev["TELEGRAM_API_URL"] = s.URL + "/_telegram"
		notes = append(notes, "telegram: no TELEGRAM_BOT_TOKEN, so replies are printed here")
	}

	if set("STRIPE_SECRET_KEY") {
		notes = append(notes, "payments: Stripe Checkout (test or live, as the key says)")
	} else {
		dev["MOCK_STRIPE_PAYMENTS"] = "true"
		notes = append(notes, "payments: mock (/buy credits at once; no Stripe)")
	}

	// The scripted model wins over what the environment configures: it was
	// asked for by name.
	forced := map[string]string{}
	if opts.Model == ModelScripted {
		url := s.URL + scriptedPrefix + "/v1"
		for k, v := range map[string]string{"LLM_BASE_URL": url, "LLM_API_KEY": ScriptedKey, "LLM_MODEL": scriptedmodel.ModelName,
			"ARCHITECT_BASE_URL": url, "ARCHITECT_API_KEY": ScriptedKey, "ARCHITECT_MODEL": scriptedmodel.ModelName, "EDIT_BACKEND": "llm"} {
			forced[k] = v
		}
		notes = append(notes, ModelNote)
		// Its calls cost nothing, so a task costs the base price: a small
		// estimate lets a new user's free credits start the build.
		dev["BUILD_TASK_CREDITS"] = "4"
	} else if set("LLM_API_KEY") || set("OPENROUTER_API_KEY") || set("GOOGLE_API_KEY") {
		model, ok := opts.Lookup("LLM_MODEL")
		if !ok || model == "" {
			model = "the default model"
		}
		notes = append(notes, "model: "+model)
	} else {
		notes = append(notes, "model: none configured (set LLM_API_KEY, or use --model=scripted for the demo build's canned answers): "+
			"only direct edits (SEARCH/REPLACE blocks or a diff) work")
	}

	if opts.PubSub == "emulator" {
		fmt.Fprintln(s.console, "devbot dev: pubsub: starting the Pub/Sub emulator (a few seconds)")
		host, err := s.startEmulator()
		if err != nil {
			return nil, nil, err
		}
		dev["PUBSUB_EMULATOR_HOST"] = host
	}

	if set("DATABASE_URL") || set("POSTGRES_HOST") {
		notes = append(notes, "database: DATABASE_URL")
	} else {
		fmt.Fprintln(s.console, "devbot dev: database: no DATABASE_URL, starting a local PostgreSQL cluster")
		url, note, err := s.localDatabase(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		dev["DATABASE_URL"] = url
		notes = append(notes, note)
	}

	lookup := func(k string) (string, bool) {
		if v, ok := forced[k]; ok {
			return v, true
		}
		if v, ok := opts.Lookup(k); ok && v != "" {
			return v, true
		}
		v, ok := dev[k]
		return v, ok
	}
	return lookup, notes, nil
}

type secrets struct {
	Webhook    string `json:"webhook"`
	Encryption string `json:"encryption"`
	Stripe     string `json:"stripe"`
}

// secrets are generated once per data directory, so users' stored keys stay
// readable across restarts.
func (s *Stack) secrets() (secrets, error) {
	path := filepath.Join(s.dataDir, "secrets.json")
	var sec secrets
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &sec) == nil && sec.Webhook != "" {
		return sec, nil
	}
	sec = secrets{Webhook: randomHex(24), Encryption: base64.StdEncoding.EncodeToString(randomBytes(32)),
		Stripe: "whsec_" + randomHex(24)}
	b, _ := json.Marshal(sec)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return secrets{}, fmt.Errorf("writing %s: %w", path, err)
	}
	return sec, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

func mustGet(lookup func(string) (string, bool), k string) string {
	v, _ := lookup(k)
	return v
}

func (s *Stack) say(format string, args ...any) {
	fmt.Fprintf(s.console, "devbot dev: "+format+"\n", args...)
}

func (s *Stack) writeState() error {
	b, _ := json.MarshalIndent(State{URL: s.URL, WebhookSecret: s.WebhookSecret, PID: os.Getpid()}, "", "  ")
	path := filepath.Join(s.dataDir, StateFile)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	s.closers = append(s.closers, func() error { return os.Remove(path) })
	return nil
}

// ReadState finds a running stack from its data directory.
func ReadState(dataDir string) (State, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, StateFile))
	if err != nil {
		return State{}, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("%s: %w", StateFile, err)
	}
	return st, nil
}

// Close stops everything, newest first: the HTTP server (in-flight requests
// get a few seconds), Pub/Sub, the functions' dependencies, the throwaway
// local cluster.
func (s *Stack) Close() error {
	var errs []error
	s.stopOnce.Do(func() {
		close(s.done)
		if s.server != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.server.Shutdown(ctx); err != nil {
				s.server.Close()
			}
			cancel()
		}
		for i := len(s.closers) - 1; i >= 0; i-- {
			if err := s.closers[i](); err != nil {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}
