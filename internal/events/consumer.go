package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/logging"
)

// MaxBodyBytes bounds a delivery: a Pub/Sub message is at most 10 MB, which
// base64 in a JSON envelope turns into about 13.4 MB.
const MaxBodyBytes = 16 << 20

// Consumer serves one push subscription or Eventarc trigger. It decodes the
// delivery, runs Handle under a deadline with a logger that names the
// message, and turns the result into an ack or a nack (see the package
// comment).
type Consumer struct {
	// Name identifies the consumer in logs and in the inbox.
	Name string
	// Handle does the work. nil acks; a permanent error acks and is
	// recorded; anything else is redelivered.
	Handle func(ctx context.Context, m Message) error
	// GiveUp runs when Handle fails on the last delivery attempt, or when
	// the message arrives from the dead-letter topic (DeadLetterHandler): it
	// fails the job, releases reserved credits and tells the user. It may
	// run more than once for one message and must be idempotent (db.FailJob
	// is). nil: the message is left to the dead-letter policy.
	GiveUp func(ctx context.Context, m Message, cause error) error
	// MaxAttempts is the subscription's max_delivery_attempts. 0 disables
	// giving up here (the dead-letter policy ends the loop).
	MaxAttempts int
	// Timeout bounds one invocation; keep it below the subscription's ack
	// deadline. 0: no deadline beyond the request's.
	Timeout time.Duration
	Logger  *slog.Logger
	// Auth, when set, requires a valid OIDC token from the push service
	// account.
	Auth *PushAuth
	// DB, when set, records permanent rejections and give-ups in the inbox
	// (processed_messages) under the consumer's name and the key
	// "message/<id>", unless the handler's Inbox already recorded them.
	DB *db.DB
}

// Result is what a delivery came to.
type Result string

// Results, as logged and as written in the response body.
const (
	Acked     Result = "acked"
	Rejected  Result = "rejected"   // permanent error: acked and recorded
	GaveUp    Result = "gave-up"    // last attempt: GiveUp ran, acked
	Retry     Result = "retry"      // nack: redelivered
	Malformed Result = "malformed"  // 400
	Denied    Result = "denied"     // 401/403
	NotPosted Result = "not-posted" // 405
)

// ServeHTTP implements the ack/retry rule.
func (c *Consumer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.serve(w, r, c.handle)
}

// DeadLetterHandler serves a push subscription on the dead-letter topic:
// every message there failed all its attempts without the consumer giving up
// (the attempt was unknown, GiveUp failed, or the process died), so it calls
// GiveUp and acks. A GiveUp error is a nack: the dead-letter subscription
// retries.
func (c *Consumer) DeadLetterHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.serve(w, r, func(ctx context.Context, m Message) (Result, error) {
			if c.GiveUp == nil {
				c.logger().WarnContext(ctx, "dead-lettered message and no GiveUp; acked")
				return Acked, nil
			}
			cause := fmt.Errorf("%w after %s delivery attempts on %s", ErrDeadLettered,
				orUnknown(m.Attributes["CloudPubSubDeadLetterSourceDeliveryCount"]),
				orUnknown(m.Attributes["CloudPubSubDeadLetterSourceSubscription"]))
			if err := c.callGiveUp(ctx, m, cause); err != nil {
				return Retry, err
			}
			return GaveUp, cause
		})
	})
}

