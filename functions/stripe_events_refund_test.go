package functions

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/billing/stripetest"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/events/eventstest"
)

// A refund whose purchase is not credited yet is never acknowledged
// unapplied: its last delivery attempt is a nack (so Pub/Sub moves it to
// the dead-letter topic, not drops it), and so is the dead-letter push
// while the purchase is still unknown; once the purchase is credited the
// dead-letter push applies it, once.
func TestStripeEventsKeepsAnEarlyRefund(t *testing.T) {
	t.Parallel()
	r := newStripeRig(t, 78, "cs_test_early", 502)
	h, pool, u, ctx := r.h, r.pool, r.user, context.Background()
	user := strconv.FormatInt(u.ID, 10)
	purchase := stripetest.Event(t, "evt_early_buy", billing.EventCheckoutCompleted, map[string]any{
		"id": "cs_test_early", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
		"client_reference_id": user, "metadata": map[string]string{"user_id": user, "credits": "100"},
		"amount_total": 500, "currency": "usd", "payment_intent": "pi_early",
	})
	refund := stripetest.Event(t, "evt_early_refund", billing.EventChargeRefunded, stripetest.Charge("ch_early", "pi_early", 500, 500, "usd"))
	deliver := func(id string, data []byte, attempt int, path string) *httptest.ResponseRecorder {
		t.Helper()
		m := events.Message{ID: id, Data: data, DeliveryAttempt: attempt,
			Attributes: map[string]string{billing.AttrEventID: id, billing.AttrEventType: "x"}}
		req := eventstest.Wrapped(m)
		req.URL.Path = path
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	balance := func() int64 {
		t.Helper()
		after, err := db.UserByID(ctx, pool.Pool, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return after.Balance
	}
	// Its last attempt: nacked, so it goes to the dead-letter topic.
	if w := deliver("m_refund", refund, 5, "/"); w.Code != http.StatusServiceUnavailable {
		t.Errorf("last attempt of an early refund: %d %q, want 503 (nack: to the dead-letter topic)", w.Code, w.Body.String())
	}
	// Pushed from the dead-letter topic while the purchase is unknown: nacked.
	if w := deliver("m_refund", refund, 1, DeadLetterPath); w.Code != http.StatusServiceUnavailable {
		t.Errorf("dead-letter push of an early refund: %d %q, want 503 (kept for the push's retries)", w.Code, w.Body.String())
	}
	if w := deliver("m_buy", purchase, 1, "/"); w.Code/100 != 2 {
		t.Fatalf("purchase: %d %s", w.Code, w.Body.String())
	}
	if got := balance(); got != 120 {
		t.Fatalf("balance after the purchase = %d, want 120", got)
	}
	// The dead-letter push's retry applies it; a duplicate changes nothing.
	for range 2 {
		if w := deliver("m_refund", refund, 1, DeadLetterPath); w.Code/100 != 2 {
			t.Errorf("dead-letter push after the purchase: %d %q, want acknowledged", w.Code, w.Body.String())
		}
	}
	if got := balance(); got != 20 {
		t.Errorf("balance = %d, want 20 (bought 100, refunded 100)", got)
	}
}
