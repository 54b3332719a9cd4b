package functions

import (
	"context"
	"net/http"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/events"
)

// buildStripeEvents is the StripeEvents consumer: every delivery form of
// the stripe-events subscription, decoded by events.Consumer, applied to
// the credit ledger by billing.
func buildStripeEvents(ctx context.Context, d *Deps) (http.Handler, error) {
	svc, err := d.Billing(ctx)
	if err != nil {
		return nil, err
	}
	logger := d.Logger
	// The data is the raw event the webhook verified; verifying again here
	// would fail once a redelivery is more than 5 minutes late.
	handle := func(ctx context.Context, m events.Message) error { return svc.HandleEvent(ctx, m.Data) }
	// An event that failed every attempt (a refund whose payment never
	// arrived, a database down for hours) needs a person: say so loudly.
	giveUp := func(ctx context.Context, m events.Message, cause error) error {
		logger.ErrorContext(ctx, "stripe event given up: reconcile it in the Stripe Dashboard",
			"stripe_event", m.Attributes[billing.AttrEventID], "event_type", m.Attributes[billing.AttrEventType],
			"error", cause.Error())
		return nil
	}
	return d.consumer(ctx, billing.Consumer, handle, giveUp)
}
