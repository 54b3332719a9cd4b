package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/devbot-hq/devbot/internal/fault"
)

// ErrReplyBusy is returned while another delivery is sending a job's reply.
var ErrReplyBusy = errors.New("another delivery is sending the job's reply")

// ClaimJobReply records, in its own short transaction (q should be the
// pool), that this delivery is about to send the finished job's reply. ok
// is false when there is nothing to send (the job is not finished, or its
// reply was recorded); a wrapped, retryable ErrReplyBusy while another
// delivery's claim is younger than ttl. A claim older than ttl without a
// recorded reply is taken over: its sender died, or the database stayed
// away, between sending and recording.
func ClaimJobReply(ctx context.Context, q Querier, id int64, ttl time.Duration) (j Job, ok bool, err error) {
	j, err = scanJob(q.QueryRow(ctx, `UPDATE refine_jobs SET reply_claimed_at = now()
		WHERE id = $1 AND state IN ('succeeded', 'failed', 'rejected') AND reply_sent_at IS NULL
			AND (reply_claimed_at IS NULL OR reply_claimed_at <= now() - $2::interval)
		RETURNING `+jobColumns, id, ttl))
	if err == nil {
		return j, true, nil
	}
	if !errors.Is(err, fault.ErrNotFound) {
		return Job{}, false, fmt.Errorf("ClaimJobReply(%d): %w", id, err)
	}
	var remaining time.Duration
	err = q.QueryRow(ctx, `SELECT `+jobColumns+`, greatest(coalesce(reply_claimed_at + $2::interval - now(), '0'), '0')
		FROM refine_jobs WHERE id = $1`, id, ttl).Scan(append(jobDest(&j), &remaining)...)
	if err != nil {
		return Job{}, false, fmt.Errorf("ClaimJobReply(%d): %w", id, translate(err))
	}
	if !j.Final() || j.ReplySentAt != nil {
		return j, false, nil
	}
	return j, false, fault.RetryAfter(fmt.Errorf("ClaimJobReply(%d): %w", id, ErrReplyBusy), remaining+time.Second)
}

// ReleaseJobReply drops this delivery's claim after a send that failed, so
// the redelivery sends at once.
func ReleaseJobReply(ctx context.Context, q Querier, id int64) error {
	if _, err := q.Exec(ctx, `UPDATE refine_jobs SET reply_claimed_at = NULL WHERE id = $1 AND reply_sent_at IS NULL`, id); err != nil {
		return fmt.Errorf("ReleaseJobReply(%d): %w", id, translate(err))
	}
	return nil
}
