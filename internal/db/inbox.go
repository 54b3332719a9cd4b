package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Inbox outcomes.
const (
	OutcomeDone     = "done"
	OutcomeRejected = "rejected"
	OutcomeGaveUp   = "gave_up"
)

// MarkProcessed records that consumer handled the message with key. Call it
// in the transaction that carries the message's effects: first=false means
// an earlier delivery already committed them, so this one must do nothing
// (roll back and ack). A concurrent duplicate waits on the first one's
// unique-key lock and then sees first=false.
func MarkProcessed(ctx context.Context, q Querier, consumer, key, outcome, detail string) (first bool, err error) {
	tag, err := q.Exec(ctx, `INSERT INTO processed_messages (consumer, message_key, outcome, detail)
		VALUES ($1, $2, $3, $4) ON CONFLICT (consumer, message_key) DO NOTHING`, consumer, key, outcome, detail)
	if err != nil {
		return false, fmt.Errorf("MarkProcessed(%s, %s): %w", consumer, key, translate(err))
	}
	return tag.RowsAffected() == 1, nil
}

// Processed is an inbox record.
type Processed struct {
	Outcome string
	Detail  string
	Replied bool
}

// LookupProcessed reads the inbox; found=false when the message is new.
func LookupProcessed(ctx context.Context, q Querier, consumer, key string) (p Processed, found bool, err error) {
	err = q.QueryRow(ctx, `SELECT outcome, detail, replied_at IS NOT NULL FROM processed_messages
		WHERE consumer = $1 AND message_key = $2`, consumer, key).Scan(&p.Outcome, &p.Detail, &p.Replied)
	if errors.Is(err, pgx.ErrNoRows) {
		return Processed{}, false, nil
	}
	if err != nil {
		return Processed{}, false, fmt.Errorf("LookupProcessed(%s, %s): %w", consumer, key, translate(err))
	}
	return p, true, nil
}

// MarkReplied records that the user was answered for a processed message.
// It reports whether this call set it (false: already answered).
func MarkReplied(ctx context.Context, q Querier, consumer, key string) (bool, error) {
	tag, err := q.Exec(ctx, `UPDATE processed_messages SET replied_at = now()
		WHERE consumer = $1 AND message_key = $2 AND replied_at IS NULL`, consumer, key)
	if err != nil {
		return false, fmt.Errorf("MarkReplied(%s, %s): %w", consumer, key, translate(err))
	}
	return tag.RowsAffected() == 1, nil
}

// LockProcessed reads an inbox record and locks it until the transaction
// ends, so that of several concurrent deliveries of one message only one
// sends the reply (the others wait, then see it replied).
func LockProcessed(ctx context.Context, q Querier, consumer, key string) (p Processed, found bool, err error) {
	err = q.QueryRow(ctx, `SELECT outcome, detail, replied_at IS NOT NULL FROM processed_messages
		WHERE consumer = $1 AND message_key = $2 FOR UPDATE`, consumer, key).Scan(&p.Outcome, &p.Detail, &p.Replied)
	if errors.Is(err, pgx.ErrNoRows) {
		return Processed{}, false, nil
	}
	if err != nil {
		return Processed{}, false, fmt.Errorf("LockProcessed(%s, %s): %w", consumer, key, translate(err))
	}
	return p, true, nil
}
