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

// Build states (see migration 00058).
const (
	BuildNew        = "new"
	BuildClarifying = "clarifying"
	BuildProposing  = "proposing"
	BuildProposed   = "proposed"
	BuildRevising   = "revising"
	BuildRunning    = "running"
	BuildPaused     = "paused"
	BuildBlocked    = "blocked"
	BuildDone       = "done"
	BuildCancelled  = "cancelled"
	BuildFailed     = "failed"
)

// Build is a project built from a description.
type Build struct {
	ID                int64
	UserID            int64
	ProjectID         string
	ChatID            int64
	SourceUpdateID    *int64
	State             string
	PauseReason       *string
	Description       string
	Thread            []Turn
	Spec              json.RawMessage
	CurrentTask       int
	EstimateCredits   int64
	ChargedCredits    int64
	PromptTokens      int64
	CompletionTokens  int64
	CostUSD           float64
	StepSeq           int64
	PublishedSeq      int64
	Attempts          int
	ClaimedAt         *time.Time
	ProgressMessageID *int64
	ProgressHTML      *string
	Error             *string
	CreatedAt         time.Time
	UpdatedAt         time.Time
	StartedAt         *time.Time
	FinishedAt        *time.Time
}

// Final reports whether the build ended.
func (b Build) Final() bool {
	return b.State == BuildDone || b.State == BuildCancelled || b.State == BuildFailed
}

// Stepping reports whether the build's state is one a step message runs.
func (b Build) Stepping() bool {
	switch b.State {
	case BuildNew, BuildProposing, BuildRevising, BuildRunning:
		return true
	}
	return false
}

const buildColumns = `id, user_id, project_id::text, chat_id, source_update_id, state, pause_reason, description, thread,
	spec, current_task, estimate_credits, charged_credits, prompt_tokens, completion_tokens, cost_usd::float8, step_seq,
	published_seq, attempts, claimed_at, progress_message_id, progress_html, error, created_at, updated_at, started_at, finished_at`

func scanBuild(row pgx.Row) (Build, error) {
	var b Build
	var spec []byte
	err := row.Scan(&b.ID, &b.UserID, &b.ProjectID, &b.ChatID, &b.SourceUpdateID, &b.State, &b.PauseReason, &b.Description,
		&b.Thread, &spec, &b.CurrentTask, &b.EstimateCredits, &b.ChargedCredits, &b.PromptTokens, &b.CompletionTokens,
		&b.CostUSD, &b.StepSeq, &b.PublishedSeq, &b.Attempts, &b.ClaimedAt, &b.ProgressMessageID, &b.ProgressHTML, &b.Error,
		&b.CreatedAt, &b.UpdatedAt, &b.StartedAt, &b.FinishedAt)
	if spec != nil {
		b.Spec = spec
	}
	return b, translate(err)
}

// NewBuild is a build to create.
type NewBuild struct {
	UserID         int64
	ProjectID      string
	ChatID         int64
	SourceUpdateID *int64
	Description    string
}

