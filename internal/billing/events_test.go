package billing_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/billing/stripetest"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
)

func purchases(es []db.LedgerEntry) (n int, sum int64) {
	for _, e := range es {
		if e.Kind == db.KindPurchase {
			n++
			sum += e.Amount
		}
	}
	return n, sum
}

func TestPaidSessionCreditsOnceWhateverTheDeliveries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		events func(cs stripetest.Session) [][]byte
	}{
		{"one event delivered three times", func(cs stripetest.Session) [][]byte {
			ev := stripetest.Event(t, "evt_1", billing.EventCheckoutCompleted, cs)
			return [][]byte{ev, ev, ev}
		}},
		{"completed and async succeeded about one session", func(cs stripetest.Session) [][]byte {
			return [][]byte{
				stripetest.Event(t, "evt_a", billing.EventCheckoutCompleted, cs),
				stripetest.Event(t, "evt_b", billing.EventAsyncPaymentSucceeded, cs),
			}
		}},
		{"async succeeded overtakes completed", func(cs stripetest.Session) [][]byte {
			return [][]byte{
				stripetest.Event(t, "evt_b", billing.EventAsyncPaymentSucceeded, cs),
				stripetest.Event(t, "evt_a", billing.EventCheckoutCompleted, cs),
				stripetest.Event(t, "evt_b", billing.EventAsyncPaymentSucceeded, cs),
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			ctx := ctxT(t)
			cs := f.buy(t, 7001, 0)
			paid := f.stripe.Pay(cs.ID, "pi_1", true)
			for i, ev := range tc.events(paid) {
				if err := f.svc.HandleEvent(ctx, ev); err != nil {
					t.Fatalf("delivery %d: %v", i+1, err)
				}
			}
			if got := f.balance(t, f.user.ID).Balance; got != welcome+100 {
				t.Errorf("balance = %d, want %d", got, welcome+100)
			}
			if n, sum := purchases(f.ledger(t, f.user.ID)); n != 1 || sum != 100 {
				t.Errorf("purchase entries = %d summing %d, want 1 of 100", n, sum)
			}
			notes := f.notes.sent()
			if len(notes) != 1 || notes[0].ChatID != f.user.ChatID || !strings.Contains(notes[0].HTML, "100 credits added") {
				t.Errorf("notices = %+v, want one about 100 credits to chat %d", notes, f.user.ChatID)
			}
		})
	}
}

func TestConcurrentDeliveriesCreditOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := ctxT(t)
	cs := f.stripe.Pay(f.buy(t, 7002, 1).ID, "pi_2", true)
	evs := [][]byte{
		stripetest.Event(t, "evt_c1", billing.EventCheckoutCompleted, cs),
		stripetest.Event(t, "evt_c2", billing.EventAsyncPaymentSucceeded, cs),
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() { errs <- f.svc.HandleEvent(ctx, evs[i%3%2]) }) // more duplicates of the first
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := f.balance(t, f.user.ID).Balance; got != welcome+500 {
		t.Errorf("balance = %d, want %d", got, welcome+500)
	}
	if n := len(f.notes.sent()); n != 1 {
		t.Errorf("%d notices for concurrent deliveries, want 1", n)
	}
}

func TestUnpaidSessionWaitsForAsyncResult(t *testing.T) {
	t.Parallel()
	for _, succeed := range []bool{true, false} {
		name := map[bool]string{true: "succeeded", false: "failed"}[succeed]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			ctx := ctxT(t)
			cs := f.stripe.Pay(f.buy(t, 7003, 0).ID, "pi_3", false)
			if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_w1", billing.EventCheckoutCompleted, cs)); err != nil {
				t.Fatal(err)
			}
			if got := f.balance(t, f.user.ID).Balance; got != welcome {
				t.Fatalf("balance after unpaid completion = %d, want %d (nothing yet)", got, welcome)
			}
			typ, wantBalance, wantStatus, wantNote := billing.EventAsyncPaymentFailed, int64(welcome), db.PaymentFailed, "did not go through"
			if succeed {
				cs.PaymentStatus = "paid"
				typ, wantBalance, wantStatus, wantNote = billing.EventAsyncPaymentSucceeded, welcome+100, db.PaymentPaid, "100 credits added"
			}
			for range 2 {
				if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_w2", typ, cs)); err != nil {
					t.Fatal(err)
				}
			}
			if got := f.balance(t, f.user.ID).Balance; got != wantBalance {
				t.Errorf("balance = %d, want %d", got, wantBalance)
			}
			var status string
			if err := f.db.Pool.QueryRow(ctx, `SELECT status FROM payments WHERE checkout_session_id = $1`, cs.ID).Scan(&status); err != nil {
				t.Fatal(err)
			}
			if status != wantStatus {
				t.Errorf("payment status = %q, want %q", status, wantStatus)
			}
			notes := f.notes.sent()
			if len(notes) != 2 || !strings.Contains(notes[0].HTML, "started") || !strings.Contains(notes[1].HTML, wantNote) {
				t.Errorf("notices = %+v, want 'started' then %q", notes, wantNote)
			}
		})
	}
}

