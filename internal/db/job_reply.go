package db

import (
	"context"
	"fmt"
)

// JobReply is what a job's reply needs besides the job row (migration
// 00046): kept apart from Job so that the job's own queries stay as they are.
type JobReply struct {
	// ErrorHTML is the failure rendered for Telegram; nil: escape Error.
	ErrorHTML *string
	// ProgressMessageID is the "Working on …" message to edit into the
	// result; nil: send a new message.
	ProgressMessageID *int64
	// RetryNote says why the last delivery handed the job back.
	RetryNote *string
}

// GetJobReply reads a job's reply fields.
func GetJobReply(ctx context.Context, q Querier, id int64) (JobReply, error) {
	var r JobReply
	err := q.QueryRow(ctx, `SELECT error_html, progress_message_id, retry_note FROM refine_jobs WHERE id = $1`, id).
		Scan(&r.ErrorHTML, &r.ProgressMessageID, &r.RetryNote)
	if err != nil {
		return JobReply{}, fmt.Errorf("GetJobReply(%d): %w", id, translate(err))
	}
	return r, nil
}

// SetJobErrorHTML records the failure as rendered for the user.
func SetJobErrorHTML(ctx context.Context, q Querier, id int64, html string) error {
	_, err := q.Exec(ctx, `UPDATE refine_jobs SET error_html = $2 WHERE id = $1`, id, html)
	if err != nil {
		return fmt.Errorf("SetJobErrorHTML(%d): %w", id, translate(err))
	}
	return nil
}

// SetJobProgressMessage records the message that shows the job's progress.
func SetJobProgressMessage(ctx context.Context, q Querier, id, messageID int64) error {
	_, err := q.Exec(ctx, `UPDATE refine_jobs SET progress_message_id = $2 WHERE id = $1`, id, messageID)
	if err != nil {
		return fmt.Errorf("SetJobProgressMessage(%d): %w", id, translate(err))
	}
	return nil
}

// NoteJobRetry records why the delivery that claimed attempt handed the job
// back, and reports whether it did: only while that attempt's job is still
// running (its lease released or not). false once another delivery claimed
// the job or the job finished: that delivery's word is stale, and the
// caller must not tell the user anything either.
func NoteJobRetry(ctx context.Context, q Querier, id int64, attempt int, note string) (bool, error) {
	tag, err := q.Exec(ctx, `UPDATE refine_jobs SET retry_note = $3
		WHERE id = $1 AND state = 'running' AND attempts = $2`, id, attempt, note)
	if err != nil {
		return false, fmt.Errorf("NoteJobRetry(%d): %w", id, translate(err))
	}
	return tag.RowsAffected() == 1, nil
}
