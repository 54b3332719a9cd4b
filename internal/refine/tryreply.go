package refine

import (
	"context"
	"time"

	"github.com/devbot-hq/devbot/internal/db"
)

// TryReply is Reply for a caller that must not wait (the sweeper, which
// tells many jobs within one deadline): a reply another delivery is
// sending is left to it, and TryReply returns at once with a retryable
// error wrapping db.ErrReplyBusy. Otherwise it claims, sends and records
// exactly as Reply does, so a job is still told once whoever tells it.
func (r *Runner) TryReply(ctx context.Context, id int64) error {
	ttl := r.Config.ReplyClaim
	if ttl <= 0 {
		ttl = 90 * time.Second
	}
	j, ok, err := db.ClaimJobReply(ctx, r.DB.Pool, id, ttl)
	if err != nil || !ok {
		return err
	}
	if err := r.send(ctx, r.DB.Pool, j); err != nil {
		if rerr := db.ReleaseJobReply(context.WithoutCancel(ctx), r.DB.Pool, id); rerr != nil {
			r.Logger.WarnContext(ctx, "reply claim not released; the next try waits for it to run out", "job_id", id, "error", rerr.Error())
		}
		return err
	}
	return r.recordReply(ctx, id)
}
