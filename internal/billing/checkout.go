package billing

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v82"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
)

// Metadata keys /buy puts on a Checkout Session. The event's metadata only
// names the buyer, as a cross-check: how many credits a session buys is what
// /buy recorded in its payment row, never what an event says.
const (
	metadataUserID = "user_id"
)

// purchase is whose credits a Checkout Session bought, as the session says.
type purchase struct {
	UserID int64
}

// sessionRef reads the buyer from client_reference_id (or, failing that,
// the metadata). A session that names no user of ours, or two different
// ones, is a permanent error.
func sessionRef(cs *stripe.CheckoutSession) (purchase, error) {
	if cs.ID == "" {
		return purchase{}, fault.Permanentf("%w: checkout session without id", fault.ErrInvalid)
	}
	ref, meta := cs.ClientReferenceID, cs.Metadata[metadataUserID]
	if ref == "" {
		ref = meta
	} else if meta != "" && meta != ref {
		return purchase{}, fault.Permanentf("%w: session %s names user %q in client_reference_id but %q in metadata",
			fault.ErrInvalid, cs.ID, ref, meta)
	}
	userID, err := strconv.ParseInt(ref, 10, 64)
	if err != nil || userID <= 0 {
		return purchase{}, fault.Permanentf("%w: session %s names no user of ours (client_reference_id %q)",
			fault.ErrInvalid, cs.ID, ref)
	}
	return purchase{UserID: userID}, nil
}

func intentID(cs *stripe.CheckoutSession) string {
	if cs.PaymentIntent == nil {
		return ""
	}
	return cs.PaymentIntent.ID
}

// sessionPayment locks the payment /buy recorded for the session: it says
// how many credits the session buys and for how much. /buy records it
// before the user ever sees the Checkout link, so a session without one was
// not started by /buy and buys nothing. The buyer must match.
func sessionPayment(ctx context.Context, tx pgx.Tx, cs *stripe.CheckoutSession, ref purchase) (db.Payment, error) {
	pay, err := db.LockPaymentBySession(ctx, tx, cs.ID)
	if errors.Is(err, fault.ErrNotFound) {
		return pay, fault.Permanentf("%w: session %s was not started by /buy (no payment is recorded for it); nothing credited",
			fault.ErrInvalid, cs.ID)
	}
	if err != nil {
		return pay, err
	}
	if pay.UserID != ref.UserID {
		return pay, fault.Permanentf("%w: session %s was bought by user %d but the event names user %d",
			fault.ErrConflict, cs.ID, pay.UserID, ref.UserID)
	}
	return pay, nil
}

// paidAsRecorded reports whether Stripe's total for the session is exactly
// what /buy offered: the same amount in the same currency. With Adaptive
// Pricing the customer pays in their own currency: amount_total and currency
// are then theirs, and currency_conversion gives the total in the currency
// the session was created in, which is what /buy recorded.
func paidAsRecorded(pay db.Payment, cs *stripe.CheckoutSession) bool {
	amount, currency := cs.AmountTotal, cs.Currency
	if cc := cs.CurrencyConversion; cc != nil && cc.SourceCurrency != "" {
		amount, currency = cc.AmountTotal, cc.SourceCurrency
	}
	return amount == pay.Amount && strings.EqualFold(string(currency), pay.Currency)
}

// buyer reads the user a session names; one we do not know is permanent.
func buyer(ctx context.Context, tx pgx.Tx, cs *stripe.CheckoutSession, ref purchase) (db.User, error) {
	u, err := db.UserByID(ctx, tx, ref.UserID)
	if errors.Is(err, fault.ErrNotFound) {
		return u, fault.Permanentf("%w: session %s names user %d, who does not exist", fault.ErrNotFound, cs.ID, ref.UserID)
	}
	return u, err
}

// mismatch sets aside a session whose amount or currency is not what /buy
// recorded: nothing is credited, the row says what was paid, the operator
// is told (process logs it) and the user once, on the first event that
// finds it.
func (s *Service) mismatch(ctx context.Context, tx pgx.Tx, cs *stripe.CheckoutSession, u db.User, pay db.Payment) (record, error) {
	rec := record{Result: resultMismatch, UserID: u.ID, ChatID: u.ChatID, Session: cs.ID, Credits: pay.Credits,
		Amount: cs.AmountTotal, Currency: string(cs.Currency), ExpectedAmount: pay.Amount, ExpectedCurrency: pay.Currency}
	if pay.Status == db.PaymentMismatch {
		return rec, nil
	}
	if err := db.RecordSessionPaid(ctx, tx, pay.ID, db.PaymentMismatch, intentID(cs), cs.AmountTotal, string(cs.Currency)); err != nil {
		return record{}, err
	}
	rec.Notify = true
	return rec, nil
}

