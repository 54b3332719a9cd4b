package sweep_test

import (
	"context"
	"sync"
	"testing"

	"cloud.google.com/go/pubsub/v2"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/billing/stripetest"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/sweep"
)

// watched wraps the dead-letter subscription and the handler to catch an
// acknowledgement of a message whose last handling did not apply it.
type watched struct {
	sweep.DeadLetters
	handle func(ctx context.Context, payload []byte) error
	// check says what is wrong with acknowledging payload now ("" if
	// nothing).
	check func(payload string) string

	mu      sync.Mutex
	data    map[string]string // ack id → payload
	lastErr map[string]error  // payload → last handling's error
	bad     []string          // acknowledged while unapplied
}

func (w *watched) Pull(ctx context.Context, max int) ([]sweep.Received, error) {
	msgs, err := w.DeadLetters.Pull(ctx, max)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range msgs {
		w.data[m.AckID] = string(m.Data)
	}
	return msgs, err
}

func (w *watched) Ack(ctx context.Context, ackIDs []string) error {
	w.mu.Lock()
	for _, id := range ackIDs {
		if err := w.lastErr[w.data[id]]; err != nil && !fault.IsPermanent(err) {
			w.bad = append(w.bad, w.data[id][:min(60, len(w.data[id]))]+"…: "+err.Error())
		}
		if w.check != nil {
			if problem := w.check(w.data[id]); problem != "" {
				w.bad = append(w.bad, problem)
			}
		}
	}
	w.mu.Unlock()
	return w.DeadLetters.Ack(ctx, ackIDs)
}

func (w *watched) HandleEvent(ctx context.Context, payload []byte) error {
	err := w.handle(ctx, payload)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lastErr[string(payload)] = err
	return err
}

// A purchase and its refund both dead-lettered (the database was down
// while they came), the refund pulled first: the refund is kept (not
// acknowledged while its purchase is unknown) and applied once the
// purchase is credited, exactly once; the balance ends where it began.
func TestSweepKeepsARefundThatCameBeforeItsPurchase(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	svc, n, before, cs := paidCheckout(t, r, 4343, "pi_early")
	purchase := stripetest.Event(t, "evt_buy", billing.EventCheckoutCompleted, cs)
	refund := stripetest.Event(t, "evt_refund", billing.EventChargeRefunded, stripetest.Charge("ch_early", "pi_early", 500, 500, "usd"))
	pub := r.ps.Client.Publisher(r.dlTopic)
	defer pub.Stop()
	for _, ev := range [][]byte{refund, purchase} {
		if _, err := pub.Publish(ctx, &pubsub.Message{Data: ev}).Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
	refunds := func() int {
		var n int
		if err := r.db.Pool.QueryRow(ctx, `SELECT count(*) FROM credit_ledger WHERE user_id = $1 AND kind = $2`,
			r.user.ID, db.KindRefund).Scan(&n); err != nil {
			t.Error(err)
		}
		return n
	}
	w := &watched{DeadLetters: r.sweeper.Paid, handle: svc.HandleDeadLettered, data: map[string]string{}, lastErr: map[string]error{},
		check: func(payload string) string {
			if payload == string(refund) && refunds() == 0 {
				return "the refund was acknowledged before it was applied: it is lost"
			}
			return ""
		}}
	r.sweeper.Paid = w
	r.sweeper.HandleEvent = w.HandleEvent
	// Whether the refund comes back in this sweep or the next, two sweeps
	// apply both; later ones find nothing.
	credited := 0
	for range 3 {
		rep, err := r.sweeper.Run(ctx)
		if err != nil {
			t.Fatalf("sweep: %v", err)
		}
		credited += rep.Credited
	}
	if credited != 2 {
		t.Errorf("credited %d messages, want 2 (the purchase, then the refund)", credited)
	}
	w.mu.Lock()
	if len(w.bad) > 0 {
		t.Errorf("acknowledged while not applied: %q", w.bad)
	}
	if err := w.lastErr[string(refund)]; err != nil {
		t.Errorf("the refund's last handling: %v, want applied", err)
	}
	w.mu.Unlock()
	after, _ := db.UserByID(ctx, r.db.Pool, r.user.ID)
	if after.Balance != before.Balance {
		t.Errorf("balance %d → %d, want %d (bought 100, refunded 100)", before.Balance, after.Balance, before.Balance)
	}
	if n := refunds(); n != 1 {
		t.Errorf("%d refund entries in the ledger, want 1", n)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.sent) != 2 {
		t.Errorf("%d notices (%q), want 2 (credited, refunded)", len(n.sent), n.sent)
	}
}
