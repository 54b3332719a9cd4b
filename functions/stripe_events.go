package functions

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/events"
)

// buildStripeEvents is the StripeEvents consumer: every delivery form of
// the stripe-events subscription, decoded by events.Consumer, applied to
// the credit ledger by billing. Its dead-letter route (DeadLetterPath)
// applies what the dead-letter topic pushes through the same GiveUp.
func buildStripeEvents(ctx context.Context, d *Deps) (http.Handler, error) {
	svc, err := d.Billing(ctx)
	if err != nil {
		return nil, err
	}
	logger := d.Logger
	// The data is the raw event the webhook verified; verifying again here
	// would fail once a redelivery is more than 5 minutes late.
	handle := func(ctx context.Context, m events.Message) error { return svc.HandleEvent(ctx, m.Data) }
	// An event that failed every attempt is never acknowledged unapplied:
	// HandleDeadLettered applies it once more, and while it cannot (the
	// database is down) the error is a nack. On the last attempt the nack
	// sends the message to the dead-letter topic; from there the push to
	// /dead-letter retries until it applies, and the dead-letter pull
	// subscription keeps a copy for the sweeper and devbot replay. A refund
	// that came before its purchase (billing.ErrDeferred) is kept the same
	// way: acknowledging it would drop it for good, and the dead-letter
	// push's retries apply it once the purchase is credited.
	giveUp := func(ctx context.Context, m events.Message, cause error) error {
		err := svc.HandleDeadLettered(ctx, m.Data)
		if err == nil {
			return nil
		}
		next := "it goes to the dead-letter topic and is applied from there"
		if errors.Is(cause, events.ErrDeadLettered) {
			next = "the dead-letter push retries it; the dead-letter subscription keeps a copy for the sweeper and devbot replay"
		}
		if errors.Is(err, billing.ErrDeferred) {
			next = "a refund before its purchase; " + next
		}
		logger.WarnContext(ctx, "stripe event not applied yet: "+next,
			"stripe_event", m.Attributes[billing.AttrEventID], "event_type", m.Attributes[billing.AttrEventType],
			"error", err.Error())
		return fmt.Errorf("stripe event kept for another attempt: %w", err)
	}
	return d.consumer(ctx, billing.Consumer, handle, giveUp)
}
