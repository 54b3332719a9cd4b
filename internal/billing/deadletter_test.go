package billing_test

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/billing/stripetest"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/fault"
)

// TestHandleDeadLettered: what the last chance acknowledges (nil) and what
// it keeps (an error).
func TestHandleDeadLettered(t *testing.T) {
	t.Parallel()
	t.Run("a paid event is credited once, whichever path applies it", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		ctx := ctxT(t)
		ev := stripetest.Event(t, "evt_dl", billing.EventCheckoutCompleted, f.stripe.Pay(f.buy(t, 7201, 0).ID, "pi_dl", true))
		for range 2 {
			if err := f.svc.HandleDeadLettered(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.svc.HandleEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if got := f.balance(t, f.user.ID).Balance; got != welcome+100 {
			t.Errorf("balance = %d, want %d", got, welcome+100)
		}
		if n := len(f.notes.sent()); n != 1 {
			t.Errorf("%d notices, want 1", n)
		}
	})
	t.Run("the notice is owed: kept until Telegram takes it", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		ctx := ctxT(t)
		ev := stripetest.Event(t, "evt_dln", billing.EventCheckoutCompleted, f.stripe.Pay(f.buy(t, 7202, 0).ID, "pi_dln", true))
		f.notes.failNext(errTelegramDown)
		if err := f.svc.HandleDeadLettered(ctx, ev); err == nil || fault.IsPermanent(err) {
			t.Fatalf("err = %v, want a retryable error (the notice is not sent)", err)
		}
		if err := f.svc.HandleDeadLettered(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if got := f.balance(t, f.user.ID).Balance; got != welcome+100 {
			t.Errorf("balance = %d, want %d", got, welcome+100)
		}
		if n := len(f.notes.sent()); n != 1 {
			t.Errorf("%d notices, want 1", n)
		}
	})
	t.Run("a refund whose purchase is unknown is deferred (kept), not recorded", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		ctx := ctxT(t)
		cs := f.stripe.Pay(f.buy(t, 7203, 0).ID, "pi_dlr", true)
		refund := stripetest.Event(t, "evt_dlr", billing.EventChargeRefunded, stripetest.Charge("ch_dlr", "pi_dlr", 500, 500, "usd"))
		if err := f.svc.HandleDeadLettered(ctx, refund); !errors.Is(err, billing.ErrDeferred) || !fault.IsRetryable(err) {
			t.Fatalf("err = %v, want a retryable ErrDeferred (the message is kept, not acknowledged)", err)
		}
		if _, found, err := db.LookupProcessed(ctx, f.db.Pool, billing.Consumer, "evt_dlr"); err != nil || found {
			t.Fatalf("the given-up refund is in the inbox (found=%v, %v): a later replay could not apply it", found, err)
		}
		// Replayed once the purchase is credited, it applies.
		if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_dlp", billing.EventCheckoutCompleted, cs)); err != nil {
			t.Fatal(err)
		}
		for range 2 { // the kept message comes back, and may come twice
			if err := f.svc.HandleDeadLettered(ctx, refund); err != nil {
				t.Fatal(err)
			}
		}
		if got := f.balance(t, f.user.ID).Balance; got != welcome {
			t.Errorf("balance = %d, want %d (bought, then refunded)", got, welcome)
		}
	})
	t.Run("a permanent rejection is acknowledged", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		ctx := ctxT(t)
		ev := stripetest.Event(t, "evt_dlx", billing.EventCheckoutCompleted, map[string]any{"id": "cs_not_ours",
			"object": "checkout.session", "mode": "payment", "payment_status": "paid", "client_reference_id": itoa(f.user.ID),
			"amount_total": 500, "currency": "usd"})
		if err := f.svc.HandleDeadLettered(ctx, ev); err != nil {
			t.Errorf("err = %v, want nil", err)
		}
		p, found, err := db.LookupProcessed(ctx, f.db.Pool, billing.Consumer, "evt_dlx")
		if err != nil || !found || p.Outcome != db.OutcomeRejected {
			t.Errorf("inbox = %+v found=%v err=%v, want the rejection recorded", p, found, err)
		}
	})
	t.Run("the database is down: kept", func(t *testing.T) {
		t.Parallel()
		d := dbtest.New(t)
		svc, err := billing.New(billing.Config{Packs: testPacks, Logger: slog.New(slog.DiscardHandler)}, d, nil, &recorder{})
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
		ev := stripetest.Event(t, "evt_dld", billing.EventCheckoutCompleted, map[string]any{"id": "cs_dld",
			"object": "checkout.session", "mode": "payment", "payment_status": "paid", "client_reference_id": "1",
			"amount_total": 500, "currency": "usd"})
		if err := svc.HandleDeadLettered(ctxT(t), ev); err == nil || fault.IsPermanent(err) {
			t.Errorf("err = %v, want a retryable error", err)
		}
	})
}
