package functions

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/billing/stripetest"
)

// StripeWebhook built from the configuration publishes verified events to
// the stripe-events topic (here pstest) and nothing else.
func TestStripeWebhookPublishesVerifiedEvents(t *testing.T) {
	t.Parallel()
	srv := pstest.NewServer()
	defer srv.Close()
	const secret = "whsec_functions_test"
	cfg := pubsubDepsConfig(t, map[string]string{"PUBSUB_EMULATOR_HOST": srv.Addr, "STRIPE_WEBHOOK_SECRET": secret})
	d := NewDeps(cfg, slog.New(slog.DiscardHandler))
	defer d.Close()
	ctx := context.Background()
	c, err := d.PubSubClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pb.Topic{Name: "projects/devbot-test/topics/" + cfg.TopicStripeEvents}); err != nil {
		t.Fatal(err)
	}
	h, err := buildStripeWebhook(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	payload := stripetest.Event(t, "evt_fw", billing.EventChargeRefunded, stripetest.Charge("ch_1", "pi_1", 500, 500, "usd"))
	deliver := func(body []byte, secret string) int {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("Stripe-Signature", webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
			Payload: payload, Secret: secret, Timestamp: time.Now()}).Header)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if code := deliver(payload, secret); code != http.StatusOK {
		t.Fatalf("valid delivery: %d", code)
	}
	if code := deliver(payload, "whsec_other"); code != http.StatusBadRequest {
		t.Errorf("wrong secret: %d, want 400", code)
	}
	if code := deliver(append([]byte(" "), payload...), secret); code != http.StatusBadRequest {
		t.Errorf("tampered body: %d, want 400", code)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("topic holds %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if !bytes.Equal(m.Data, payload) || m.Attributes["event_id"] != "evt_fw" || m.Attributes["event_type"] != "charge.refunded" {
		t.Errorf("published %s %v", m.Data, m.Attributes)
	}
}
