package billing

import (
	"context"
	"errors"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v82"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
)

// Metadata keys /buy puts on a Checkout Session.
const (
	metadataUserID  = "user_id"
	metadataCredits = "credits"
)

// purchase is whose credits a Checkout Session bought, as /buy recorded it
// in the session.
type purchase struct {
	UserID  int64
	Credits int64 // 0 when the metadata does not say; the recorded payment then does
}

// sessionRef reads the buyer from client_reference_id (or, failing that,
// the metadata) and the credits from the metadata. A session that names no
// user of ours, or two different ones, is a permanent error.
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
	p := purchase{UserID: userID}
	if c := cs.Metadata[metadataCredits]; c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n <= 0 {
			return purchase{}, fault.Permanentf("%w: session %s has credits metadata %q", fault.ErrInvalid, cs.ID, c)
		}
		p.Credits = n
	}
	return p, nil
}

func intentID(cs *stripe.CheckoutSession) string {
	if cs.PaymentIntent == nil {
		return ""
	}
	return cs.PaymentIntent.ID
}

// sessionPayment records the session's payment with status, or, when it is
// already recorded (at /buy, or by a sibling event), locks and returns that
// record. The buyer must match.
func sessionPayment(ctx context.Context, tx pgx.Tx, cs *stripe.CheckoutSession, ref purchase, status string) (pay db.Payment, inserted bool, err error) {
	if ref.Credits == 0 {
		// Without the metadata, only a payment recorded at /buy says how
		// many credits the session bought.
		pay, err = db.LockPaymentBySession(ctx, tx, cs.ID)
		if errors.Is(err, fault.ErrNotFound) {
			return pay, false, fault.Permanentf("%w: session %s says neither how many credits it bought nor was it started by /buy",
				fault.ErrInvalid, cs.ID)
		}
		if err != nil {
			return pay, false, err
		}
		ref.Credits = pay.Credits
	}
	pay, inserted, err = db.InsertPayment(ctx, tx, db.NewPayment{
		UserID: ref.UserID, Provider: db.ProviderStripe, CheckoutSessionID: cs.ID, PaymentIntentID: intentID(cs),
		Credits: ref.Credits, Amount: cs.AmountTotal, Currency: string(cs.Currency), Status: status,
	})
	if err != nil || inserted {
		return pay, inserted, err
	}
	if pay, err = db.LockPaymentBySession(ctx, tx, cs.ID); err != nil {
		if errors.Is(err, fault.ErrNotFound) {
			// The insert conflicted on the payment intent, not the session.
			return pay, false, fault.Permanentf("%w: payment intent %s is already recorded for another session",
				fault.ErrConflict, intentID(cs))
		}
		return pay, false, err
	}
	if pay.UserID != ref.UserID {
		return pay, false, fault.Permanentf("%w: session %s was bought by user %d but the event names user %d",
			fault.ErrConflict, cs.ID, pay.UserID, ref.UserID)
	}
	return pay, false, nil
}

// buyer reads the user a session names; one we do not know is permanent.
func buyer(ctx context.Context, tx pgx.Tx, cs *stripe.CheckoutSession, ref purchase) (db.User, error) {
	u, err := db.UserByID(ctx, tx, ref.UserID)
	if errors.Is(err, fault.ErrNotFound) {
		return u, fault.Permanentf("%w: session %s names user %d, who does not exist", fault.ErrNotFound, cs.ID, ref.UserID)
	}
	return u, err
}

// credit fulfils a paid session: one ledger entry per session, whichever
// event (completed, async_payment_succeeded, a redelivery) gets here first.
func (s *Service) credit(ctx context.Context, tx pgx.Tx, cs *stripe.CheckoutSession, ref purchase) (record, error) {
	u, err := buyer(ctx, tx, cs, ref)
	if err != nil {
		return record{}, err
	}
	pay, inserted, err := sessionPayment(ctx, tx, cs, ref, db.PaymentPaid)
	if err != nil {
		return record{}, err
	}
	if !inserted && (pay.Status == db.PaymentPending || pay.Status == db.PaymentFailed) {
		if err := db.SetPaymentStatus(ctx, tx, pay.ID, db.PaymentPaid, intentID(cs)); err != nil {
			return record{}, err
		}
	}
	// The credits recorded at /buy are what was offered and paid for.
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
	pay, _, err := sessionPayment(ctx, tx, cs, ref, db.PaymentPending)
	if err != nil {
		return record{}, err
	}
	// Tell the user only while the outcome is really open: the success
	// event may have overtaken this one.
	return record{Result: resultWaiting, UserID: u.ID, ChatID: u.ChatID, Session: cs.ID, Credits: pay.Credits,
		Amount: cs.AmountTotal, Currency: string(cs.Currency), Notify: pay.Status == db.PaymentPending}, nil
}

// paymentFailed records a failed asynchronous payment and tells the user.
func (s *Service) paymentFailed(ctx context.Context, tx pgx.Tx, cs *stripe.CheckoutSession, ref purchase) (record, error) {
	u, err := buyer(ctx, tx, cs, ref)
	if err != nil {
		return record{}, err
	}
	pay, inserted, err := sessionPayment(ctx, tx, cs, ref, db.PaymentFailed)
	if err != nil {
		return record{}, err
	}
	changed := inserted
	if !inserted && pay.Status == db.PaymentPending {
		if err := db.SetPaymentStatus(ctx, tx, pay.ID, db.PaymentFailed, intentID(cs)); err != nil {
			return record{}, err
		}
		changed = true
	}
	if !changed {
		s.log.WarnContext(ctx, "async payment failure for a payment already settled", "status", pay.Status)
	}
	return record{Result: resultFailed, UserID: u.ID, ChatID: u.ChatID, Session: cs.ID, Credits: pay.Credits,
		Amount: cs.AmountTotal, Currency: string(cs.Currency), Notify: changed}, nil
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
