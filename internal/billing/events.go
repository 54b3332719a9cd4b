package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v82"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/logging"
)

// Event types the consumer acts on; every other type is acknowledged and
// ignored.
const (
	EventCheckoutCompleted     = "checkout.session.completed"
	EventAsyncPaymentSucceeded = "checkout.session.async_payment_succeeded"
	EventAsyncPaymentFailed    = "checkout.session.async_payment_failed"
	// EventSessionExpired: the user left Checkout without paying; the
	// pending payment is closed, and nobody is told (they walked away).
	EventSessionExpired = "checkout.session.expired"
	EventChargeRefunded = "charge.refunded"
)

// record is what handling an event did, stored as the inbox detail (JSON)
// so that a redelivery can send a notice the first delivery could not.
type record struct {
	Result      string `json:"result"`
	UserID      int64  `json:"user_id,omitempty"`
	ChatID      int64  `json:"chat_id,omitempty"`
	Session     string `json:"session,omitempty"`
	Credits     int64  `json:"credits,omitempty"`
	Amount      int64  `json:"amount,omitempty"`
	Currency    string `json:"currency,omitempty"`
	Balance     int64  `json:"balance,omitempty"`
	Unrecovered int64  `json:"unrecovered,omitempty"`
	Notify      bool   `json:"notify,omitempty"`
	// What /buy recorded, for a mismatch.
	ExpectedAmount   int64  `json:"expected_amount,omitempty"`
	ExpectedCurrency string `json:"expected_currency,omitempty"`
}

// Results recorded in the inbox.
const (
	resultCredited        = "credited"
	resultAlreadyCredited = "already_credited"
	resultWaiting         = "waiting"
	resultFailed          = "failed"
	resultExpired         = "expired"
	resultRefunded        = "refunded"
	resultNothingRefunded = "nothing_to_refund"
	resultMismatch        = "mismatch"
)

// errDuplicate rolls back a transaction that found its event already
// processed.
var errDuplicate = errors.New("event already processed")

// HandleEvent applies one verified Stripe event (the raw JSON the webhook
// published). It is idempotent on the event id, and crediting is idempotent
// on the Checkout Session, so duplicates and sibling events credit once. A
// permanent error means the event can never be applied (it was recorded as
// rejected and should be acknowledged); any other error asks for a
// redelivery.
func (s *Service) HandleEvent(ctx context.Context, payload []byte) (err error) {
	var ev stripe.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return fault.AsPermanent(fmt.Errorf("%w: the message is not a Stripe event: %w", fault.ErrInvalid, err))
	}
	if ev.ID == "" || ev.Type == "" {
		return fault.Permanentf("%w: the Stripe event has no id or type", fault.ErrInvalid)
	}
	defer fault.Wrap(&err, "HandleEvent(%s %s)", ev.ID, ev.Type)
	ctx = logging.With(ctx, slog.String("stripe_event", ev.ID), slog.String("event_type", string(ev.Type)))
	switch ev.Type {
	case EventCheckoutCompleted, EventAsyncPaymentSucceeded, EventAsyncPaymentFailed, EventSessionExpired, EventChargeRefunded:
	default:
		s.log.DebugContext(ctx, "stripe event ignored")
		return nil
	}
	if s.notify == nil {
		return errors.New("billing: no notifier configured; cannot apply events")
	}
	if ev.Data == nil || len(ev.Data.Raw) == 0 {
		return s.reject(ctx, ev.ID, fault.Permanentf("%w: the event carries no object", fault.ErrInvalid))
	}
	// A redelivery of a handled event only finishes what the first one may
	// not have: the notice.
	if p, found, err := db.LookupProcessed(ctx, s.db.Pool, Consumer, ev.ID); err != nil {
		return err
	} else if found {
		return s.redelivered(ctx, ev.ID, p)
	}
	switch ev.Type {
	case EventChargeRefunded:
		var ch stripe.Charge
		if err := json.Unmarshal(ev.Data.Raw, &ch); err != nil {
			return s.reject(ctx, ev.ID, fault.AsPermanent(fmt.Errorf("%w: charge: %w", fault.ErrInvalid, err)))
		}
		return s.process(ctx, ev.ID, func(tx pgx.Tx) (record, error) { return s.refund(ctx, tx, &ch) })
	default:
		var cs stripe.CheckoutSession
		if err := json.Unmarshal(ev.Data.Raw, &cs); err != nil {
			return s.reject(ctx, ev.ID, fault.AsPermanent(fmt.Errorf("%w: checkout session: %w", fault.ErrInvalid, err)))
		}
		if cs.Mode != "" && cs.Mode != stripe.CheckoutSessionModePayment {
			s.log.InfoContext(ctx, "stripe event ignored: not a one-time payment", "mode", cs.Mode)
			return nil
		}
		ref, err := sessionRef(&cs)
		if err != nil {
			return s.reject(ctx, ev.ID, err)
		}
		if cs.PaymentStatus == stripe.CheckoutSessionPaymentStatusNoPaymentRequired {
			// A 100% discount or a zero amount: /buy offers neither, so
			// crediting would hand out credits nobody paid for.
			return s.reject(ctx, ev.ID, fault.Permanentf("%w: session %s required no payment; no credits for it",
				fault.ErrInvalid, cs.ID))
		}
		return s.process(ctx, ev.ID, func(tx pgx.Tx) (record, error) {
			switch {
			case ev.Type == EventAsyncPaymentFailed:
				return s.paymentFailed(ctx, tx, &cs, ref)
			case ev.Type == EventSessionExpired:
				return s.expired(ctx, tx, &cs)
			case ev.Type == EventCheckoutCompleted && cs.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid:
				return s.waiting(ctx, tx, &cs, ref)
			default:
				return s.credit(ctx, tx, &cs, ref)
			}
		})
	}
}

