// Package llm is a client of any OpenAI-compatible chat completions
// endpoint (OpenRouter, Gemini's OpenAI-compatible API, a local server),
// built on github.com/openai/openai-go/v3.
//
// It retries 429 and 5xx answers itself, with bounded exponential backoff
// that honours Retry-After, and classifies what remains once: a rejected
// key or an unknown model is permanent and says so plainly; a rate limit
// or an outage is retryable. It records token usage and prices it from a
// configured table. It never logs the key or the messages.
package llm

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/fault"
)

// ErrNoKey means no key was configured and the user has none of their own:
// nothing was sent. It wraps fault.ErrUnauthorized's class (permanent).
var ErrNoKey = errors.New("no API key")

// Config configures a Client.
type Config struct {
	BaseURL    string
	APIKey     string // the operator's key; a call may override it
	Model      string
	Timeout    time.Duration // one attempt's deadline (default 120s)
	Prices     map[string]config.ModelPrice
	MaxRetries int // further attempts on 429, 5xx and network errors (default 3; negative: none)
	// MaxRetryDelay bounds one wait, including a server's Retry-After; a
	// server asking for longer gets a retryable error at once, so the job
	// is redelivered later instead of holding an instance (default 30s).
	MaxRetryDelay time.Duration
	// BaseDelay is the first backoff (default 1s), doubled per attempt.
	BaseDelay  time.Duration
	HTTPClient *http.Client
	// Sleep waits between attempts; tests replace it (default: a timer
	// that honours ctx).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Message is one chat message.
type Message struct {
	Role    string // "system", "user" or "assistant"
	Content string
}

// Reply is a completion and what it cost.
type Reply struct {
	Text             string
	PromptTokens     int
	CompletionTokens int
	CostUSD          float64
	Model            string // as the endpoint named it
	// FinishReason is the endpoint's: "stop", or "length" when the answer
	// was cut off (its Text is then incomplete), "content_filter", ...
	FinishReason string
	// Refusal is the model's refusal to answer, when the endpoint sent one
	// (structured outputs); Text is then usually empty.
	Refusal string
}

// ErrRefused is a structured answer the model refused to give (its
// message.refusal): permanent, since asking again gets the same refusal.
// It wraps fault.ErrInvalid's class.
var ErrRefused = errors.New("the model refused to answer")

// Format asks for an answer that is one JSON value matching Schema
// (OpenAI's structured outputs: response_format of type json_schema).
// Name is a-z, A-Z, 0-9, '_' and '-', at most 64 characters. With Strict,
// the endpoint enforces the schema, which must then follow strict mode's
// subset (every object has "additionalProperties": false and lists all
// its properties in "required"). Not every endpoint honours the format:
// validate the answer anyway, and expect it wrapped in a ```json fence.
type Format struct {
	Name   string
	Schema map[string]any
	Strict bool
}

var formatName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Client calls the endpoint.
type Client struct {
	cfg Config
}

// New returns a client for cfg.
func New(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 120 * time.Second
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 3
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.MaxRetryDelay <= 0 {
		cfg.MaxRetryDelay = 30 * time.Second
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = time.Second
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Client{cfg: cfg}
}

// Model returns the configured model name.
func (c *Client) Model() string { return c.cfg.Model }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Complete asks the model to continue messages. apiKey, when not empty,
// replaces the configured key (a user's own key).
func (c *Client) Complete(ctx context.Context, messages []Message, apiKey string) (Reply, error) {
	return c.complete(ctx, messages, apiKey, nil)
}

// CompleteJSON is Complete asking for a structured answer: the request
// carries response_format {"type":"json_schema","json_schema":{...}} from
// f. It retries, classifies and prices as Complete does. A refusal is a
// permanent error wrapping ErrRefused (the Reply still carries the usage);
// a malformed f is a permanent fault.ErrInvalid and nothing is sent. The
// answer's Text is not checked here: the caller parses and validates it
// (after stripping a ```json fence some endpoints add).
func (c *Client) CompleteJSON(ctx context.Context, messages []Message, apiKey string, f Format) (Reply, error) {
	if !formatName.MatchString(f.Name) {
		return Reply{}, fault.Permanentf("%w: the response format's name %q must be 1 to 64 of a-z, A-Z, 0-9, '_' and '-'", fault.ErrInvalid, f.Name)
	}
	if f.Schema == nil {
		return Reply{}, fault.Permanentf("%w: the response format %s has no schema", fault.ErrInvalid, f.Name)
	}
	return c.complete(ctx, messages, apiKey, &f)
}

// complete is Complete, with a response format when f is not nil.
func (c *Client) complete(ctx context.Context, messages []Message, apiKey string, f *Format) (Reply, error) {
	key := apiKey
	if key == "" {
		key = c.cfg.APIKey
	}
	if key == "" {
		// Callers say what to do in their own terms (the bot: /setkey; the
		// CLI: LLM_API_KEY).
		return Reply{}, fault.AsPermanent(fmt.Errorf("%w: %w for the model endpoint %s (LLM_API_KEY is not set, and no user key was given)",
			fault.ErrUnauthorized, ErrNoKey, c.cfg.BaseURL))
	}
	opts := []option.RequestOption{
		option.WithBaseURL(c.cfg.BaseURL + "/"),
		option.WithAPIKey(key),
		option.WithMaxRetries(0), // our loop: bounded, injectable, classified
		option.WithRequestTimeout(c.cfg.Timeout),
	}
	if c.cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(c.cfg.HTTPClient))
	}
	client := openai.NewClient(opts...)
	params := openai.ChatCompletionNewParams{Model: c.cfg.Model}
	for _, m := range messages {
		switch m.Role {
		case "system":
			params.Messages = append(params.Messages, openai.SystemMessage(m.Content))
		case "assistant":
			params.Messages = append(params.Messages, openai.AssistantMessage(m.Content))
		default:
			params.Messages = append(params.Messages, openai.UserMessage(m.Content))
		}
	}
	if f != nil {
		js := shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: f.Name, Schema: f.Schema}
		if f.Strict {
			js.Strict = openai.Bool(true)
		}
		params.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{JSONSchema: js},
		}
	}
	for attempt := 0; ; attempt++ {
		res, err := client.Chat.Completions.New(ctx, params)
		if err == nil {
			r, err := c.reply(res)
			if err == nil && f != nil && r.Refusal != "" && strings.TrimSpace(r.Text) == "" {
				err = fault.AsPermanent(fmt.Errorf("%w: %w: %s", fault.ErrInvalid, ErrRefused, truncate(r.Refusal, 300)))
			}
			return r, err
		}
		err = c.classify(ctx, err, key)
		if !fault.IsRetryable(err) || attempt >= c.cfg.MaxRetries || ctx.Err() != nil {
			return Reply{}, err
		}
		wait := c.backoff(attempt)
		if ra := fault.RetryAfterOf(err); ra > 0 {
			if ra > c.cfg.MaxRetryDelay {
				return Reply{}, err // the server asked for longer than we hold on
			}
			wait = ra
		}
		if serr := c.cfg.Sleep(ctx, wait); serr != nil {
			return Reply{}, fmt.Errorf("waiting to retry the model endpoint: %w (last error: %w)", serr, err)
		}
	}
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.BaseDelay << min(attempt, 10)
	d += time.Duration(rand.Int64N(int64(d)/4 + 1)) // jitter
	return min(d, c.cfg.MaxRetryDelay)
}

