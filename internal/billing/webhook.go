package billing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/devbot-hq/devbot/internal/events"
)

// MaxWebhookBody caps the body the webhook reads: Stripe's sample's 64 KiB
// is too small for some real events.
const MaxWebhookBody = 1 << 20

// Attributes of a published Stripe event.
const (
	AttrEventID   = "event_id"
	AttrEventType = "event_type"
)

// publisher publishes a message and waits for the confirmation.
type publisher interface {
	Publish(ctx context.Context, m events.Outgoing) (string, error)
}

// WebhookHandler is StripeWebhook: it verifies the signature on the raw
// body, publishes the raw event (attributes event_id and event_type), and
// answers 200 only once the publish is confirmed. A missing or malformed
// header, a signature that does not match, a stale timestamp or one more
// than 5 minutes in the future answers 400
// with a reason that names the failed check (never the secret) and
// publishes nothing; a failed publish answers 503 so Stripe retries.
func WebhookHandler(secret string, pub publisher, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "StripeWebhook accepts POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				logger.WarnContext(ctx, "stripe webhook refused", "reason", "body too large")
				http.Error(w, "body larger than 1 MiB", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), secret,
			webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
		if err != nil {
			reason := verifyFailure(err)
			logger.WarnContext(ctx, "stripe webhook refused", "reason", reason)
			http.Error(w, reason, http.StatusBadRequest)
			return
		}
		if ahead := signedAhead(r.Header.Get("Stripe-Signature"), time.Now()); ahead > MaxFutureSkew {
			// stripe-go refuses only old timestamps: a signature dated far
			// ahead would stay inside the tolerance, and replayable, for as
			// long as it is ahead.
			reason := fmt.Sprintf("future timestamp: the signature is dated %s ahead, more than the %s allowed for clock skew (a wrong clock or a forged date)",
				ahead.Round(time.Second), MaxFutureSkew)
			logger.WarnContext(ctx, "stripe webhook refused", "reason", "future timestamp", "ahead_s", int64(ahead.Seconds()))
			http.Error(w, reason, http.StatusBadRequest)
			return
		}
		if ev.ID == "" || ev.Type == "" {
			logger.WarnContext(ctx, "stripe webhook refused", "reason", "event without id or type")
			http.Error(w, "signed, but not a Stripe event (no id or type)", http.StatusBadRequest)
			return
		}
		log := logger.With("stripe_event", ev.ID, "event_type", string(ev.Type))
		id, err := pub.Publish(ctx, events.Outgoing{Data: body, Attributes: map[string]string{
			AttrEventID: ev.ID, AttrEventType: string(ev.Type),
		}})
		if err != nil {
			log.ErrorContext(ctx, "stripe event not published; Stripe will retry", "error", err.Error())
			http.Error(w, "could not queue the event; retry later", http.StatusServiceUnavailable)
			return
		}
		log.InfoContext(ctx, "stripe event published", "message_id", id)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"received":true}`)
	})
}

// MaxFutureSkew is how far ahead of our clock a signature's timestamp may
// be: the same 5 minutes Stripe's tolerance allows in the past.
const MaxFutureSkew = webhook.DefaultTolerance

// signedAhead is how far the Stripe-Signature header's timestamp is ahead of
// now (0 or less when it is not). It reads the header as stripe-go does (the
// last t= wins), and is called only once the signature verified, so the
// timestamp is the one that was signed.
func signedAhead(header string, now time.Time) time.Duration {
	var t int64
	for _, pair := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(pair, "t="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0 // stripe-go refused it already
			}
			t = n
		}
	}
	return time.Unix(t, 0).Sub(now)
}

// verifyFailure names the check that failed: most failures in the field are
// the wrong secret, and whoever reads the answer must see which check to fix.
func verifyFailure(err error) string {
	switch {
	case errors.Is(err, webhook.ErrNotSigned):
		return "missing Stripe-Signature header"
	case errors.Is(err, webhook.ErrInvalidHeader):
		return "malformed Stripe-Signature header (want t=<unix time>,v1=<hex signature>)"
	case errors.Is(err, webhook.ErrTooOld):
		return "stale timestamp: the signature is older than the 300 s tolerance (a replay, a late retry or a wrong clock)"
	case errors.Is(err, webhook.ErrNoValidSignature):
		return "no v1 signature matches: the body was altered or STRIPE_WEBHOOK_SECRET is not this endpoint's signing secret (test vs live, CLI vs Dashboard)"
	default:
		return "signed, but the body is not a Stripe event JSON"
	}
}