// CreateBuild records a new build (state new, at step 1).
func CreateBuild(ctx context.Context, q Querier, nb NewBuild) (Build, error) {
	b, err := scanBuild(q.QueryRow(ctx, `INSERT INTO builds (user_id, project_id, chat_id, source_update_id, description)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+buildColumns, nb.UserID, nb.ProjectID, nb.ChatID, nb.SourceUpdateID, nb.Description))
	if err != nil {
		return Build{}, fmt.Errorf("CreateBuild: %w", err)
	}
	return b, nil
}

// GetBuild reads a build.
func GetBuild(ctx context.Context, q Querier, id int64) (Build, error) {
	b, err := scanBuild(q.QueryRow(ctx, `SELECT `+buildColumns+` FROM builds WHERE id = $1`, id))
	if err != nil {
		return Build{}, fmt.Errorf("GetBuild(%d): %w", id, err)
	}
	return b, nil
}

// LockBuild reads a build FOR UPDATE, only if it is the user's (userID 0:
// anyone's).
func LockBuild(ctx context.Context, q Querier, userID, id int64) (Build, error) {
	b, err := scanBuild(q.QueryRow(ctx, `SELECT `+buildColumns+` FROM builds WHERE id = $1 AND ($2 = 0 OR user_id = $2) FOR UPDATE`,
		id, userID))
	if err != nil {
		return Build{}, fmt.Errorf("LockBuild(%d): %w", id, err)
	}
	return b, nil
}

// LatestBuild is the user's newest build that has not ended, or the newest
// of all when none is going on.
func LatestBuild(ctx context.Context, q Querier, userID int64) (Build, error) {
	b, err := scanBuild(q.QueryRow(ctx, `SELECT `+buildColumns+` FROM builds WHERE user_id = $1
		ORDER BY (state NOT IN ('done', 'cancelled', 'failed')) DESC, id DESC LIMIT 1`, userID))
	if err != nil {
		return Build{}, fmt.Errorf("LatestBuild(%d): %w", userID, err)
	}
	return b, nil
}

// SaveBuild writes a build's mutable fields (in the caller's transaction,
// on a row it locked).
func SaveBuild(ctx context.Context, q Querier, b Build) error {
	thread := b.Thread
	if thread == nil {
		thread = []Turn{}
	}
	// JSON goes as text: in DATABASE_EXEC_MODE=exec (behind a transaction
	// pooler) pgx cannot encode a Go value for a parameter of unknown type.
	tj, err := json.Marshal(thread)
	if err != nil {
		return fmt.Errorf("SaveBuild(%d): %w", b.ID, err)
	}
	var spec any
	if len(b.Spec) > 0 {
		spec = string(b.Spec)
	}
	_, err = q.Exec(ctx, `UPDATE builds SET state = $2, pause_reason = $3, thread = $4, spec = $5, current_task = $6,
		estimate_credits = $7, charged_credits = $8, prompt_tokens = $9, completion_tokens = $10, cost_usd = $11,
		step_seq = $12, progress_html = $13, error = $14, started_at = $15, finished_at = $16, updated_at = now()
		WHERE id = $1`,
		b.ID, b.State, b.PauseReason, string(tj), spec, b.CurrentTask, b.EstimateCredits, b.ChargedCredits, b.PromptTokens,
		b.CompletionTokens, b.CostUSD, b.StepSeq, b.ProgressHTML, b.Error, b.StartedAt, b.FinishedAt)
	if err != nil {
		return fmt.Errorf("SaveBuild(%d): %w", b.ID, translate(err))
	}
	return nil
}

// ErrBuildStale: a step message the build has moved past (or a build that
// ended); acknowledged without doing anything.
var ErrBuildStale = errors.New("the build is past this step")

// ErrBuildBusy: another delivery holds the build's lease.
var ErrBuildBusy = errors.New("the build's step is being run by another delivery")

// ClaimBuild takes the lease of a build at step seq, counting the attempt.
// A stale step is a permanent error wrapping ErrBuildStale (with the build,
// so the caller can make sure its current step is published); a live lease
// a retryable one wrapping ErrBuildBusy.
func ClaimBuild(ctx context.Context, q Querier, id, seq int64, lease time.Duration) (Build, error) {
	b, err := scanBuild(q.QueryRow(ctx, `UPDATE builds SET attempts = attempts + 1, claimed_at = now(),
		published_seq = greatest(published_seq, $2)
		WHERE id = $1 AND step_seq = $2 AND state IN ('new', 'proposing', 'revising', 'running')
		  AND (claimed_at IS NULL OR claimed_at <= now() - $3::interval)
		RETURNING `+buildColumns, id, seq, lease))
	if !errors.Is(err, fault.ErrNotFound) {
		if err != nil {
			return Build{}, fmt.Errorf("ClaimBuild(%d): %w", id, err)
		}
		return b, nil
	}
	cur, err := GetBuild(ctx, q, id)
	if err != nil {
		return Build{}, err
	}
	if cur.StepSeq != seq || !cur.Stepping() {
		return cur, fault.AsPermanent(fmt.Errorf("ClaimBuild(%d, step %d): %w (at step %d, %s)", id, seq, ErrBuildStale, cur.StepSeq, cur.State))
	}
	return cur, fault.RetryAfter(fmt.Errorf("ClaimBuild(%d): %w", id, ErrBuildBusy), lease)
}

// HoldBuildLease checks, in the caller's transaction, that attempt still
// holds the build's lease at step seq, and locks the row: the fence of a
// step's commit.
func HoldBuildLease(ctx context.Context, q Querier, id, seq int64, attempt int) (Build, error) {
	b, err := scanBuild(q.QueryRow(ctx, `SELECT `+buildColumns+` FROM builds WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return Build{}, fmt.Errorf("HoldBuildLease(%d): %w", id, err)
	}
	if b.StepSeq != seq || b.Attempts != attempt || b.ClaimedAt == nil {
		return b, fault.AsPermanent(fmt.Errorf("HoldBuildLease(%d): %w", id, ErrLeaseLost))
	}
	return b, nil
}

// ReleaseBuildLease gives the lease up (the step committed, or failed and
// is handed back).
func ReleaseBuildLease(ctx context.Context, q Querier, id int64, attempt int) error {
	if _, err := q.Exec(ctx, `UPDATE builds SET claimed_at = NULL WHERE id = $1 AND attempts = $2`, id, attempt); err != nil {
		return fmt.Errorf("ReleaseBuildLease(%d): %w", id, translate(err))
	}
	return nil
}

// RenewBuildLease extends attempt's lease; false when it was taken.
func RenewBuildLease(ctx context.Context, q Querier, id int64, attempt int) (bool, error) {
	tag, err := q.Exec(ctx, `UPDATE builds SET claimed_at = now() WHERE id = $1 AND attempts = $2 AND claimed_at IS NOT NULL`, id, attempt)
	if err != nil {
		return false, fmt.Errorf("RenewBuildLease(%d): %w", id, translate(err))
	}
	return tag.RowsAffected() == 1, nil
}

// MarkBuildPublished records that step seq's message was published.
func MarkBuildPublished(ctx context.Context, q Querier, id, seq int64) error {
	if _, err := q.Exec(ctx, `UPDATE builds SET published_seq = greatest(published_seq, $2) WHERE id = $1`, id, seq); err != nil {
		return fmt.Errorf("MarkBuildPublished(%d): %w", id, translate(err))
	}
	return nil
}

// StalledBuilds lists builds (at most limit) whose current step needs a
// message: never published, or claimed by a lease that ran out, or left
// unclaimed for idle (its message lost). Locked with SKIP LOCKED so two
// sweeps take different ones.
func StalledBuilds(ctx context.Context, q Querier, lease, idle time.Duration, limit int) ([]Build, error) {
	rows, err := q.Query(ctx, `SELECT `+buildColumns+` FROM builds
		WHERE state IN ('new', 'proposing', 'revising', 'running')
		  AND (published_seq < step_seq
		       OR (claimed_at IS NOT NULL AND claimed_at <= now() - $1::interval)
		       OR (claimed_at IS NULL AND updated_at <= now() - $2::interval))
		ORDER BY updated_at LIMIT $3 FOR UPDATE SKIP LOCKED`, lease, idle, limit)
	if err != nil {
		return nil, fmt.Errorf("StalledBuilds: %w", translate(err))
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Build, error) { return scanBuild(r) })
	if err != nil {
		return nil, fmt.Errorf("StalledBuilds: %w", err)
	}
	return bs, nil
}

// TouchBuild stamps a build as seen by the sweeper (so it is not picked up
// again at once).
func TouchBuild(ctx context.Context, q Querier, id int64) error {
	if _, err := q.Exec(ctx, `UPDATE builds SET updated_at = now(), claimed_at = NULL WHERE id = $1`, id); err != nil {
		return fmt.Errorf("TouchBuild(%d): %w", id, translate(err))
	}
	return nil
}

// SetBuildProgressMessage records the progress message the build edits.
func SetBuildProgressMessage(ctx context.Context, q Querier, id, messageID int64) error {
	if _, err := q.Exec(ctx, `UPDATE builds SET progress_message_id = $2 WHERE id = $1`, id, messageID); err != nil {
		return fmt.Errorf("SetBuildProgressMessage(%d): %w", id, translate(err))
	}
	return nil
}
