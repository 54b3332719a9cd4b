// Package config reads every setting from the environment, validates it at
// start, and reports every problem in one message.
//
// Each function and subcommand declares the groups of settings it needs
// (Load's needs); a variable is required only when a needed group requires
// it, but a variable that is set is always parsed, so a typo in an optional
// value is never silently ignored. Secrets are never printed: errors name the
// variable, not its value.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Group is a set of settings that a function or subcommand needs.
type Group string

const (
	Database        Group = "database"         // PostgreSQL
	Storage         Group = "storage"          // file storage (Supabase or local)
	PubSub          Group = "pubsub"           // publishing to topics
	TelegramWebhook Group = "telegram-webhook" // verifying Telegram's webhook
	TelegramAPI     Group = "telegram-api"     // sending replies
	StripeWebhook   Group = "stripe-webhook"   // verifying Stripe's webhook
	StripeAPI       Group = "stripe-api"       // creating Checkout sessions
	LLM             Group = "llm"              // the model endpoint
	Crypto          Group = "crypto"           // encrypting users' API keys
)

// MaxProjectBytesLimit is the largest MAX_PROJECT_BYTES: a project's zip,
// with its headers, must stay under Telegram's 50 MB document limit.
const MaxProjectBytesLimit = 45 << 20

// Config holds every setting. Zero values are replaced by defaults in Load.
type Config struct {
	Environment string // "production" or "development"
	LogFormat   string // "json" or "text"
	LogLevel    string // "debug", "info", "warn", "error"
	Port        string
	// FunctionTarget is the one function to serve; empty serves all.
	FunctionTarget string

	DatabaseURL      string
	DatabaseExecMode string // pgx QueryExecMode name
	DatabaseMaxConns int32

	StorageBackend string // "supabase" or "local"
	StorageDir     string // root of the local backend
	// StorageNoSync: the local backend skips fsync (a throwaway stack).
	StorageNoSync bool
	SupabaseURL   string
	SupabaseKey   string
	// SupabaseStorageURL is the Storage API's base, used as is (a bare
	// Storage server's root); when set it wins over SupabaseURL.
	SupabaseStorageURL string
	MaxFileBytes       int64
	// MaxProjectFiles and MaxProjectBytes bound a project, so that /export's
	// zip stays under Telegram's 50 MB upload limit.
	MaxProjectFiles int
	MaxProjectBytes int64
	// ProjectContextTokens bounds the project context (map, named, pinned
	// and relevant files) a change set's model call gets.
	ProjectContextTokens int

	GoogleCloudProject   string
	PubSubEmulatorHost   string
	TopicTelegramUpdates string
	TopicStripeEvents    string
	TopicRefineJobs      string
	TopicSweep           string
	TopicBuildSteps      string
	MaxDeliveryAttempts  int
	HandlerTimeout       time.Duration
	RefineLease          time.Duration
	// Optional OIDC verification of push requests.
	PushAuthAudience       string
	PushAuthServiceAccount string

	TelegramBotToken      string
	TelegramWebhookSecret string
	TelegramAPIURL        string
	// Sends a second: the bot's budget over all instances, the number of
	// instances that share it (TelegramRate), and one chat's.
	TelegramMaxRate   float64
	TelegramInstances int
	TelegramChatRate  float64

	StripeSecretKey     string
	StripeWebhookSecret string
	StripeAPIURL        string
	MockStripePayments  bool
	CheckoutSuccessURL  string
	CheckoutCancelURL   string
	CreditPacks         []CreditPack

	LLMBaseURL string
	LLMAPIKey  string
	LLMModel   string
	// The architect model of builds (questions, spec, review); each empty
	// one takes the LLM_* value.
	ArchitectBaseURL string
	ArchitectAPIKey  string
	ArchitectModel   string
	// BuildTaskCredits is a build task's estimate; BuildMaxRounds bounds a
	// task's rounds of checks and review.
	BuildTaskCredits int64
	BuildMaxRounds   int
	LLMTimeout       time.Duration
	LLMPrices        map[string]ModelPrice
	EditBackend      string // "llm" or "aider"
	AiderPath        string
	AiderTimeout     time.Duration
	MaxReflection    int

	APIKeyEncryptionKey []byte // 32 bytes, AES-256-GCM

	FreeCredits       int64
	BaseRefineCredits int64
	CreditsPerUSD     float64
	MaxRefineCredits  int64 // the reservation's worst case per refinement
	RefineRateLimit   int   // refinements per user per RefineRateWindow
	RefineRateWindow  time.Duration

	secrets []string // every secret's value as read, for the logger
}