func TestRefundTakesBackWhatThePaymentBought(t *testing.T) {
	t.Parallel()
	type step struct {
		refunded        int64 // cumulative amount_refunded
		wantBalance     int64
		wantUnrecovered int64
	}
	cases := []struct {
		name  string
		spend int64 // credits spent before the refund
		hold  int64 // credits held for a running job
		steps []step
		final string
	}{
		{"full refund", 0, 0, []step{{500, welcome, 0}}, db.PaymentRefunded},
		{"two partial refunds, cumulative", 0, 0, []step{{100, welcome + 80, 0}, {250, welcome + 50, 0}, {250, welcome + 50, 0}}, db.PaymentPartiallyRefunded},
		{"partial then full", 0, 0, []step{{125, welcome + 75, 0}, {500, welcome, 0}}, db.PaymentRefunded},
		{"credits already spent", 110, 0, []step{{500, 0, 90}}, db.PaymentRefunded},
		{"held credits are not taken", 10, 15, []step{{500, 15, 5}}, db.PaymentRefunded},
		{"an older event after a newer one changes nothing", 0, 0, []step{{400, welcome + 20, 0}, {200, welcome + 20, 0}}, db.PaymentPartiallyRefunded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			ctx := ctxT(t)
			cs := f.stripe.Pay(f.buy(t, 7004, 0).ID, "pi_r", true)
			if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_paid", billing.EventCheckoutCompleted, cs)); err != nil {
				t.Fatal(err)
			}
			if tc.spend > 0 {
				if _, err := db.AddLedgerEntry(ctx, f.db.Pool, db.LedgerEntry{UserID: f.user.ID, Amount: -tc.spend,
					Kind: db.KindRefine, Cause: "refine:test", Description: "refine main.go"}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.hold > 0 {
				holdCredits(t, f, tc.hold)
			}
			for i, s := range tc.steps {
				ev := stripetest.Event(t, "evt_refund_"+string(rune('a'+i)), billing.EventChargeRefunded,
					stripetest.Charge("ch_1", "pi_r", 500, s.refunded, "usd"))
				if err := f.svc.HandleEvent(ctx, ev); err != nil {
					t.Fatalf("step %d: %v", i+1, err)
				}
				u := f.balance(t, f.user.ID)
				var unrecovered int64
				if err := f.db.Pool.QueryRow(ctx, `SELECT unrecovered_credits FROM payments WHERE payment_intent_id = 'pi_r'`).Scan(&unrecovered); err != nil {
					t.Fatal(err)
				}
				if u.Balance != s.wantBalance || unrecovered != s.wantUnrecovered {
					t.Errorf("step %d (refunded %d): balance %d unrecovered %d, want %d and %d",
						i+1, s.refunded, u.Balance, unrecovered, s.wantBalance, s.wantUnrecovered)
				}
				if u.Held > u.Balance {
					t.Errorf("held %d > balance %d", u.Held, u.Balance)
				}
			}
			var status string
			var refundedCredits int64
			if err := f.db.Pool.QueryRow(ctx, `SELECT status, refunded_credits FROM payments WHERE payment_intent_id = 'pi_r'`).Scan(&status, &refundedCredits); err != nil {
				t.Fatal(err)
			}
			if status != tc.final {
				t.Errorf("payment status %q, want %q", status, tc.final)
			}
			var ledgerRefunds int64
			for _, e := range f.ledger(t, f.user.ID) {
				if e.Kind == db.KindRefund {
					ledgerRefunds -= e.Amount
					if e.PaymentID == nil {
						t.Errorf("refund entry %s names no payment", e.Cause)
					}
				}
			}
			if ledgerRefunds != refundedCredits {
				t.Errorf("ledger refunds %d, payment says %d", ledgerRefunds, refundedCredits)
			}
		})
	}
}

// holdCredits holds n credits for a queued refinement job.
func holdCredits(t *testing.T, f fixture, n int64) {
	t.Helper()
	ctx := ctxT(t)
	p, err := db.CreateProject(ctx, f.db.Pool, f.user.ID, "api")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateJob(ctx, f.db.Pool, db.NewJob{UserID: f.user.ID, ProjectID: p.ID, Path: "main.go",
		Instruction: "add logging", Mode: "llm", ChatID: f.user.ChatID, HoldCredits: n}); err != nil {
		t.Fatal(err)
	}
}

