package sweep_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/pubsub/v2"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/billing/stripetest"
	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/db"
)

type notices struct {
	mu   sync.Mutex
	sent []string
}

func (n *notices) Notify(ctx context.Context, chatID int64, html string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, html)
	return nil
}

// A paid checkout whose event was dead-lettered (twice: Pub/Sub may
// dead-letter a duplicate too) is credited once by the sweeper, through
// the billing service's own handler, and the user told once.
func TestSweepCreditsADeadLetteredPaymentOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	svc, n, before, cs := paidCheckout(t, r, 4242, "pi_1")
	ev := stripetest.Event(t, "evt_dead", billing.EventCheckoutCompleted, cs)
	pub := r.ps.Client.Publisher(r.dlTopic)
	defer pub.Stop()
	for range 2 {
		if _, err := pub.Publish(ctx, &pubsub.Message{Data: ev}).Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r.sweeper.HandleEvent = svc.HandleDeadLettered
	if rep := r.run(t); rep.Credited != 2 {
		t.Errorf("applied %d messages, want 2 (one credit, one duplicate found in the inbox)", rep.Credited)
	}
	if rep := r.run(t); rep.Credited != 0 {
		t.Errorf("a later sweep applied %d more", rep.Credited)
	}
	after, _ := db.UserByID(ctx, r.db.Pool, r.user.ID)
	if after.Balance != before.Balance+100 {
		t.Errorf("balance %d → %d, want +100 once", before.Balance, after.Balance)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.sent) != 1 {
		t.Errorf("%d notices (%q), want 1", len(n.sent), n.sent)
	}
}

// paidCheckout is a real billing service on r's database (with the fake
// Stripe and notices it tells) and a checkout of 100 credits that r's user
// started at /buy (update updateID) and paid (payment intent intent): the
// service, its notices, the user before the payment, and the session.
func paidCheckout(t *testing.T, r *rig, updateID int64, intent string) (*billing.Service, *notices, db.User, stripetest.Session) {
	t.Helper()
	ctx := context.Background()
	fake := stripetest.New(t)
	n := &notices{}
	svc, err := billing.New(billing.Config{Packs: []config.CreditPack{{Credits: 100, Amount: 500, Currency: "usd"}},
		SuccessURL: "https://t.me/x", CancelURL: "https://t.me/x", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		r.db, fake.Client("sk_test_devbot"), n)
	if err != nil {
		t.Fatal(err)
	}
	before, err := db.UserByID(ctx, r.db.Pool, r.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Buy(ctx, billing.BuyRequest{UserID: r.user.ID, ChatID: chat, UpdateID: updateID, Pack: 0})
	if err != nil {
		t.Fatal(err)
	}
	return svc, n, before, fake.Pay(res.CheckoutURL[strings.LastIndex(res.CheckoutURL, "/")+1:], intent, true)
}
