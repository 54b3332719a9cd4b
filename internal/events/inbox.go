package events

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
)

// Inbox runs fn, the effects of a message, in one transaction with the
// record that consumer processed the message under key (a stable id: the
// Telegram update_id, the Stripe event id, the job id). A redelivery finds
// the record, runs nothing and reports duplicate=true: ack it.
//
// When fn returns a permanent error its effects roll back and the rejection
// is recorded under the same key (so a redelivery does not try again), and
// the returned error says it was recorded: Consumer does not record it a
// second time. Any other error rolls back everything, and the message can
// be processed again when it is redelivered. fn may be rerun after a
// serialization failure, so it must have no effects outside tx.
func Inbox(ctx context.Context, d *db.DB, consumer, key string, fn func(ctx context.Context, tx pgx.Tx) error) (duplicate bool, err error) {
	defer fault.Wrap(&err, "Inbox(%s, %s)", consumer, key)
	err = d.InTx(ctx, func(tx pgx.Tx) error {
		duplicate = false
		first, err := db.MarkProcessed(ctx, tx, consumer, key, db.OutcomeDone, "")
		if err != nil {
			return err
		}
		if !first {
			duplicate = true
			return nil
		}
		return fn(ctx, tx)
	})
	if err == nil || !fault.IsPermanent(err) {
		return duplicate, err
	}
	if _, rerr := db.MarkProcessed(ctx, d.Pool, consumer, key, db.OutcomeRejected, truncate(err.Error(), 2000)); rerr != nil {
		// Not recorded: Consumer will try under the message id.
		return false, fmt.Errorf("%w (recording the rejection failed: %v)", err, rerr)
	}
	return false, &recordedError{err}
}

// recordedError marks a permanent error already recorded in the inbox. It
// keeps the chain: fault.KindOf and errors.Is see through it.
type recordedError struct{ err error }

func (e *recordedError) Error() string { return e.err.Error() }
func (e *recordedError) Unwrap() error { return e.err }
