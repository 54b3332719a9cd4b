package billing

import (
	"context"
	"errors"
	"fmt"
	"math/bits"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v82"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
)

// errPaymentUnknown marks a refund whose purchase is not recorded: worth
// waiting for while deliveries last (the credit may be on its way), not once
// the event is dead-lettered (HandleDeadLettered).
var errPaymentUnknown = errors.New("no payment is recorded for the refunded charge")

// refund takes back the credits a refunded charge bought, in proportion to
// the refunded share. charge.refunded carries the cumulative amount_refunded,
// so each event takes only what the earlier ones did not; an event that is
// not ahead of what is recorded (a duplicate, or one overtaken by a later
// refund) changes nothing. The balance never goes negative and credits held
// for running jobs are not taken: what cannot be taken back is recorded as
// unrecovered on the payment.
func (s *Service) refund(ctx context.Context, tx pgx.Tx, ch *stripe.Charge) (record, error) {
	if ch.ID == "" {
		return record{}, fault.Permanentf("%w: charge without id", fault.ErrInvalid)
	}
	if ch.PaymentIntent == nil || ch.PaymentIntent.ID == "" {
		return record{}, fault.Permanentf("%w: refunded charge %s has no payment intent, so it is not a Checkout payment of ours",
			fault.ErrNotFound, ch.ID)
	}
	pi := ch.PaymentIntent.ID
	pay, err := db.LockPaymentByIntent(ctx, tx, pi)
	if errors.Is(err, fault.ErrNotFound) {
		// Events arrive out of order: the credit may still be on its way.
		// A redelivery retries; the dead-letter policy bounds it when the
		// charge is not ours at all.
		return record{}, fault.AsRetryable(fmt.Errorf("%w: payment intent %s (charge %s), not yet", errPaymentUnknown, pi, ch.ID))
	}
	if err != nil {
		return record{}, err
	}
	u, err := db.LockUser(ctx, tx, pay.UserID)
	if err != nil {
		return record{}, err
	}
	total := pay.Amount
	if ch.Amount > 0 {
		total = ch.Amount // the charge is what the refund is a share of
	}
	refunded := min(ch.AmountRefunded, total)
	rec := record{Result: resultNothingRefunded, UserID: u.ID, ChatID: u.ChatID, Currency: pay.Currency}
	if pay.Status == db.PaymentMismatch {
		// Set aside without credits: there is nothing to take back.
		s.log.WarnContext(ctx, "refund of a mismatched payment: no credits to take back", "payment_id", pay.ID, "charge", ch.ID)
		return rec, nil
	}
	if refunded <= pay.RefundedAmount {
		return rec, nil
	}
	due := creditsFor(pay.Credits, refunded, total)
	owed := max(due-pay.RefundedCredits-pay.UnrecoveredCredits, 0)
	take := max(min(owed, u.Available()), 0)
	if take > 0 {
		added, err := db.AddLedgerEntry(ctx, tx, db.LedgerEntry{
			UserID: u.ID, Amount: -take, Kind: db.KindRefund,
			Cause:     fmt.Sprintf("refund:%s:%d", ch.ID, refunded),
			PaymentID: &pay.ID, Description: "refund",
		})
		if err != nil {
			return record{}, err
		}
		if !added {
			// The payment row and the ledger move together; a cause without
			// the row's update means they disagree.
			return record{}, fault.Permanentf("%w: refund of charge %s to %d is in the ledger but not on payment %d",
				fault.ErrConflict, ch.ID, refunded, pay.ID)
		}
	}
	status := db.PaymentPartiallyRefunded
	if refunded >= total {
		status = db.PaymentRefunded
	}
	if err := db.RecordRefund(ctx, tx, pay.ID, refunded, take, owed-take, status); err != nil {
		return record{}, err
	}
	rec.Result, rec.Credits, rec.Unrecovered = resultRefunded, take, owed-take
	rec.Amount, rec.Balance, rec.Notify = refunded-pay.RefundedAmount, u.Balance-take, true
	return rec, nil
}

// creditsFor is the share of credits that refunded out of total buys back,
// rounded down (a partial refund never takes more than it paid back); the
// whole amount takes all of them.
func creditsFor(credits, refunded, total int64) int64 {
	if refunded <= 0 || credits <= 0 {
		return 0
	}
	if total <= 0 || refunded >= total {
		return credits
	}
	hi, lo := bits.Mul64(uint64(credits), uint64(refunded))
	q, _ := bits.Div64(hi, lo, uint64(total)) // hi < total because refunded < total
	return int64(q)
}
