package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/fault"
)

// Ledger entry kinds; the schema checks each one's sign.
const (
	KindWelcome    = "welcome"    // > 0
	KindPurchase   = "purchase"   // > 0
	KindRefine     = "refine"     // < 0
	KindRefund     = "refund"     // < 0
	KindAdjustment = "adjustment" // either
	KindBuild      = "build"      // < 0: a build's task
)

// LedgerEntry is one change of a balance. Cause is its idempotency key: one
// entry per cause, ever.
type LedgerEntry struct {
	ID          int64
	UserID      int64
	Amount      int64
	Kind        string
	Cause       string
	JobID       *int64
	PaymentID   *int64
	BuildID     *int64
	Description string
	Mock        bool
	CreatedAt   time.Time
}

// AddLedgerEntry appends e and moves the balance (a trigger does, in this
// transaction). A cause that is already recorded changes nothing and returns
// inserted=false: that is how duplicate events credit once. A debit the
// balance cannot cover is fault.ErrInsufficient.
func AddLedgerEntry(ctx context.Context, q Querier, e LedgerEntry) (inserted bool, err error) {
	tag, err := q.Exec(ctx, `INSERT INTO credit_ledger (user_id, amount, kind, cause, job_id, payment_id, description, mock, build_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (cause) DO NOTHING`,
		e.UserID, e.Amount, e.Kind, e.Cause, e.JobID, e.PaymentID, e.Description, e.Mock, e.BuildID)
	if err != nil {
		return false, fmt.Errorf("AddLedgerEntry(%d, %s): %w", e.UserID, e.Cause, translate(err))
	}
	return tag.RowsAffected() == 1, nil
}

// RecentLedger returns the user's newest entries.
func RecentLedger(ctx context.Context, q Querier, userID int64, limit int) ([]LedgerEntry, error) {
	rows, err := q.Query(ctx, `SELECT id, user_id, amount, kind, cause, job_id, payment_id, description, mock, created_at
		FROM credit_ledger WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("RecentLedger(%d): %w", userID, translate(err))
	}
	es, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LedgerEntry, error) {
		var e LedgerEntry
		err := r.Scan(&e.ID, &e.UserID, &e.Amount, &e.Kind, &e.Cause, &e.JobID, &e.PaymentID, &e.Description, &e.Mock, &e.CreatedAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("RecentLedger(%d): %w", userID, translate(err))
	}
	return es, nil
}

// HoldCredits reserves amount of the user's available credits for a job.
// The database refuses a hold the balance cannot cover
// (fault.ErrInsufficient), also when two holds race; a second hold for the
// same job is fault.ErrConflict.
func HoldCredits(ctx context.Context, q Querier, jobID, userID, amount int64) error {
	_, err := q.Exec(ctx, `INSERT INTO credit_holds (job_id, user_id, amount) VALUES ($1, $2, $3)`, jobID, userID, amount)
	if err != nil {
		return fmt.Errorf("HoldCredits(job %d): %w", jobID, translate(err))
	}
	return nil
}

// ErrHoldSettled is returned when a job's hold was already charged or
// released.
var ErrHoldSettled = errors.New("credit hold already settled")

// ChargeHold closes a job's hold and debits the actual cost (at most the
// hold) with one ledger entry, cause "refine:<job>". Charging a hold twice is
// a permanent error wrapping ErrHoldSettled.
func ChargeHold(ctx context.Context, q Querier, jobID, actual int64, description string) (err error) {
	defer fault.Wrap(&err, "ChargeHold(job %d)", jobID)
	var userID, held int64
	// The hold is released first so that the debit is checked against the
	// balance without it (users.held <= users.balance holds at each step).
	err = q.QueryRow(ctx, `UPDATE credit_holds SET state = 'charged', settled_at = now()
		WHERE job_id = $1 AND state = 'held' RETURNING user_id, amount`, jobID).Scan(&userID, &held)
	if errors.Is(err, pgx.ErrNoRows) {
		return fault.AsPermanent(ErrHoldSettled)
	}
	if err != nil {
		return translate(err)
	}
	if actual > held {
		actual = held // the hold is the promise made to the user
	}
	if actual > 0 {
		if _, err := AddLedgerEntry(ctx, q, LedgerEntry{UserID: userID, Amount: -actual, Kind: KindRefine,
			Cause: fmt.Sprintf("refine:%d", jobID), JobID: &jobID, Description: description}); err != nil {
			return err
		}
	}
	_, err = q.Exec(ctx, `UPDATE refine_jobs SET charged_credits = $2 WHERE id = $1`, jobID, actual)
	return translate(err)
}

// ReleaseHold returns a job's held credits. Releasing a settled or missing
// hold does nothing and reports released=false, so a failure path can call
// it on every redelivery.
func ReleaseHold(ctx context.Context, q Querier, jobID int64) (released bool, err error) {
	tag, err := q.Exec(ctx, `UPDATE credit_holds SET state = 'released', settled_at = now()
		WHERE job_id = $1 AND state = 'held'`, jobID)
	if err != nil {
		return false, fmt.Errorf("ReleaseHold(job %d): %w", jobID, translate(err))
	}
	return tag.RowsAffected() == 1, nil
}