func TestRefundMapsBackToItsUser(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := ctxT(t)
	other := newUser(t, f.db, 2002)
	mine := f.stripe.Pay(f.buy(t, 7005, 0).ID, "pi_mine", true)
	res, err := f.svc.Buy(ctx, billing.BuyRequest{UserID: other.ID, ChatID: other.ChatID, UpdateID: 7006, Pack: 0})
	if err != nil {
		t.Fatal(err)
	}
	theirs := f.stripe.Pay(res.CheckoutURL[strings.LastIndex(res.CheckoutURL, "/")+1:], "pi_theirs", true)
	for i, cs := range []stripetest.Session{mine, theirs} {
		if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_p"+string(rune('0'+i)), billing.EventCheckoutCompleted, cs)); err != nil {
			t.Fatal(err)
		}
	}
	// The refund event carries no metadata: only the payment intent.
	if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_rf", billing.EventChargeRefunded,
		stripetest.Charge("ch_theirs", "pi_theirs", 500, 500, "usd"))); err != nil {
		t.Fatal(err)
	}
	if got := f.balance(t, f.user.ID).Balance; got != welcome+100 {
		t.Errorf("my balance = %d, want %d", got, welcome+100)
	}
	if got := f.balance(t, other.ID).Balance; got != welcome {
		t.Errorf("their balance = %d, want %d", got, welcome)
	}
	notes := f.notes.sent()
	last := notes[len(notes)-1]
	if last.ChatID != other.ChatID || !strings.Contains(last.HTML, "Refund of $5.00: 100 credits taken back") {
		t.Errorf("last notice = %+v, want the refund notice to chat %d", last, other.ChatID)
	}
}

func TestRefundBeforeItsPaymentIsRetried(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := ctxT(t)
	cs := f.stripe.Pay(f.buy(t, 7007, 0).ID, "pi_late", true)
	refund := stripetest.Event(t, "evt_early_refund", billing.EventChargeRefunded, stripetest.Charge("ch_l", "pi_late", 500, 500, "usd"))
	// /buy recorded the session, but not its payment intent: the credit has
	// not arrived, so the refund cannot be mapped yet.
	err := f.svc.HandleEvent(ctx, refund)
	if err == nil || !fault.IsRetryable(err) {
		t.Fatalf("refund before payment: err = %v, want retryable", err)
	}
	if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_paid_late", billing.EventCheckoutCompleted, cs)); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.HandleEvent(ctx, refund); err != nil {
		t.Fatalf("redelivered refund: %v", err)
	}
	if got := f.balance(t, f.user.ID).Balance; got != welcome {
		t.Errorf("balance = %d, want %d", got, welcome)
	}
}