// process runs fn and records the event in the inbox in one transaction,
// then sends the notice fn asked for.
func (s *Service) process(ctx context.Context, eventID string, fn func(tx pgx.Tx) (record, error)) error {
	var rec record
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		if rec, err = fn(tx); err != nil {
			return err
		}
		detail, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		first, err := db.MarkProcessed(ctx, tx, Consumer, eventID, db.OutcomeDone, string(detail))
		if err != nil {
			return err
		}
		if !first {
			return errDuplicate // a concurrent delivery won: undo ours
		}
		return nil
	})
	if errors.Is(err, errDuplicate) {
		p, found, err := db.LookupProcessed(ctx, s.db.Pool, Consumer, eventID)
		if err != nil || !found {
			return err
		}
		return s.redelivered(ctx, eventID, p)
	}
	if fault.IsPermanent(err) {
		return s.reject(ctx, eventID, err)
	}
	if err != nil {
		return err
	}
	if rec.Result == resultMismatch {
		// Logged once the outcome is committed, so the operator's line
		// states a fact. Amounts and ids only: nothing secret.
		s.log.ErrorContext(ctx, "stripe payment does not match its /buy record: nothing credited; check it in the Stripe Dashboard",
			"session", rec.Session, "user_id", rec.UserID, "paid_amount", rec.Amount, "paid_currency", rec.Currency,
			"expected_amount", rec.ExpectedAmount, "expected_currency", rec.ExpectedCurrency, "credits", rec.Credits)
	} else {
		s.log.InfoContext(ctx, "stripe event applied", "result", rec.Result, "user_id", rec.UserID,
			"credits", rec.Credits, "unrecovered", rec.Unrecovered)
	}
	return s.tell(ctx, eventID, rec)
}

// reject records an event that can never be applied, so that operators see
// it, and returns the permanent error (the transport acknowledges it).
func (s *Service) reject(ctx context.Context, eventID string, cause error) error {
	s.log.ErrorContext(ctx, "stripe event rejected", "error", cause.Error())
	if _, err := db.MarkProcessed(ctx, s.db.Pool, Consumer, eventID, db.OutcomeRejected, cause.Error()); err != nil {
		return err // retry: the rejection must be recorded
	}
	return cause
}

// redelivered handles an event found in the inbox: it sends the notice the
// first delivery owed and could not send.
func (s *Service) redelivered(ctx context.Context, eventID string, p db.Processed) error {
	s.log.InfoContext(ctx, "stripe event already processed", "outcome", p.Outcome, "replied", p.Replied)
	if p.Outcome != db.OutcomeDone || p.Replied {
		return nil
	}
	var rec record
	if err := json.Unmarshal([]byte(p.Detail), &rec); err != nil {
		s.log.WarnContext(ctx, "inbox detail unreadable; no notice", "error", err.Error())
		return nil
	}
	return s.tell(ctx, eventID, rec)
}

// tell sends the notice rec asks for and records that it went out, holding
// the inbox row's lock meanwhile so that a concurrent delivery of the same
// event waits and then finds it sent. A retryable failure asks for a
// redelivery, which finds the event processed and sends only the notice; a
// permanent one (the user blocked the bot) is logged and acknowledged: the
// credits are there either way.
func (s *Service) tell(ctx context.Context, eventID string, rec record) error {
	if !rec.Notify || rec.ChatID == 0 {
		return nil
	}
	var sendErr error
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		p, found, err := db.LockProcessed(ctx, tx, Consumer, eventID)
		if err != nil || !found || p.Replied {
			return err
		}
		if sendErr = s.notify.Notify(ctx, rec.ChatID, rec.notice()); sendErr != nil {
			return nil
		}
		_, err = db.MarkReplied(ctx, tx, Consumer, eventID)
		return err
	})
	switch {
	case sendErr != nil && fault.IsPermanent(sendErr):
		s.log.WarnContext(ctx, "notice not sent", "user_id", rec.UserID, "error", sendErr.Error())
		return nil
	case sendErr != nil:
		return fmt.Errorf("telling user %d: %w", rec.UserID, sendErr)
	case err != nil:
		// The notice went out but is not recorded: a redelivery would
		// repeat it, the lesser evil than losing it, so ask for none.
		s.log.WarnContext(ctx, "notice sent but not recorded", "error", err.Error())
	}
	return nil
}

// notice is the Telegram message (HTML) for a result.
func (r record) notice() string {
	money := FormatMoney(r.Amount, r.Currency)
	switch r.Result {
	case resultCredited:
		return fmt.Sprintf("✅ Payment received: %s added. Balance: %s.", credits(r.Credits), credits(r.Balance))
	case resultWaiting:
		return fmt.Sprintf("Payment of %s started. Your bank confirms it later; I will tell you when the %s arrive.",
			money, credits(r.Credits))
	case resultFailed:
		return fmt.Sprintf("❌ Your payment of %s for %s did not go through, so nothing was charged. /buy to try again.",
			money, credits(r.Credits))
	case resultMismatch:
		return fmt.Sprintf("⚠️ Stripe reports a payment of %s, which is not the %s the %s cost, so no credits were added. "+
			"The payment is set aside for a person to check.", money, FormatMoney(r.ExpectedAmount, r.ExpectedCurrency), credits(r.Credits))
	case resultRefunded:
		msg := fmt.Sprintf("↩️ Refund of %s: %s taken back. Balance: %s.", money, credits(r.Credits), credits(r.Balance))
		if r.Unrecovered > 0 {
			msg += fmt.Sprintf(" (%s had already been spent.)", credits(r.Unrecovered))
		}
		return msg
	}
	return ""
}
