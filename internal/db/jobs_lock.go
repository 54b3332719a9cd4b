package db

import (
	"context"
	"fmt"
)

// LockJob reads a job and locks its row until the transaction ends, so that
// of several concurrent deliveries of one job only one tells the user its
// outcome (the others wait, then see reply_sent_at set).
func LockJob(ctx context.Context, q Querier, id int64) (Job, error) {
	j, err := scanJob(q.QueryRow(ctx, `SELECT `+jobColumns+` FROM refine_jobs WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return Job{}, fmt.Errorf("LockJob(%d): %w", id, err)
	}
	return j, nil
}

// FailQueuedJob is FailJob for a job no consumer has claimed yet: a job
// that is running (or finished) is left alone and failed=false. It is for
// the bot giving up on an update whose job may never have been published.
func FailQueuedJob(ctx context.Context, q Querier, id int64, f JobFailure) (failed bool, err error) {
	var state string
	if err := q.QueryRow(ctx, `SELECT state FROM refine_jobs WHERE id = $1 FOR UPDATE`, id).Scan(&state); err != nil {
		return false, fmt.Errorf("FailQueuedJob(%d): %w", id, translate(err))
	}
	if state != JobQueued {
		return false, nil
	}
	return FailJob(ctx, q, id, f)
}