// ErrDeadLettered is the cause given to GiveUp for a dead-lettered message.
var ErrDeadLettered = errors.New("dead-lettered")

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func (c *Consumer) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c *Consumer) serve(w http.ResponseWriter, r *http.Request, handle func(context.Context, Message) (Result, error)) {
	ctx := logging.With(r.Context(), slog.String("consumer", c.Name))
	log := c.logger()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		log.WarnContext(ctx, "delivery refused", "result", NotPosted, "method", r.Method)
		http.Error(w, "POST a Pub/Sub push request or a CloudEvent", http.StatusMethodNotAllowed)
		return
	}
	if c.Auth != nil {
		if err := c.Auth.Verify(ctx, r); err != nil {
			code := http.StatusUnauthorized
			if errors.Is(err, ErrForbidden) {
				code = http.StatusForbidden
			}
			log.WarnContext(ctx, "delivery refused", "result", Denied, "error", err.Error())
			http.Error(w, http.StatusText(code), code)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		code := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			code = http.StatusRequestEntityTooLarge
		}
		log.ErrorContext(ctx, "delivery unreadable", "result", Malformed, "error", err.Error())
		http.Error(w, "unreadable body", code)
		return
	}
	m, form, err := Decode(r.Header, body)
	if err != nil {
		log.ErrorContext(ctx, "delivery malformed", "result", Malformed, "error", err.Error(),
			"content_type", r.Header.Get("Content-Type"), "bytes", len(body))
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx = logging.With(ctx, slog.String("message_id", m.ID), slog.String("subscription", m.Subscription),
		slog.Int("delivery_attempt", m.DeliveryAttempt))
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	start := time.Now()
	res, err := handle(ctx, m)
	attrs := []any{"result", res, "form", form, "duration_ms", time.Since(start).Milliseconds()}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	}
	switch res {
	case Acked:
		log.InfoContext(ctx, "delivery handled", attrs...)
		w.WriteHeader(http.StatusNoContent)
	case Rejected, GaveUp:
		log.WarnContext(ctx, "delivery handled", attrs...)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, string(res)+"\n")
	default:
		if d := fault.RetryAfterOf(err); d > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
		}
		log.WarnContext(ctx, "delivery failed; will be redelivered", attrs...)
		http.Error(w, "retry", http.StatusServiceUnavailable)
	}
}

// handle runs Handle and applies the rule.
func (c *Consumer) handle(ctx context.Context, m Message) (Result, error) {
	err := c.call(ctx, m, c.Handle)
	switch {
	case err == nil:
		return Acked, nil
	case fault.IsPermanent(err):
		c.record(ctx, m, db.OutcomeRejected, err)
		return Rejected, err
	case c.MaxAttempts > 0 && m.DeliveryAttempt >= c.MaxAttempts && c.GiveUp != nil:
		cause := fmt.Errorf("gave up after %d delivery attempts: %w", m.DeliveryAttempt, err)
		if gerr := c.callGiveUp(ctx, m, cause); gerr != nil {
			// Left to the dead-letter policy, and DeadLetterHandler.
			return Retry, fmt.Errorf("%w (and giving up failed: %w)", err, gerr)
		}
		return GaveUp, cause
	default:
		return Retry, err
	}
}

// GiveUpTimeout bounds GiveUp, which runs with a deadline of its own: the
// handler may have failed by using up the invocation's.
const GiveUpTimeout = 30 * time.Second

func (c *Consumer) callGiveUp(ctx context.Context, m Message, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), GiveUpTimeout)
	defer cancel()
	err := c.call(ctx, m, func(ctx context.Context, m Message) error { return c.GiveUp(ctx, m, cause) })
	if err == nil {
		c.record(ctx, m, db.OutcomeGaveUp, cause)
	}
	return err
}

// call runs fn, turning a panic into a retryable error after logging it
// with its stack.
func (c *Consumer) call(ctx context.Context, m Message, fn func(context.Context, Message) error) (err error) {
	if fn == nil {
		return fault.Permanentf("consumer %s has no handler", c.Name)
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			c.logger().ErrorContext(ctx, "panic in consumer", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = fault.AsRetryable(fmt.Errorf("panic: %v", v))
		}
	}()
	return fn(ctx, m)
}

// record writes the outcome in the inbox unless the handler's Inbox did. A
// failure to record is logged, not returned: the outcome itself stands.
func (c *Consumer) record(ctx context.Context, m Message, outcome string, cause error) {
	var rec *recordedError
	if c.DB == nil || errors.As(cause, &rec) {
		return
	}
	// A fresh context: the handler may have used up the deadline.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := db.MarkProcessed(rctx, c.DB.Pool, c.Name, MessageKey(m.ID), outcome, truncate(cause.Error(), 2000)); err != nil {
		c.logger().ErrorContext(ctx, "could not record the outcome", "outcome", outcome, "error", err.Error())
	}
}

// MessageKey is the inbox key under which the consumer records an outcome
// by message id. The prefix keeps it apart from handlers' own keys (update
// ids, job ids), which may be numbers like message ids.
func MessageKey(id string) string { return "message/" + id }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
