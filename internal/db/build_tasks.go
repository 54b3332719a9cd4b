package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/fault"
)

// Build task states.
const (
	TaskPending  = "pending"
	TaskRunning  = "running"
	TaskApproved = "approved"
	TaskFailed   = "failed"
	TaskSkipped  = "skipped"
)

// BuildTask is one task of a build's spec and how it went.
type BuildTask struct {
	BuildID          int64
	N                int // 1-based
	Task             json.RawMessage
	State            string
	Round            int
	Feedback         *string // what the last round's checks or review asked for
	Rounds           []TaskRound
	PromptTokens     int64
	CompletionTokens int64
	CostUSD          float64
	ChargedCredits   int64
}

// TaskRound is one round of a task: the change set it made, the static
// checks' report, the review's verdict, and what its model calls cost.
type TaskRound struct {
	Round            int      `json:"round"`
	ChangeSetID      int64    `json:"change_set,omitempty"`
	Files            []string `json:"files,omitempty"`
	Checks           string   `json:"checks,omitempty"`
	Approved         bool     `json:"approved"`
	Reasons          []string `json:"reasons,omitempty"`
	Error            string   `json:"error,omitempty"`
	PromptTokens     int      `json:"prompt_tokens"`
	CompletionTokens int      `json:"completion_tokens"`
	CostUSD          float64  `json:"cost_usd"`
}

const taskColumns = `build_id, n, task, state, round, feedback, rounds, prompt_tokens, completion_tokens, cost_usd::float8, charged_credits`

func scanTask(row pgx.Row) (BuildTask, error) {
	var t BuildTask
	var task []byte
	err := row.Scan(&t.BuildID, &t.N, &task, &t.State, &t.Round, &t.Feedback, &t.Rounds, &t.PromptTokens, &t.CompletionTokens,
		&t.CostUSD, &t.ChargedCredits)
	t.Task = task
	return t, translate(err)
}

// ReplaceBuildTasks writes a build's task list anew (a spec, or a revised
// one, before the build starts).
func ReplaceBuildTasks(ctx context.Context, q Querier, buildID int64, tasks []json.RawMessage) error {
	if _, err := q.Exec(ctx, `DELETE FROM build_tasks WHERE build_id = $1`, buildID); err != nil {
		return fmt.Errorf("ReplaceBuildTasks(%d): %w", buildID, translate(err))
	}
	for i, t := range tasks {
		if _, err := q.Exec(ctx, `INSERT INTO build_tasks (build_id, n, task) VALUES ($1, $2, $3)`, buildID, i+1, string(t)); err != nil {
			return fmt.Errorf("ReplaceBuildTasks(%d): %w", buildID, translate(err))
		}
	}
	return nil
}

// BuildTasks lists a build's tasks in order.
func BuildTasks(ctx context.Context, q Querier, buildID int64) ([]BuildTask, error) {
	rows, err := q.Query(ctx, `SELECT `+taskColumns+` FROM build_tasks WHERE build_id = $1 ORDER BY n`, buildID)
	if err != nil {
		return nil, fmt.Errorf("BuildTasks(%d): %w", buildID, translate(err))
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BuildTask, error) { return scanTask(r) })
	if err != nil {
		return nil, fmt.Errorf("BuildTasks(%d): %w", buildID, err)
	}
	return ts, nil
}

// SaveBuildTask writes a task's mutable fields.
func SaveBuildTask(ctx context.Context, q Querier, t BuildTask) error {
	rounds := t.Rounds
	if rounds == nil {
		rounds = []TaskRound{}
	}
	rj, err := json.Marshal(rounds) // as text, for exec mode (see SaveBuild)
	if err != nil {
		return fmt.Errorf("SaveBuildTask(%d/%d): %w", t.BuildID, t.N, err)
	}
	_, err = q.Exec(ctx, `UPDATE build_tasks SET task = $3, state = $4, round = $5, feedback = $6, rounds = $7,
		prompt_tokens = $8, completion_tokens = $9, cost_usd = $10, charged_credits = $11 WHERE build_id = $1 AND n = $2`,
		t.BuildID, t.N, string(t.Task), t.State, t.Round, t.Feedback, string(rj), t.PromptTokens, t.CompletionTokens, t.CostUSD,
		t.ChargedCredits)
	if err != nil {
		return fmt.Errorf("SaveBuildTask(%d/%d): %w", t.BuildID, t.N, translate(err))
	}
	return nil
}

