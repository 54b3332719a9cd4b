package functions

import (
	"context"
	"net/http"

	"github.com/devbot-hq/devbot/internal/billing"
)

// buildStripeWebhook is StripeWebhook: verify Stripe's signature, publish
// the raw event to the stripe-events topic, answer 2xx once the publish is
// confirmed. The work happens in StripeEvents.
func buildStripeWebhook(ctx context.Context, d *Deps) (http.Handler, error) {
	pub, err := d.Publisher(ctx, d.Config.TopicStripeEvents)
	if err != nil {
		return nil, err
	}
	return billing.WebhookHandler(d.Config.StripeWebhookSecret, pub, d.Logger), nil
}