// Secrets returns the value of every variable marked secret that is set,
// and the forms it takes in other settings (the database password as it
// appears in DATABASE_URL), so that the logger can scrub them
// (logging.New). Never print the result.
func (c *Config) Secrets() []string { return slices.Clone(c.secrets) }

// Production reports whether the configuration says production.
func (c *Config) Production() bool { return c.Environment == "production" }

// CreditPack is one offer on /buy: credits for an amount in the smallest
// currency unit.
type CreditPack struct {
	Credits  int64
	Amount   int64
	Currency string
}

// ModelPrice is a model's price in US dollars per million tokens.
type ModelPrice struct {
	InputPerMillion  float64
	OutputPerMillion float64
}

// Var describes one environment variable.
type Var struct {
	Name     string
	Help     string
	Default  string
	Secret   bool
	Required []Group // groups for which the variable must be set
	set      func(c *Config, v string) error
}

// Vars lists every variable that Load reads, in the order .env.example shows
// them.
var Vars = []Var{
	{Name: "ENVIRONMENT", Default: "development", Help: "production or development; production refuses unsafe settings such as mock payments",
		set: oneOf(func(c *Config) *string { return &c.Environment }, "production", "development")},
	{Name: "LOG_FORMAT", Default: "", Help: "json (Cloud Logging fields) or text; default json in production, text otherwise",
		set: oneOf(func(c *Config) *string { return &c.LogFormat }, "json", "text")},
	{Name: "LOG_LEVEL", Default: "info", Help: "debug, info, warn or error",
		set: oneOf(func(c *Config) *string { return &c.LogLevel }, "debug", "info", "warn", "error")},
	{Name: "PORT", Default: "8080", Help: "port that devbot serve listens on (Cloud Run sets it)",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 65535 {
				return errors.New("must be a port number between 1 and 65535")
			}
			c.Port = v
			return nil
		}},
	{Name: "FUNCTION_TARGET", Help: "the one function to serve (one Cloud Run service per function); unset serves all at /<Name>",
		set: str(func(c *Config) *string { return &c.FunctionTarget })},

	{Name: "DATABASE_URL", Secret: true, Required: []Group{Database},
		Help: "PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/devbot (or set the POSTGRES_* parts)",
		set: func(c *Config, v string) error {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
				return errors.New("must be a postgres:// or postgresql:// URL")
			}
			c.DatabaseURL = v
			return nil
		}},
	{Name: "POSTGRES_HOST", Help: "PostgreSQL host, used with the other POSTGRES_* parts when DATABASE_URL is unset"},
	{Name: "POSTGRES_PORT", Default: "", Help: "PostgreSQL port (default 5432)"},
	{Name: "POSTGRES_USER", Help: "PostgreSQL user"},
	{Name: "POSTGRES_PASSWORD", Secret: true, Help: "PostgreSQL password"},
	{Name: "POSTGRES_DB", Help: "PostgreSQL database name"},
	{Name: "POSTGRES_SSLMODE", Help: "PostgreSQL sslmode (disable, require, verify-full, ...)"},
	{Name: "DATABASE_EXEC_MODE", Default: "cache_statement",
		Help: "pgx query exec mode: cache_statement, cache_describe, describe_exec, exec or simple_protocol; use exec behind Supabase's transaction pooler (port 6543)",
		set:  oneOf(func(c *Config) *string { return &c.DatabaseExecMode }, "cache_statement", "cache_describe", "describe_exec", "exec", "simple_protocol")},
	{Name: "DATABASE_MAX_CONNS", Default: "10", Help: "largest number of connections one instance opens",
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 1 {
				return errors.New("must be a positive integer")
			}
			c.DatabaseMaxConns = int32(n)
			return nil
		}},

	{Name: "STORAGE_BACKEND", Default: "supabase", Help: "supabase, or local (files under STORAGE_DIR; for devbot dev and tests)",
		set: oneOf(func(c *Config) *string { return &c.StorageBackend }, "supabase", "local")},
	{Name: "STORAGE_DIR", Help: "root directory of the local storage backend",
		set: str(func(c *Config) *string { return &c.StorageDir })},
	{Name: "STORAGE_NO_SYNC", Default: "false", Help: "true: the local backend does not fsync new files, for a stack whose data is thrown away, like a PostgreSQL cluster with fsync=off (devbot bench); refused in production",
		set: boolean(func(c *Config) *bool { return &c.StorageNoSync })},
	{Name: "SUPABASE_URL", Help: "Supabase project URL (https://abcd.supabase.co) or a self-hosted Supabase gateway (http://localhost:8000); /storage/v1 is appended",
		set: httpURL(func(c *Config) *string { return &c.SupabaseURL })},
	{Name: "SUPABASE_STORAGE_URL", Help: "the Storage API's base URL, used as is, e.g. a bare Storage server's root (http://storage:5000); overrides SUPABASE_URL",
		set: httpURL(func(c *Config) *string { return &c.SupabaseStorageURL })},
	{Name: "SUPABASE_KEY", Secret: true, Help: "Supabase service_role key (a JWT whose role is service_role) or secret key (sb_secret_...); server side only: it bypasses row-level security",
		set: supabaseKey},
	{Name: "MAX_FILE_BYTES", Default: "1048576", Help: "largest file a user may upload or a refinement may produce, in bytes",
		set: positiveInt64(func(c *Config) *int64 { return &c.MaxFileBytes })},
	{Name: "MAX_PROJECT_FILES", Default: "500", Help: "most files a project may hold (checked at every upload that adds one)",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return errors.New("must be a positive integer")
			}
			c.MaxProjectFiles = n
			return nil
		}},
	{Name: "PROJECT_CONTEXT_TOKENS", Default: "16000", Help: "estimated tokens of project context a change's model call gets: a map of every path with outlines, the named, pinned (/add) and relevant files; what does not fit is summarized (at least 256)",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 256 {
				return errors.New("must be a number of tokens, at least 256")
			}
			c.ProjectContextTokens = n
			return nil
		}},
	{Name: "MAX_PROJECT_BYTES", Default: "41943040", Help: "most bytes a project's current files may hold together (at most 45 MiB, so that /export's zip fits Telegram's 50 MB)",
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 || n > MaxProjectBytesLimit {
				return fmt.Errorf("must be a positive number of bytes up to %d (45 MiB: the export must fit Telegram's 50 MB)", MaxProjectBytesLimit)
			}
			c.MaxProjectBytes = n
			return nil
		}},

	{Name: "GOOGLE_CLOUD_PROJECT", Required: []Group{PubSub}, Help: "Google Cloud project id that owns the Pub/Sub topics",
		set: str(func(c *Config) *string { return &c.GoogleCloudProject })},
	{Name: "PUBSUB_EMULATOR_HOST", Help: "host:port of a Pub/Sub emulator; the client library then talks to it instead of Google",
		set: str(func(c *Config) *string { return &c.PubSubEmulatorHost })},
	{Name: "TOPIC_TELEGRAM_UPDATES", Default: "telegram-updates", Help: "topic the Telegram webhook publishes to",
		set: topic(func(c *Config) *string { return &c.TopicTelegramUpdates })},
	{Name: "TOPIC_STRIPE_EVENTS", Default: "stripe-events", Help: "topic the Stripe webhook publishes to",
		set: topic(func(c *Config) *string { return &c.TopicStripeEvents })},
	{Name: "TOPIC_REFINE_JOBS", Default: "refine-jobs", Help: "topic refinement jobs are published to",
		set: topic(func(c *Config) *string { return &c.TopicRefineJobs })},
	{Name: "TOPIC_SWEEP", Default: "sweep", Help: "topic Cloud Scheduler publishes the sweeper's ticks to",
		set: topic(func(c *Config) *string { return &c.TopicSweep })},
	{Name: "TOPIC_BUILD_STEPS", Default: "build-steps", Help: "topic the steps of builds (/build) are published to",
		set: topic(func(c *Config) *string { return &c.TopicBuildSteps })},
	{Name: "MAX_DELIVERY_ATTEMPTS", Default: "5", Help: "delivery attempt at which a consumer gives up (match the subscription's dead-letter policy, which Pub/Sub allows from 5 to 100; lower values only in tests)",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100 {
				return errors.New("must be an integer between 1 and 100")
			}
			c.MaxDeliveryAttempts = n
			return nil
		}},
	{Name: "HANDLER_TIMEOUT", Default: "540s", Help: "deadline of one consumer invocation; keep it below the subscription's ack deadline",
		set: duration(func(c *Config) *time.Duration { return &c.HandlerTimeout })},
	{Name: "REFINE_LEASE", Default: "30s", Help: "how long a refinement's claim lasts unrenewed (renewed every third of it while the work runs); a crashed job is free again within it",
		set: duration(func(c *Config) *time.Duration { return &c.RefineLease })},
	{Name: "PUSH_AUTH_AUDIENCE", Help: "when set, push requests must carry a Google OIDC token for this audience (Terraform sets devbot:PROJECT:SERVICE, the service's custom audience); consumers refuse to start in production without it",
		set: str(func(c *Config) *string { return &c.PushAuthAudience })},
	{Name: "PUSH_AUTH_SERVICE_ACCOUNT", Help: "the push service account's email the OIDC token must name (with PUSH_AUTH_AUDIENCE)",
		set: str(func(c *Config) *string { return &c.PushAuthServiceAccount })},

	{Name: "TELEGRAM_BOT_TOKEN", Secret: true, Required: []Group{TelegramAPI}, Help: "bot token from @BotFather",
		set: str(func(c *Config) *string { return &c.TelegramBotToken })},
	{Name: "TELEGRAM_WEBHOOK_SECRET", Secret: true, Required: []Group{TelegramWebhook},
		Help: "secret_token given to setWebhook (1-256 characters of A-Z a-z 0-9 _ -)",
		set: func(c *Config, v string) error {
			if len(v) > 256 || strings.TrimLeft(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
				return errors.New("must be 1-256 characters of A-Z a-z 0-9 _ -")
			}
			c.TelegramWebhookSecret = v
			return nil
		}},
	{Name: "TELEGRAM_API_URL", Default: TelegramBotAPI, Help: "Bot API base URL (a local Bot API server or a test fake)",
		set: httpURL(func(c *Config) *string { return &c.TelegramAPIURL })},
	{Name: "TELEGRAM_MAX_RATE", Help: "messages a second the bot may send in all (Telegram allows about 30), shared by TELEGRAM_INSTANCES; default 25 in production or with Telegram's own TELEGRAM_API_URL, else 0 (no limit: a fake); 0: no limit",
		set: rate(func(c *Config) *float64 { return &c.TelegramMaxRate })},
	{Name: "TELEGRAM_INSTANCES", Default: "1", Help: "how many instances may send at once (Terraform: the sum of max instances of the services that reply); each gets TELEGRAM_MAX_RATE divided by it",
		set: positiveInt(func(c *Config) *int { return &c.TelegramInstances })},
	{Name: "TELEGRAM_CHAT_RATE", Help: "messages a second to one private chat after a burst of 3 (Telegram allows about 1; groups get 17 a minute per 1); default 1 where TELEGRAM_MAX_RATE defaults to 25, else 0; 0: no limit",
		set: rate(func(c *Config) *float64 { return &c.TelegramChatRate })},

	{Name: "STRIPE_SECRET_KEY", Secret: true, Required: []Group{StripeAPI}, Help: "Stripe secret key (sk_live_... or sk_test_...) or restricted key (rk_...); not needed with MOCK_STRIPE_PAYMENTS",
		set: stripeSecretKey},
	{Name: "STRIPE_WEBHOOK_SECRET", Secret: true, Required: []Group{StripeWebhook}, Help: "the webhook endpoint's signing secret (whsec_...)",
		set: func(c *Config, v string) error {
			if !strings.HasPrefix(v, "whsec_") {
				return errors.New("must be the endpoint's signing secret (whsec_…), shown with the webhook endpoint in the Stripe Dashboard or by stripe listen")
			}
			c.StripeWebhookSecret = v
			return nil
		}},
	{Name: "STRIPE_API_URL", Help: "Stripe API base URL; set only to point at a test fake",
		set: httpURL(func(c *Config) *string { return &c.StripeAPIURL })},
	{Name: "MOCK_STRIPE_PAYMENTS", Default: "false", Help: "true: /buy credits at once without Stripe (refused in production)",
		set: boolean(func(c *Config) *bool { return &c.MockStripePayments })},
	{Name: "CHECKOUT_SUCCESS_URL", Default: "https://t.me", Help: "where Stripe Checkout sends the user after paying",
		set: httpURL(func(c *Config) *string { return &c.CheckoutSuccessURL })},
	{Name: "CHECKOUT_CANCEL_URL", Default: "https://t.me", Help: "where Stripe Checkout sends the user after cancelling",
		set: httpURL(func(c *Config) *string { return &c.CheckoutCancelURL })},
	{Name: "CREDIT_PACKS", Default: "100:500:usd,500:2000:usd", Help: "credit packs offered by /buy: credits:amount-in-cents:currency, comma separated",
		set: func(c *Config, v string) error {
			packs, err := ParseCreditPacks(v)
			c.CreditPacks = packs
			return err
		}},

	{Name: "LLM_BASE_URL", Default: "https://openrouter.ai/api/v1", Help: "OpenAI-compatible endpoint (OpenRouter, Gemini's /v1beta/openai/, a local server)",
		set: httpURL(func(c *Config) *string { return &c.LLMBaseURL })},
	{Name: "LLM_API_KEY", Secret: true, Help: "key for LLM_BASE_URL (or OPENROUTER_API_KEY / GOOGLE_API_KEY); unset: only direct edits unless the user set a key",
		set: str(func(c *Config) *string { return &c.LLMAPIKey })},
	{Name: "OPENROUTER_API_KEY", Secret: true, Help: "OpenRouter key, used when LLM_API_KEY is unset"},
	{Name: "GOOGLE_API_KEY", Secret: true, Help: "Gemini key, used when LLM_API_KEY and OPENROUTER_API_KEY are unset"},
	{Name: "LLM_MODEL", Default: "openai/gpt-4o-mini", Help: "model name as the endpoint knows it",
		set: str(func(c *Config) *string { return &c.LLMModel })},
	{Name: "ARCHITECT_BASE_URL", Help: "OpenAI-compatible endpoint of the architect model of builds (questions, spec, review); empty: LLM_BASE_URL",
		set: func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			return httpURL(func(c *Config) *string { return &c.ArchitectBaseURL })(c, v)
		}},
	{Name: "ARCHITECT_API_KEY", Secret: true, Help: "key for ARCHITECT_BASE_URL; empty: LLM_API_KEY",
		set: str(func(c *Config) *string { return &c.ArchitectAPIKey })},
	{Name: "ARCHITECT_MODEL", Help: "the architect model's name; empty: LLM_MODEL (the editor model, which makes the changes)",
		set: str(func(c *Config) *string { return &c.ArchitectModel })},
	{Name: "BUILD_TASK_CREDITS", Default: "10", Help: "credits a build task is estimated at: Start holds this per task (and one more for the README); each task is charged what it cost",
		set: positiveInt64(func(c *Config) *int64 { return &c.BuildTaskCredits })},
	{Name: "BUILD_MAX_ROUNDS", Default: "3", Help: "rounds of static checks and review a build task gets before the build asks what to do",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10 {
				return errors.New("must be an integer between 1 and 10")
			}
			c.BuildMaxRounds = n
			return nil
		}},
	{Name: "LLM_TIMEOUT", Default: "120s", Help: "deadline of one model call",
		set: duration(func(c *Config) *time.Duration { return &c.LLMTimeout })},
	{Name: "LLM_PRICES", Default: "", Help: "per-model prices in USD per million tokens: model=input:output, comma separated",
		set: func(c *Config, v string) error {
			p, err := ParsePrices(v)
			c.LLMPrices = p
			return err
		}},
	{Name: "EDIT_BACKEND", Default: "llm", Help: "llm (an OpenAI-compatible model) or aider (the aider CLI)",
		set: oneOf(func(c *Config) *string { return &c.EditBackend }, "llm", "aider")},
	{Name: "AIDER_PATH", Default: "aider", Help: "the aider executable, for EDIT_BACKEND=aider",
		set: str(func(c *Config) *string { return &c.AiderPath })},
	{Name: "AIDER_TIMEOUT", Default: "300s", Help: "deadline of one aider run",
		set: duration(func(c *Config) *time.Duration { return &c.AiderTimeout })},
	{Name: "MAX_REFLECTIONS", Default: "3", Help: "how often a refused edit goes back to the model before the job fails",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 10 {
				return errors.New("must be an integer between 0 and 10")
			}
			c.MaxReflection = n
			return nil
		}},

	{Name: "API_KEY_ENCRYPTION_KEY", Secret: true, Required: []Group{Crypto},
		Help: "32 random bytes, base64 (openssl rand -base64 32): encrypts users' own LLM keys",
		set: func(c *Config, v string) error {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil || len(b) != 32 {
				return errors.New("must be 32 bytes in standard base64 (openssl rand -base64 32)")
			}
			c.APIKeyEncryptionKey = b
			return nil
		}},

	{Name: "FREE_CREDITS", Default: "20", Help: "credits a new user receives",
		set: nonNegativeInt64(func(c *Config) *int64 { return &c.FreeCredits })},
	{Name: "BASE_REFINE_CREDITS", Default: "1", Help: "credits every refinement costs; a direct edit costs only this",
		set: nonNegativeInt64(func(c *Config) *int64 { return &c.BaseRefineCredits })},
	{Name: "CREDITS_PER_USD", Default: "100", Help: "credits charged per US dollar of model cost (rounded up per job)",
		set: func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				return errors.New("must be a non-negative number")
			}
			c.CreditsPerUSD = f
			return nil
		}},
	{Name: "MAX_REFINE_CREDITS", Default: "10", Help: "credits reserved for one refinement (its worst case); the charge is the actual cost up to this",
		set: positiveInt64(func(c *Config) *int64 { return &c.MaxRefineCredits })},
	{Name: "REFINE_RATE_LIMIT", Default: "10", Help: "refinements one user may start per REFINE_RATE_WINDOW (0: no limit); one that ended without a charge counts half",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return errors.New("must be a non-negative integer")
			}
			c.RefineRateLimit = n
			return nil
		}},
	{Name: "REFINE_RATE_WINDOW", Default: "1m", Help: "the window of REFINE_RATE_LIMIT",
		set: duration(func(c *Config) *time.Duration { return &c.RefineRateWindow })},
}