func (c *Client) reply(res *openai.ChatCompletion) (Reply, error) {
	r := Reply{
		PromptTokens:     int(res.Usage.PromptTokens),
		CompletionTokens: int(res.Usage.CompletionTokens),
		Model:            res.Model,
	}
	if r.Model == "" {
		r.Model = c.cfg.Model
	}
	r.CostUSD = c.Cost(r.Model, r.PromptTokens, r.CompletionTokens)
	if len(res.Choices) == 0 {
		return r, fault.Retryablef("the model endpoint returned no choices")
	}
	r.Text = res.Choices[0].Message.Content
	r.Refusal = res.Choices[0].Message.Refusal
	r.FinishReason = res.Choices[0].FinishReason
	return r, nil
}

// Cost prices tokens with the configured model's price, or the price of
// the model the endpoint reported (which may carry a date suffix); zero
// when neither is in the table.
func (c *Client) Cost(model string, prompt, completion int) float64 {
	p, ok := c.cfg.Prices[c.cfg.Model]
	if !ok {
		p, ok = c.cfg.Prices[model]
	}
	if !ok {
		return 0
	}
	return float64(prompt)/1e6*p.InputPerMillion + float64(completion)/1e6*p.OutputPerMillion
}

// classify turns what openai-go returned into a classified error in plain
// words. The key is never part of it: the endpoint's own message (which
// some servers write with the key they refused in it) is kept only
// redacted (see redact), and the rest of its body never.
func (c *Client) classify(ctx context.Context, err error, key string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("calling the model endpoint: %w", ctx.Err())
	}
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		// Network errors, timeouts of one attempt: worth another try. The
		// text of a decoding error may quote the body: redact it too.
		return fault.AsRetryable(fmt.Errorf("%w: calling the model endpoint %s: %s", fault.ErrUnavailable,
			c.cfg.BaseURL, truncate(redact(err.Error(), key), 300)))
	}
	detail := ""
	if msg := strings.TrimSpace(redact(apiErr.Message, key)); msg != "" {
		detail = ": " + truncate(msg, 300)
	}
	switch code := apiErr.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fault.AsPermanent(fmt.Errorf("%w: the model endpoint rejected the API key (HTTP %d)%s", fault.ErrUnauthorized, code, detail))
	case code == http.StatusNotFound:
		return fault.AsPermanent(fmt.Errorf("%w: the model %s does not exist at %s (HTTP 404)%s", fault.ErrUnauthorized, c.cfg.Model, c.cfg.BaseURL, detail))
	case code == http.StatusPaymentRequired:
		return fault.AsPermanent(fmt.Errorf("%w: the model endpoint refused for lack of credit on the API key (HTTP 402)%s", fault.ErrInsufficient, detail))
	case code == http.StatusTooManyRequests:
		e := fmt.Errorf("%w: the model endpoint is rate limiting (HTTP 429)%s", fault.ErrRateLimited, detail)
		return fault.RetryAfter(e, retryAfter(apiErr.Response))
	case code >= 500 || code == http.StatusRequestTimeout || code == http.StatusConflict:
		e := fmt.Errorf("%w: the model endpoint failed (HTTP %d)%s", fault.ErrUnavailable, code, detail)
		return fault.RetryAfter(e, retryAfter(apiErr.Response))
	default:
		return fault.AsPermanent(fmt.Errorf("%w: the model endpoint refused the request (HTTP %d)%s", fault.ErrInvalid, code, detail))
	}
}

// retryAfter reads Retry-After-Ms, or Retry-After in seconds or as an HTTP
// date; zero when absent or unreadable.
func retryAfter(res *http.Response) time.Duration {
	if res == nil {
		return 0
	}
	if ms, err := strconv.ParseFloat(res.Header.Get("Retry-After-Ms"), 64); err == nil && ms > 0 {
		return time.Duration(ms * float64(time.Millisecond))
	}
	v := res.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// credential matches what looks like a credential in an endpoint's
// message: a bearer token, and the usual key shapes (OpenAI and OpenRouter
// sk-..., Google AIza...). A message may name another key than the one sent
// (a proxy's own, an organisation's).
var credential = regexp.MustCompile(`(?i)\bbearer\s+[^\s"',;]+|\b(?:sk|rk|pk)-[A-Za-z0-9_-]{12,}|\bAIza[0-9A-Za-z_-]{20,}`)

// redact removes key, and anything shaped like a credential, from an
// endpoint's message. It runs before any truncation, which could otherwise
// cut a key and leave its start.
func redact(s, key string) string {
	if key != "" {
		s = strings.ReplaceAll(s, key, "[redacted]")
	}
	return credential.ReplaceAllString(s, "[redacted]")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