// OutboxItem is a message a build sends: kind "message" (new), "progress"
// (the progress message, edited in place; sent new the first time) or
// "zip" (the project as a document).
type OutboxItem struct {
	ID      int64
	BuildID int64
	Kind    string
	HTML    string
	Buttons json.RawMessage
}

// AddOutbox queues a message of the build, in the step's transaction.
func AddOutbox(ctx context.Context, q Querier, buildID int64, kind, html string, buttons json.RawMessage) error {
	var b any
	if len(buttons) > 0 {
		b = string(buttons)
	}
	if _, err := q.Exec(ctx, `INSERT INTO build_outbox (build_id, kind, html, buttons) VALUES ($1, $2, $3, $4)`,
		buildID, kind, html, b); err != nil {
		return fmt.Errorf("AddOutbox(%d): %w", buildID, translate(err))
	}
	return nil
}

// ErrOutboxBusy: another delivery is sending the build's next message.
var ErrOutboxBusy = errors.New("the build's message is being sent by another delivery")

// ClaimOutbox claims the build's oldest unsent message for ttl. Progress
// edits that a later one supersedes are marked sent unsent (only the
// newest state of the progress message matters). ok=false when nothing is
// left.
func ClaimOutbox(ctx context.Context, q Querier, buildID int64, ttl time.Duration) (OutboxItem, bool, error) {
	var it OutboxItem
	err := atomically(ctx, q, func(q Querier) error {
		// Superseded progress edits: an unsent progress row with a newer
		// unsent progress row after it and no other kind between.
		if _, err := q.Exec(ctx, `UPDATE build_outbox o SET sent_at = now() WHERE o.build_id = $1 AND o.kind = 'progress'
			AND o.sent_at IS NULL AND o.claimed_at IS NULL
			AND EXISTS (SELECT 1 FROM build_outbox n WHERE n.build_id = o.build_id AND n.id > o.id AND n.kind = 'progress' AND n.sent_at IS NULL)
			AND NOT EXISTS (SELECT 1 FROM build_outbox m WHERE m.build_id = o.build_id AND m.id > o.id AND m.kind <> 'progress' AND m.sent_at IS NULL
				AND m.id < (SELECT max(id) FROM build_outbox p WHERE p.build_id = o.build_id AND p.kind = 'progress' AND p.sent_at IS NULL))`,
			buildID); err != nil {
			return translate(err)
		}
		var buttons []byte
		err := q.QueryRow(ctx, `SELECT id, build_id, kind, html, buttons FROM build_outbox WHERE build_id = $1 AND sent_at IS NULL
			ORDER BY id LIMIT 1 FOR UPDATE`, buildID).Scan(&it.ID, &it.BuildID, &it.Kind, &it.HTML, &buttons)
		if err != nil {
			return translate(err)
		}
		it.Buttons = buttons
		tag, err := q.Exec(ctx, `UPDATE build_outbox SET claimed_at = now() WHERE id = $1
			AND (claimed_at IS NULL OR claimed_at <= now() - $2::interval)`, it.ID, ttl)
		if err != nil {
			return translate(err)
		}
		if tag.RowsAffected() == 0 {
			return fault.AsRetryable(ErrOutboxBusy)
		}
		return nil
	})
	if errors.Is(err, fault.ErrNotFound) {
		return OutboxItem{}, false, nil
	}
	if err != nil {
		return OutboxItem{}, false, fmt.Errorf("ClaimOutbox(%d): %w", buildID, err)
	}
	return it, true, nil
}

// MarkOutboxSent records that a claimed message went out.
func MarkOutboxSent(ctx context.Context, q Querier, id int64) error {
	if _, err := q.Exec(ctx, `UPDATE build_outbox SET sent_at = now() WHERE id = $1`, id); err != nil {
		return fmt.Errorf("MarkOutboxSent(%d): %w", id, translate(err))
	}
	return nil
}

// ReleaseOutbox gives a claim up after a failed send, so the retry can
// claim it at once.
func ReleaseOutbox(ctx context.Context, q Querier, id int64) error {
	if _, err := q.Exec(ctx, `UPDATE build_outbox SET claimed_at = NULL WHERE id = $1 AND sent_at IS NULL`, id); err != nil {
		return fmt.Errorf("ReleaseOutbox(%d): %w", id, translate(err))
	}
	return nil
}

