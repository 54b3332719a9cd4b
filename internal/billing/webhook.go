package billing

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"

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
// header, a signature that does not match or a stale timestamp answers 400
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
