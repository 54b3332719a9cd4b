package billing_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/billing/stripetest"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
)

// syncBuffer collects log lines written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type paymentRow struct {
	status       string
	paidAmount   *int64
	paidCurrency *string
}

func (f fixture) paymentRow(t *testing.T, session string) (paymentRow, bool) {
	t.Helper()
	var p paymentRow
	err := f.db.Pool.QueryRow(ctxT(t), `SELECT status, paid_amount, paid_currency FROM payments
		WHERE checkout_session_id = $1`, session).Scan(&p.status, &p.paidAmount, &p.paidCurrency)
	if err != nil {
		if strings.Contains(err.Error(), "no rows") {
			return p, false
		}
		t.Errorf("reading payment %s: %v", session, err)
	}
	return p, true
}

// TestCreditsComeFromThePaymentRow: the credits are what /buy recorded, and
// only when Stripe says that exactly its amount and currency were paid; the
// event's metadata decides nothing.
func TestCreditsComeFromThePaymentRow(t *testing.T) {
	t.Parallel()
	t.Run("1-cent session whose metadata claims 5000 credits", func(t *testing.T) {
		t.Parallel()
		logs := &syncBuffer{}
		f := setup(t, options{log: logs})
		ctx := ctxT(t)
		cs := f.stripe.Pay(f.buy(t, 7101, 0).ID, "pi_cent", true) // pack 0: 100 credits for $5.00
		cs.AmountTotal, cs.Metadata["credits"] = 1, "5000"
		if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_cent", billing.EventCheckoutCompleted, cs)); err != nil {
			t.Fatalf("a mismatch is an outcome to record, not an error: %v", err)
		}
		if got := f.balance(t, f.user.ID).Balance; got != welcome {
			t.Errorf("balance = %d after paying 1 cent, want %d (nothing credited)", got, welcome)
		}
		if n, _ := purchases(f.ledger(t, f.user.ID)); n != 0 {
			t.Errorf("%d purchase entries, want none", n)
		}
		row, _ := f.paymentRow(t, cs.ID)
		if row.status != db.PaymentMismatch || row.paidAmount == nil || *row.paidAmount != 1 ||
			row.paidCurrency == nil || *row.paidCurrency != "usd" {
			t.Errorf("payment row = %+v, want status %q with what was paid (1 usd)", row, db.PaymentMismatch)
		}
		if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, cs.ID) ||
			!strings.Contains(l, "does not match") {
			t.Errorf("no operator log naming the session and the mismatch:\n%s", l)
		}
		// A redelivery and the sibling event change nothing either.
		for _, id := range []string{"evt_cent", "evt_cent_async"} {
			typ := map[string]string{"evt_cent": billing.EventCheckoutCompleted, "evt_cent_async": billing.EventAsyncPaymentSucceeded}[id]
			if err := f.svc.HandleEvent(ctx, stripetest.Event(t, id, typ, cs)); err != nil {
				t.Fatal(err)
			}
		}
		// A refund of the 1 cent takes back nothing: nothing was credited.
		if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_cent_refund", billing.EventChargeRefunded,
			stripetest.Charge("ch_cent", "pi_cent", 1, 1, "usd"))); err != nil {
			t.Fatal(err)
		}
		if got := f.balance(t, f.user.ID).Balance; got != welcome {
			t.Errorf("balance = %d after the redeliveries and the refund, want %d", got, welcome)
		}
		if notes := f.notes.sent(); len(notes) != 1 || !strings.Contains(notes[0].HTML, "no credits were added") {
			t.Errorf("notices = %+v, want one saying no credits were added", notes)
		}
	})
	t.Run("right amount in another currency", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		ctx := ctxT(t)
		cs := f.stripe.Pay(f.buy(t, 7102, 0).ID, "pi_eur", true)
		cs.Currency = "eur"
		if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_eur", billing.EventCheckoutCompleted, cs)); err != nil {
			t.Fatal(err)
		}
		if got := f.balance(t, f.user.ID).Balance; got != welcome {
			t.Errorf("balance = %d, want %d", got, welcome)
		}
		if row, _ := f.paymentRow(t, cs.ID); row.status != db.PaymentMismatch {
			t.Errorf("payment status = %q, want %q", row.status, db.PaymentMismatch)
		}
	})
	t.Run("paid in the customer's currency (Adaptive Pricing)", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		ctx := ctxT(t)
		id := f.buy(t, 7104, 0).ID // 100 credits for $5.00
		converted := func(source int64) map[string]any {
			return map[string]any{"id": id, "object": "checkout.session", "mode": "payment", "payment_status": "paid",
				"client_reference_id": itoa(f.user.ID), "amount_total": 463, "currency": "eur", "payment_intent": "pi_fx",
				"currency_conversion": map[string]any{"amount_subtotal": source, "amount_total": source,
					"fx_rate": "0.926", "source_currency": "usd"}}
		}
		if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_fx", billing.EventCheckoutCompleted, converted(500))); err != nil {
			t.Fatal(err)
		}
		if got := f.balance(t, f.user.ID).Balance; got != welcome+100 {
			t.Errorf("balance = %d, want %d ($5.00 paid as 4.63 EUR)", got, welcome+100)
		}
		row, _ := f.paymentRow(t, id)
		if row.status != db.PaymentPaid || row.paidAmount == nil || *row.paidAmount != 463 || *row.paidCurrency != "eur" {
			t.Errorf("payment row = %+v, want paid, with the customer's 463 eur recorded", row)
		}
	})
	t.Run("converted, but not from the recorded amount", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		ctx := ctxT(t)
		id := f.buy(t, 7105, 0).ID
		cs := map[string]any{"id": id, "object": "checkout.session", "mode": "payment", "payment_status": "paid",
			"client_reference_id": itoa(f.user.ID), "amount_total": 500, "currency": "usd", "payment_intent": "pi_fx2",
			"currency_conversion": map[string]any{"amount_total": 1, "fx_rate": "500", "source_currency": "usd"}}
		if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_fx2", billing.EventCheckoutCompleted, cs)); err != nil {
			t.Fatal(err)
		}
		if got := f.balance(t, f.user.ID).Balance; got != welcome {
			t.Errorf("balance = %d, want %d", got, welcome)
		}
		if row, _ := f.paymentRow(t, id); row.status != db.PaymentMismatch {
			t.Errorf("payment status = %q, want %q", row.status, db.PaymentMismatch)
		}
	})
	t.Run("1-cent session not started by /buy", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		ctx := ctxT(t)
		cs := map[string]any{"id": "cs_forged", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
			"client_reference_id": itoa(f.user.ID), "metadata": map[string]string{"user_id": itoa(f.user.ID), "credits": "5000"},
			"amount_total": 1, "currency": "usd", "payment_intent": "pi_forged"}
		err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_forged", billing.EventCheckoutCompleted, cs))
		if !fault.IsPermanent(err) {
			t.Errorf("err = %v, want a permanent rejection", err)
		}
		if got := f.balance(t, f.user.ID).Balance; got != welcome {
			t.Errorf("balance = %d, want %d (nothing credited)", got, welcome)
		}
		if _, found := f.paymentRow(t, "cs_forged"); found {
			t.Error("the event created a payment row; only /buy may")
		}
	})
	t.Run("matching session whose metadata claims 5000 credits", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		ctx := ctxT(t)
		cs := f.stripe.Pay(f.buy(t, 7103, 0).ID, "pi_ok", true)
		cs.Metadata["credits"] = "5000"
		if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_ok", billing.EventCheckoutCompleted, cs)); err != nil {
			t.Fatal(err)
		}
		if got := f.balance(t, f.user.ID).Balance; got != welcome+100 {
			t.Errorf("balance = %d, want %d (the row's 100 credits)", got, welcome+100)
		}
		row, _ := f.paymentRow(t, cs.ID)
		if row.status != db.PaymentPaid || row.paidAmount == nil || *row.paidAmount != 500 {
			t.Errorf("payment row = %+v, want paid with 500 recorded", row)
		}
		// A refund of 40% takes back 40% of the row's credits (the refund
		// event carries no metadata; the share is of what was credited).
		if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_ok_refund", billing.EventChargeRefunded,
			stripetest.Charge("ch_ok", "pi_ok", 500, 200, "usd"))); err != nil {
			t.Fatal(err)
		}
		if got := f.balance(t, f.user.ID).Balance; got != welcome+60 {
			t.Errorf("balance after a 40%% refund = %d, want %d", got, welcome+60)
		}
	})
}