// credit fulfils a paid session: one ledger entry per session, whichever
// event (completed, async_payment_succeeded, a redelivery) gets here first,
// of the credits /buy recorded, and only when the amount paid is the one
// recorded.
func (s *Service) credit(ctx context.Context, tx pgx.Tx, cs *stripe.CheckoutSession, ref purchase) (record, error) {
	u, err := buyer(ctx, tx, cs, ref)
	if err != nil {
		return record{}, err
	}
	pay, err := sessionPayment(ctx, tx, cs, ref)
	if err != nil {
		return record{}, err
	}
	if pay.Status == db.PaymentMismatch || !paidAsRecorded(pay, cs) {
		return s.mismatch(ctx, tx, cs, u, pay)
	}
	if pay.Status == db.PaymentPending || pay.Status == db.PaymentFailed {
		if err := db.RecordSessionPaid(ctx, tx, pay.ID, db.PaymentPaid, intentID(cs), cs.AmountTotal, string(cs.Currency)); err != nil {
			return record{}, err
		}
	}
	added, err := db.AddLedgerEntry(ctx, tx, db.LedgerEntry{
		UserID: u.ID, Amount: pay.Credits, Kind: db.KindPurchase, Cause: "payment:" + cs.ID,
		PaymentID: &pay.ID, Description: "purchase",
	})
	if err != nil {
		return record{}, err
	}
	rec := record{Result: resultAlreadyCredited, UserID: u.ID, ChatID: u.ChatID, Session: cs.ID,
		Amount: pay.Amount, Currency: pay.Currency}
	if added {
		after, err := db.UserByID(ctx, tx, u.ID)
		if err != nil {
			return record{}, err
		}
		rec.Result, rec.Credits, rec.Balance, rec.Notify = resultCredited, pay.Credits, after.Balance, true
	}
	return rec, nil
}

// waiting records a completed session whose payment is still processing
// (bank debits and the like): async_payment_succeeded or _failed follows.
func (s *Service) waiting(ctx context.Context, tx pgx.Tx, cs *stripe.CheckoutSession, ref purchase) (record, error) {
	u, err := buyer(ctx, tx, cs, ref)
	if err != nil {
		return record{}, err
	}
	pay, err := sessionPayment(ctx, tx, cs, ref)
	if err != nil {
		return record{}, err
	}
	if pay.Status == db.PaymentMismatch || !paidAsRecorded(pay, cs) {
		return s.mismatch(ctx, tx, cs, u, pay)
	}
	// Tell the user only while the outcome is really open: the success
	// event may have overtaken this one.
	return record{Result: resultWaiting, UserID: u.ID, ChatID: u.ChatID, Session: cs.ID, Credits: pay.Credits,
		Amount: pay.Amount, Currency: pay.Currency, Notify: pay.Status == db.PaymentPending}, nil
}

// paymentFailed records a failed asynchronous payment and tells the user.
func (s *Service) paymentFailed(ctx context.Context, tx pgx.Tx, cs *stripe.CheckoutSession, ref purchase) (record, error) {
	u, err := buyer(ctx, tx, cs, ref)
	if err != nil {
		return record{}, err
	}
	pay, err := sessionPayment(ctx, tx, cs, ref)
	if err != nil {
		return record{}, err
	}
	changed := false
	if pay.Status == db.PaymentPending {
		if err := db.SetPaymentStatus(ctx, tx, pay.ID, db.PaymentFailed, intentID(cs)); err != nil {
			return record{}, err
		}
		changed = true
	}
	if !changed {
		s.log.WarnContext(ctx, "async payment failure for a payment already settled", "status", pay.Status)
	}
	return record{Result: resultFailed, UserID: u.ID, ChatID: u.ChatID, Session: cs.ID, Credits: pay.Credits,
		Amount: pay.Amount, Currency: pay.Currency, Notify: changed}, nil
}

// expired closes the pending payment of a Checkout Session the user left
// without paying, so it no longer reads as open. A session that was paid
// (completed before it could expire) is left alone.
func (s *Service) expired(ctx context.Context, tx pgx.Tx, cs *stripe.CheckoutSession) (record, error) {
	pay, err := db.LockPaymentBySession(ctx, tx, cs.ID)
	if errors.Is(err, fault.ErrNotFound) {
		return record{Result: resultExpired, Session: cs.ID}, nil
	}
	if err != nil {
		return record{}, err
	}
	if pay.Status == db.PaymentPending {
		if err := db.SetPaymentStatus(ctx, tx, pay.ID, db.PaymentFailed, intentID(cs)); err != nil {
			return record{}, err
		}
	}
	return record{Result: resultExpired, UserID: pay.UserID, Session: cs.ID}, nil
}
