package db

import (
	"context"
	"fmt"
)

// Queries the Telegram bot (internal/bot, internal/refine) adds to the store.

// JobBySourceUpdate finds the job a Telegram update created, so a redelivery
// of that update can publish it again instead of creating a second one.
func JobBySourceUpdate(ctx context.Context, q Querier, updateID int64) (Job, error) {
	j, err := scanJob(q.QueryRow(ctx, `SELECT `+jobColumns+` FROM refine_jobs WHERE source_update_id = $1`, updateID))
	if err != nil {
		return Job{}, fmt.Errorf("JobBySourceUpdate(%d): %w", updateID, err)
	}
	return j, nil
}

// SetProcessed records a processed message's final outcome and detail
// (MarkProcessed inserts the row first, at the start of the transaction, so
// a concurrent duplicate waits on it before doing anything).
func SetProcessed(ctx context.Context, q Querier, consumer, key, outcome, detail string) error {
	_, err := q.Exec(ctx, `UPDATE processed_messages SET outcome = $3, detail = $4
		WHERE consumer = $1 AND message_key = $2`, consumer, key, outcome, detail)
	if err != nil {
		return fmt.Errorf("SetProcessed(%s, %s): %w", consumer, key, translate(err))
	}
	return nil
}