// LoadEnv reads the process environment. See Load.
func LoadEnv(needs ...Group) (*Config, error) {
	return Load(os.LookupEnv, needs...)
}

// Load reads every variable through lookup, applies defaults, and checks
// that the groups in needs are complete. The error names every problem.
func Load(lookup func(string) (string, bool), needs ...Group) (*Config, error) {
	c := &Config{}
	var problems []string
	get := func(name string) string {
		v, ok := lookup(name)
		if !ok {
			return ""
		}
		return strings.TrimSpace(v)
	}
	for _, v := range Vars {
		val := get(v.Name)
		if val == "" {
			val = v.Default
		}
		if val == "" || v.set == nil {
			continue
		}
		if err := v.set(c, val); err != nil {
			problems = append(problems, fmt.Sprintf("%s %s", v.Name, err))
		}
	}

	// DATABASE_URL may be assembled from its parts.
	if c.DatabaseURL == "" && get("POSTGRES_HOST") != "" {
		c.DatabaseURL = postgresURL(get)
	}
	// The model key has two fallbacks.
	if c.LLMAPIKey == "" {
		c.LLMAPIKey = get("OPENROUTER_API_KEY")
	}
	if c.LLMAPIKey == "" {
		c.LLMAPIKey = get("GOOGLE_API_KEY")
	}
	// The architect model defaults to the editor's.
	if c.ArchitectBaseURL == "" {
		c.ArchitectBaseURL = c.LLMBaseURL
	}
	if c.ArchitectAPIKey == "" {
		c.ArchitectAPIKey = c.LLMAPIKey
	}
	if c.ArchitectModel == "" {
		c.ArchitectModel = c.LLMModel
	}
	for _, v := range Vars {
		if val := get(v.Name); v.Secret && val != "" {
			c.secrets = append(c.secrets, val)
		}
	}
	if u, err := url.Parse(c.DatabaseURL); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			c.secrets = append(c.secrets, pw, url.QueryEscape(pw), url.PathEscape(pw))
		}
	}
	telegramLimitDefaults(c, get)
	if c.LogFormat == "" {
		c.LogFormat = "text"
		if c.Production() {
			c.LogFormat = "json"
		}
	}

	for _, v := range Vars {
		if !slices.ContainsFunc(v.Required, func(g Group) bool { return slices.Contains(needs, g) }) {
			continue
		}
		if v.Name == "DATABASE_URL" && c.DatabaseURL != "" {
			continue
		}
		if v.Name == "STRIPE_SECRET_KEY" && c.MockStripePayments {
			continue
		}
		if get(v.Name) == "" && v.Default == "" {
			problems = append(problems, fmt.Sprintf("%s is required (%s)", v.Name, v.Help))
		}
	}
	if slices.Contains(needs, Storage) {
		switch c.StorageBackend {
		case "local":
			if c.StorageDir == "" {
				problems = append(problems, "STORAGE_DIR is required when STORAGE_BACKEND=local")
			}
		case "supabase":
			// A value that is set but malformed has its own message already.
			if get("SUPABASE_URL") == "" && get("SUPABASE_STORAGE_URL") == "" {
				problems = append(problems, "SUPABASE_URL is required (the Supabase project URL; or SUPABASE_STORAGE_URL for a bare Storage server; or set STORAGE_BACKEND=local)")
			}
			if get("SUPABASE_KEY") == "" {
				problems = append(problems, "SUPABASE_KEY is required (the Supabase service_role key or an sb_secret_… key)")
			}
		}
	}
	if c.PushAuthAudience != "" && c.PushAuthServiceAccount == "" {
		problems = append(problems, "PUSH_AUTH_SERVICE_ACCOUNT is required when PUSH_AUTH_AUDIENCE is set")
	}
	if c.MockStripePayments && c.Production() {
		problems = append(problems, "MOCK_STRIPE_PAYMENTS=true is refused when ENVIRONMENT=production")
	}
	if c.Production() && c.StorageNoSync {
		problems = append(problems, "STORAGE_NO_SYNC=true is refused when ENVIRONMENT=production")
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, &Error{Problems: problems}
	}
	return c, nil
}

// Error lists every configuration problem found.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

func postgresURL(get func(string) string) string {
	u := url.URL{Scheme: "postgres", Host: get("POSTGRES_HOST"), Path: "/" + get("POSTGRES_DB")}
	if p := get("POSTGRES_PORT"); p != "" {
		u.Host += ":" + p
	}
	if user := get("POSTGRES_USER"); user != "" {
		if pw := get("POSTGRES_PASSWORD"); pw != "" {
			u.User = url.UserPassword(user, pw)
		} else {
			u.User = url.User(user)
		}
	}
	if m := get("POSTGRES_SSLMODE"); m != "" {
		u.RawQuery = "sslmode=" + url.QueryEscape(m)
	}
	return u.String()
}
