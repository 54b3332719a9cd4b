package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/devbot-hq/devbot/internal/fault"
)

// A running job's lease is its claimed_at, renewed by the delivery that
// runs it (a heartbeat) and fenced by attempts: ClaimJob counts an attempt
// each time it takes the job, so the attempt number a delivery claimed
// with says whether the lease is still its own.

// ErrLeaseLost is returned to a delivery whose lease was taken by another
// (its renewal came too late) or released at shutdown: it must stop and
// record nothing.
var ErrLeaseLost = errors.New("the job's lease is no longer this delivery's")

// RenewJobLease extends the lease the delivery that claimed attempt holds.
// false (no error) when the lease is gone: another delivery claimed the job,
// the job finished, or the lease was released.
func RenewJobLease(ctx context.Context, q Querier, id int64, attempt int) (bool, error) {
	tag, err := q.Exec(ctx, `UPDATE refine_jobs SET claimed_at = now()
		WHERE id = $1 AND state = 'running' AND attempts = $2 AND claimed_at IS NOT NULL`, id, attempt)
	if err != nil {
		return false, fmt.Errorf("RenewJobLease(%d): %w", id, translate(err))
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseJobLeaseOf gives up the lease of attempt only, so that a delivery
// that lost its lease cannot free the one another delivery now holds.
func ReleaseJobLeaseOf(ctx context.Context, q Querier, id int64, attempt int) error {
	if _, err := q.Exec(ctx, `UPDATE refine_jobs SET claimed_at = NULL
		WHERE id = $1 AND state = 'running' AND attempts = $2`, id, attempt); err != nil {
		return fmt.Errorf("ReleaseJobLeaseOf(%d): %w", id, translate(err))
	}
	return nil
}

// HoldJobLease locks the job's row in the caller's transaction and checks
// that attempt still holds it: the fence before a delivery records its
// outcome. A wrapped ErrLeaseLost (retryable: the holder finishes the job,
// and a redelivery finds it finished) when it does not.
func HoldJobLease(ctx context.Context, q Querier, id int64, attempt int) error {
	var state string
	var attempts int
	err := q.QueryRow(ctx, `SELECT state, attempts FROM refine_jobs WHERE id = $1 FOR UPDATE`, id).Scan(&state, &attempts)
	if err != nil {
		return fmt.Errorf("HoldJobLease(%d): %w", id, translate(err))
	}
	if state != JobRunning || attempts != attempt {
		return fault.AsRetryable(fmt.Errorf("HoldJobLease(%d): %w (attempt %d; the job is %s at attempt %d)",
			id, ErrLeaseLost, attempt, state, attempts))
	}
	return nil
}

// JobLeaseRemaining is how long the job's current lease has left (0 when
// it has none or it ran out), and whether the job is still running.
func JobLeaseRemaining(ctx context.Context, q Querier, id int64, lease time.Duration) (time.Duration, bool, error) {
	var state string
	var remaining time.Duration
	err := q.QueryRow(ctx, `SELECT state, greatest(coalesce(claimed_at + $2::interval - now(), '0'), '0')
		FROM refine_jobs WHERE id = $1`, id, lease).Scan(&state, &remaining)
	if err != nil {
		return 0, false, fmt.Errorf("JobLeaseRemaining(%d): %w", id, translate(err))
	}
	return remaining, state == JobRunning, nil
}

// MarkJobPublished records that the job's message was confirmed published
// (by the bot after its commit, or by the sweeper).
func MarkJobPublished(ctx context.Context, q Querier, id int64) error {
	if _, err := q.Exec(ctx, `UPDATE refine_jobs SET published_at = now() WHERE id = $1`, id); err != nil {
		return fmt.Errorf("MarkJobPublished(%d): %w", id, translate(err))
	}
	return nil
}