func TestUnknownEventsAreIgnored(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := ctxT(t)
	for _, typ := range []string{"customer.created", "payment_intent.succeeded", "refund.created"} {
		if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_"+typ, typ, map[string]any{"id": "x"})); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	var n int
	if err := f.db.Pool.QueryRow(ctx, `SELECT count(*) FROM processed_messages`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 || len(f.notes.sent()) != 0 {
		t.Errorf("ignored events left %d inbox rows and %d notices", n, len(f.notes.sent()))
	}
}

func TestBadEventsAreRejectedPermanently(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := ctxT(t)
	paid := func(ref string, meta map[string]string) map[string]any {
		return map[string]any{"id": "cs_bad_" + ref, "object": "checkout.session", "mode": "payment",
			"payment_status": "paid", "client_reference_id": ref, "metadata": meta, "amount_total": 500, "currency": "usd"}
	}
	cases := []struct {
		name    string
		payload []byte
		want    error
	}{
		{"not JSON", []byte("{"), fault.ErrInvalid},
		{"no id", []byte(`{"type":"checkout.session.completed"}`), fault.ErrInvalid},
		{"no user", stripetest.Event(t, "evt_nouser", billing.EventCheckoutCompleted, paid("", map[string]string{"credits": "5"})), fault.ErrInvalid},
		{"unknown user", stripetest.Event(t, "evt_ghost", billing.EventCheckoutCompleted, paid("999999", map[string]string{"credits": "5"})), fault.ErrNotFound},
		{"users disagree", stripetest.Event(t, "evt_mixed", billing.EventCheckoutCompleted,
			paid("1", map[string]string{"user_id": "2", "credits": "5"})), fault.ErrInvalid},
		{"no credits and no /buy", stripetest.Event(t, "evt_nocredits", billing.EventCheckoutCompleted,
			paid(itoa(f.user.ID), nil)), fault.ErrInvalid},
		{"no payment required", stripetest.Event(t, "evt_free", billing.EventCheckoutCompleted, map[string]any{
			"id": "cs_free", "mode": "payment", "payment_status": "no_payment_required", "client_reference_id": itoa(f.user.ID),
			"metadata": map[string]string{"credits": "500"}, "amount_total": 0, "currency": "usd"}), fault.ErrInvalid},
		{"charge without payment intent", stripetest.Event(t, "evt_ch", billing.EventChargeRefunded,
			stripetest.Charge("ch_x", "", 500, 500, "usd")), fault.ErrNotFound},
	}
	for _, tc := range cases {
		err := f.svc.HandleEvent(ctx, tc.payload)
		if !fault.IsPermanent(err) || !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want permanent %v", tc.name, err, tc.want)
		}
	}
	if got := f.balance(t, f.user.ID).Balance; got != welcome {
		t.Errorf("balance = %d, want %d", got, welcome)
	}
	var rejected int
	if err := f.db.Pool.QueryRow(ctx, `SELECT count(*) FROM processed_messages WHERE outcome = 'rejected'`).Scan(&rejected); err != nil {
		t.Fatal(err)
	}
	if rejected != len(cases)-2 { // the two without an event id cannot be recorded
		t.Errorf("rejected inbox rows = %d, want %d", rejected, len(cases)-2)
	}
}

func TestNoticeSurvivesATelegramOutage(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := ctxT(t)
	cs := f.stripe.Pay(f.buy(t, 7008, 0).ID, "pi_n", true)
	ev := stripetest.Event(t, "evt_n", billing.EventCheckoutCompleted, cs)
	f.notes.failNext(errTelegramDown)
	if err := f.svc.HandleEvent(ctx, ev); err == nil || !fault.IsRetryable(err) {
		t.Fatalf("first delivery: err = %v, want retryable (the notice did not go out)", err)
	}
	if got := f.balance(t, f.user.ID).Balance; got != welcome+100 {
		t.Fatalf("balance = %d: the credit must be committed before the notice", got)
	}
	for range 2 { // the redelivery sends the notice; the next one nothing
		if err := f.svc.HandleEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if notes := f.notes.sent(); len(notes) != 1 {
		t.Errorf("notices = %d, want exactly 1", len(notes))
	}
	if got := f.balance(t, f.user.ID).Balance; got != welcome+100 {
		t.Errorf("balance = %d, want %d", got, welcome+100)
	}

	// A user who blocked the bot: acknowledged, not retried forever.
	cs2 := f.stripe.Pay(f.buy(t, 7009, 0).ID, "pi_n2", true)
	f.notes.failNext(fault.AsPermanent(errors.New("telegram: 403 Forbidden: bot was blocked by the user")))
	if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_n2", billing.EventCheckoutCompleted, cs2)); err != nil {
		t.Errorf("blocked user: err = %v, want nil", err)
	}
}

func TestHandleEventWithoutNotifierAsksForRetry(t *testing.T) {
	t.Parallel()
	f := setup(t)
	svc, err := billing.New(billing.Config{Packs: testPacks}, f.db, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs := f.stripe.Pay(f.buy(t, 7010, 0).ID, "pi_x", true)
	err = svc.HandleEvent(context.Background(), stripetest.Event(t, "evt_x", billing.EventCheckoutCompleted, cs))
	if err == nil || fault.IsPermanent(err) {
		t.Errorf("err = %v, want a retryable configuration error", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestExpiredSessionClosesItsPendingPayment(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := ctxT(t)
	abandoned := f.stripe.Pay(f.buy(t, 7101, 0).ID, "", false)
	for range 2 {
		if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_x1", billing.EventSessionExpired, abandoned)); err != nil {
			t.Fatal(err)
		}
	}
	paid := f.stripe.Pay(f.buy(t, 7102, 0).ID, "pi_x2", true)
	if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_x2", billing.EventCheckoutCompleted, paid)); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.HandleEvent(ctx, stripetest.Event(t, "evt_x3", billing.EventSessionExpired, paid)); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{abandoned.ID: db.PaymentFailed, paid.ID: db.PaymentPaid} {
		var status string
		if err := f.db.Pool.QueryRow(ctx, `SELECT status FROM payments WHERE checkout_session_id = $1`, id).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status != want {
			t.Errorf("session %s: payment status %q, want %q", id, status, want)
		}
	}
	if got := f.balance(t, f.user.ID).Balance; got != welcome+100 {
		t.Errorf("balance = %d, want %d (only the paid session credits)", got, welcome+100)
	}
	if n := len(f.notes.sent()); n != 1 {
		t.Errorf("%d notices, want 1 (the credit; nobody is told about an abandoned checkout)", n)
	}
}