// BuildsWithUnsentMessages lists builds with a message left unsent for
// longer than idle (the sweeper sends them).
func BuildsWithUnsentMessages(ctx context.Context, q Querier, idle time.Duration, limit int) ([]int64, error) {
	rows, err := q.Query(ctx, `SELECT DISTINCT build_id FROM build_outbox WHERE sent_at IS NULL
		AND created_at <= now() - $1::interval AND (claimed_at IS NULL OR claimed_at <= now() - $1::interval) LIMIT $2`, idle, limit)
	if err != nil {
		return nil, fmt.Errorf("BuildsWithUnsentMessages: %w", translate(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("BuildsWithUnsentMessages: %w", translate(err))
	}
	return ids, nil
}

// HoldBuildCredits reserves amount for a build (fault.ErrInsufficient when
// the available balance cannot cover it; a second hold is
// fault.ErrConflict).
func HoldBuildCredits(ctx context.Context, q Querier, buildID, userID, amount int64) error {
	if _, err := q.Exec(ctx, `INSERT INTO credit_holds (build_id, user_id, amount) VALUES ($1, $2, $3)`, buildID, userID, amount); err != nil {
		return fmt.Errorf("HoldBuildCredits(%d): %w", buildID, translate(err))
	}
	return nil
}

// BuildHeld is what is left of a build's hold (0 when none or settled).
func BuildHeld(ctx context.Context, q Querier, buildID int64) (int64, error) {
	var n int64
	err := q.QueryRow(ctx, `SELECT coalesce(sum(amount), 0)::bigint FROM credit_holds WHERE build_id = $1 AND state = 'held'`, buildID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("BuildHeld(%d): %w", buildID, translate(err))
	}
	return n, nil
}

// ChargeBuild debits amount for one cause of a build ("build:<id>:task:<n>"),
// taking it from the build's hold first (which shrinks) and then from the
// user's free balance; what neither covers is not charged and returned as
// short. A cause charged before charges nothing again (charged = 0). The
// build's own total (builds.charged_credits) is the caller's to keep: it
// holds the build row.
func ChargeBuild(ctx context.Context, q Querier, buildID, userID int64, cause string, amount int64, description string) (charged, short int64, err error) {
	defer fault.Wrap(&err, "ChargeBuild(%d, %s)", buildID, cause)
	if amount <= 0 {
		return 0, 0, nil
	}
	var exists bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM credit_ledger WHERE cause = $1)`, cause).Scan(&exists); err != nil {
		return 0, 0, translate(err)
	}
	if exists {
		return 0, 0, nil
	}
	u, err := LockUser(ctx, q, userID)
	if err != nil {
		return 0, 0, err
	}
	var hold int64
	err = q.QueryRow(ctx, `SELECT amount FROM credit_holds WHERE build_id = $1 AND state = 'held' FOR UPDATE`, buildID).Scan(&hold)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, translate(err)
	}
	fromHold := min(hold, amount)
	fromFree := min(amount-fromHold, u.Available())
	charged = fromHold + fromFree
	short = amount - charged
	if fromHold > 0 {
		if _, err := q.Exec(ctx, `UPDATE credit_holds SET amount = amount - $2 WHERE build_id = $1 AND state = 'held'`, buildID, fromHold); err != nil {
			return 0, 0, translate(err)
		}
	}
	if charged > 0 {
		bid := buildID
		if _, err := AddLedgerEntry(ctx, q, LedgerEntry{UserID: userID, Amount: -charged, Kind: KindBuild, Cause: cause,
			BuildID: &bid, Description: description}); err != nil {
			return 0, 0, err
		}
	}
	return charged, short, nil
}

// ReleaseBuildHold returns what is left of a build's hold.
func ReleaseBuildHold(ctx context.Context, q Querier, buildID int64) (int64, error) {
	var n int64
	err := q.QueryRow(ctx, `UPDATE credit_holds SET state = 'released', settled_at = now()
		WHERE build_id = $1 AND state = 'held' RETURNING amount`, buildID).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("ReleaseBuildHold(%d): %w", buildID, translate(err))
	}
	return n, nil
}
