package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Payment providers and statuses, as the schema spells them.
const (
	ProviderStripe = "stripe"
	ProviderMock   = "mock"

	PaymentPending           = "pending"
	PaymentPaid              = "paid"
	PaymentFailed            = "failed"
	PaymentRefunded          = "refunded"
	PaymentPartiallyRefunded = "partially_refunded"
	// PaymentMismatch: Stripe says a different amount or currency was paid
	// than /buy recorded; nothing was credited and an operator must look.
	PaymentMismatch = "mismatch"
)

// Payment is one purchase of credits. Refunds map back to it through
// PaymentIntentID, because Stripe's refund events do not carry the Checkout
// Session's metadata.
type Payment struct {
	ID                 int64
	UserID             int64
	Provider           string
	CheckoutSessionID  *string
	PaymentIntentID    *string
	Credits            int64
	Amount             int64 // smallest currency unit
	Currency           string
	Status             string
	RefundedAmount     int64 // cumulative, smallest currency unit
	RefundedCredits    int64 // credits taken back by refunds
	UnrecoveredCredits int64 // credits refunds should have taken back but could not
	SourceUpdateID     *int64
	// PaidAmount and PaidCurrency are what Stripe said was paid, once a
	// paid (or mismatched) session was applied; nil before.
	PaidAmount   *int64
	PaidCurrency *string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// NewPayment is a payment to record. Empty strings and a zero update id are
// stored as NULL.
type NewPayment struct {
	UserID            int64
	Provider          string
	CheckoutSessionID string
	PaymentIntentID   string
	Credits           int64
	Amount            int64
	Currency          string
	Status            string
	SourceUpdateID    int64
}

const paymentColumns = `id, user_id, provider, checkout_session_id, payment_intent_id, credits, amount,
	currency, status, refunded_amount, refunded_credits, unrecovered_credits, source_update_id, paid_amount, paid_currency, created_at, updated_at`

func scanPayment(row pgx.Row) (Payment, error) {
	var p Payment
	err := row.Scan(&p.ID, &p.UserID, &p.Provider, &p.CheckoutSessionID, &p.PaymentIntentID, &p.Credits, &p.Amount,
		&p.Currency, &p.Status, &p.RefundedAmount, &p.RefundedCredits, &p.UnrecoveredCredits, &p.SourceUpdateID,
		&p.PaidAmount, &p.PaidCurrency, &p.CreatedAt, &p.UpdatedAt)
	return p, translate(err)
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullInt64(n int64) *int64 {
	if n == 0 {
		return nil
	}
	return &n
}

// InsertPayment records p unless a payment with the same Checkout Session,
// payment intent or source update already exists; then it changes nothing
// and returns inserted=false (a concurrent insert waits for the first one's
// transaction and then sees it).
func InsertPayment(ctx context.Context, q Querier, p NewPayment) (pay Payment, inserted bool, err error) {
	pay, err = scanPayment(q.QueryRow(ctx, `INSERT INTO payments (user_id, provider, checkout_session_id,
			payment_intent_id, credits, amount, currency, status, source_update_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING `+paymentColumns,
		p.UserID, p.Provider, nullString(p.CheckoutSessionID), nullString(p.PaymentIntentID), p.Credits, p.Amount,
		p.Currency, p.Status, nullInt64(p.SourceUpdateID)))
	if errors.Is(err, pgx.ErrNoRows) {
		return Payment{}, false, nil
	}
	if err != nil {
		return Payment{}, false, fmt.Errorf("InsertPayment(user %d, session %q, update %d): %w",
			p.UserID, p.CheckoutSessionID, p.SourceUpdateID, err)
	}
	return pay, true, nil
}

// LockPaymentBySession reads the payment of a Checkout Session and locks it
// until the transaction ends. A missing one is fault.ErrNotFound.
func LockPaymentBySession(ctx context.Context, q Querier, sessionID string) (Payment, error) {
	p, err := scanPayment(q.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE checkout_session_id = $1 FOR UPDATE`, sessionID))
	if err != nil {
		return Payment{}, fmt.Errorf("LockPaymentBySession(%s): %w", sessionID, err)
	}
	return p, nil
}

// LockPaymentByIntent reads the payment of a payment intent and locks it
// until the transaction ends: refunds map back to their purchase this way. A
// missing one is fault.ErrNotFound.
func LockPaymentByIntent(ctx context.Context, q Querier, paymentIntentID string) (Payment, error) {
	p, err := scanPayment(q.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE payment_intent_id = $1 FOR UPDATE`, paymentIntentID))
	if err != nil {
		return Payment{}, fmt.Errorf("LockPaymentByIntent(%s): %w", paymentIntentID, err)
	}
	return p, nil
}

// PaymentByUpdate finds the payment a Telegram update started.
func PaymentByUpdate(ctx context.Context, q Querier, updateID int64) (Payment, error) {
	p, err := scanPayment(q.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE source_update_id = $1`, updateID))
	if err != nil {
		return Payment{}, fmt.Errorf("PaymentByUpdate(%d): %w", updateID, err)
	}
	return p, nil
}

// SetPaymentStatus moves a payment to status and fills in its payment
// intent if it was not known yet (a session recorded at /buy gets its
// intent only when paid).
func SetPaymentStatus(ctx context.Context, q Querier, id int64, status, paymentIntentID string) error {
	_, err := q.Exec(ctx, `UPDATE payments SET status = $2,
			payment_intent_id = COALESCE(payment_intent_id, $3), updated_at = now()
		WHERE id = $1`, id, status, nullString(paymentIntentID))
	if err != nil {
		return fmt.Errorf("SetPaymentStatus(%d, %s): %w", id, status, translate(err))
	}
	return nil
}

// RecordSessionPaid moves a Checkout payment to status (paid, or mismatch
// when Stripe's amount or currency is not the recorded one) with what Stripe
// said was paid, and fills in its payment intent if it was not known yet, so
// that refunds map back to it.
func RecordSessionPaid(ctx context.Context, q Querier, id int64, status, paymentIntentID string, paidAmount int64, paidCurrency string) error {
	_, err := q.Exec(ctx, `UPDATE payments SET status = $2, payment_intent_id = COALESCE(payment_intent_id, $3),
			paid_amount = $4, paid_currency = $5, updated_at = now()
		WHERE id = $1`, id, status, nullString(paymentIntentID), paidAmount, paidCurrency)
	if err != nil {
		return fmt.Errorf("RecordSessionPaid(%d, %s): %w", id, status, translate(err))
	}
	return nil
}

// RecordRefund sets a payment's cumulative refunded amount and adds the
// credits a refund took back and those it could not.
func RecordRefund(ctx context.Context, q Querier, id, refundedAmount, takenCredits, unrecoveredCredits int64, status string) error {
	_, err := q.Exec(ctx, `UPDATE payments SET refunded_amount = $2, refunded_credits = refunded_credits + $3,
			unrecovered_credits = unrecovered_credits + $4, status = $5, updated_at = now()
		WHERE id = $1`, id, refundedAmount, takenCredits, unrecoveredCredits, status)
	if err != nil {
		return fmt.Errorf("RecordRefund(%d): %w", id, translate(err))
	}
	return nil
}
