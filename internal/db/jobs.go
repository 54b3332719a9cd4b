package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/fault"
)

// Job states. The schema enforces the machine:
//
//	queued ──▶ running ──▶ succeeded
//	  │          │ ▲  └──▶ failed | rejected
//	  │          └─┘ (redelivery: attempts+1)
//	  └──▶ failed | rejected (gave up before it ran)
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"   // could not be done (model, conflict, gave up); credits released
	JobRejected  = "rejected" // refused as asked (bad input); credits released
)

// Job modes.
const (
	ModeDirect = "direct" // the instruction carries edit blocks or a diff
	ModeLLM    = "llm"
	ModeAider  = "aider"
)

// Job is a refinement request and its recorded outcome.
type Job struct {
	ID               int64
	UserID           int64
	ProjectID        string
	Path             string
	Instruction      string
	Mode             string
	State            string
	Attempts         int
	ChatID           int64
	SourceUpdateID   *int64
	BaseVersion      *int
	ResultVersion    *int
	BeforeSHA256     *string
	AfterSHA256      *string
	Diff             *string
	Model            *string
	PromptTokens     int
	CompletionTokens int
	CostUSD          float64
	HoldCredits      int64
	ChargedCredits   int64
	EditAttempts     int
	EditBlocks       *int // blocks the editor applied (NULL before migration 00021)
	DurationMS       *int64
	Error            *string
	ErrorKind        *string
	ReplySentAt      *time.Time
	CreatedAt        time.Time
	StartedAt        *time.Time
	FinishedAt       *time.Time
	// Scope is ScopeFile (the open file's one-file refinement) or
	// ScopeProject (a change set of the project, focused on Path when set).
	Scope       string
	ChangeSetID *int64  // the change set a project job made
	Question    *string // the model asked this instead of editing
	Follows     *int64  // the job whose question this one's instruction answers
	Thread      []Turn  // the conversation before this job's instruction
	ModelReply  *string // the model's last reply (a question's thread goes on from it)
}

// Job scopes.
const (
	ScopeFile    = "file"
	ScopeProject = "project"
)

// Turn is one message of a job's conversation with the model.
type Turn struct {
	Role string `json:"role"` // "user" or "assistant"
	Text string `json:"text"`
}

// Final reports whether the job reached a final state.
func (j Job) Final() bool {
	return j.State == JobSucceeded || j.State == JobFailed || j.State == JobRejected
}

const jobColumns = `id, user_id, project_id::text, path, instruction, mode, state, attempts, chat_id, source_update_id,
	base_version, result_version, before_sha256, after_sha256, diff, model, prompt_tokens, completion_tokens,
	cost_usd::float8, hold_credits, charged_credits, edit_attempts, duration_ms, error, error_kind, reply_sent_at,
	created_at, started_at, finished_at, edit_blocks, scope, change_set_id, question, follows, thread, model_reply`

// createdJobColumns is jobColumns of CreateJob's CTE j.
var createdJobColumns = func() string {
	cols := strings.Split(jobColumns, ",")
	for i, c := range cols {
		cols[i] = "j." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}()

func scanJob(row pgx.Row) (Job, error) {
	var j Job
	err := row.Scan(jobDest(&j)...)
	return j, translate(err)
}

// jobDest is where jobColumns scan to.
func jobDest(j *Job) []any {
	return []any{&j.ID, &j.UserID, &j.ProjectID, &j.Path, &j.Instruction, &j.Mode, &j.State, &j.Attempts,
		&j.ChatID, &j.SourceUpdateID, &j.BaseVersion, &j.ResultVersion, &j.BeforeSHA256, &j.AfterSHA256, &j.Diff,
		&j.Model, &j.PromptTokens, &j.CompletionTokens, &j.CostUSD, &j.HoldCredits, &j.ChargedCredits,
		&j.EditAttempts, &j.DurationMS, &j.Error, &j.ErrorKind, &j.ReplySentAt, &j.CreatedAt, &j.StartedAt, &j.FinishedAt,
		&j.EditBlocks, &j.Scope, &j.ChangeSetID, &j.Question, &j.Follows, &j.Thread, &j.ModelReply}
}

// NewJob is a refinement to queue.
type NewJob struct {
	UserID         int64
	ProjectID      string
	Path           string
	Instruction    string
	Mode           string
	ChatID         int64
	SourceUpdateID *int64
	HoldCredits    int64
	Scope          string // ScopeFile when empty
	Follows        *int64
	Thread         []Turn
}

// CreateJob queues a job and holds its credits, in the caller's transaction.
// fault.ErrInsufficient when the user's available credits do not cover the
// hold; fault.ErrConflict when the source update already made a job.
func CreateJob(ctx context.Context, q Querier, nj NewJob) (Job, error) {
	if nj.Scope == "" {
		nj.Scope = ScopeFile
	}
	var thread any
	if len(nj.Thread) > 0 {
		tj, err := json.Marshal(nj.Thread) // as text, for exec mode (see SaveBuild)
		if err != nil {
			return Job{}, fmt.Errorf("CreateJob: %w", err)
		}
		thread = string(tj)
	}
	// The hold goes in the same statement (one round trip); the balance
	// trigger still refuses a hold the user cannot cover, failing it whole.
	j, err := scanJob(q.QueryRow(ctx, `WITH j AS (INSERT INTO refine_jobs
		(user_id, project_id, path, instruction, mode, chat_id, source_update_id, hold_credits, scope, follows, thread)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *), h AS (
		INSERT INTO credit_holds (job_id, user_id, amount) SELECT id, user_id, hold_credits FROM j WHERE hold_credits > 0)
		SELECT `+createdJobColumns+` FROM j`,
		nj.UserID, nj.ProjectID, nj.Path, nj.Instruction, nj.Mode, nj.ChatID, nj.SourceUpdateID, nj.HoldCredits,
		nj.Scope, nj.Follows, thread))
	if err != nil {
		return Job{}, fmt.Errorf("CreateJob(%s, %q): %w", nj.ProjectID, nj.Path, err)
	}
	return j, nil
}

// GetJob reads a job by id, whoever owns it (for consumers).
func GetJob(ctx context.Context, q Querier, id int64) (Job, error) {
	j, err := scanJob(q.QueryRow(ctx, `SELECT `+jobColumns+` FROM refine_jobs WHERE id = $1`, id))
	if err != nil {
		return Job{}, fmt.Errorf("GetJob(%d): %w", id, err)
	}
	return j, nil
}

// UserJob reads a job only if it belongs to the user.
func UserJob(ctx context.Context, q Querier, userID, id int64) (Job, error) {
	j, err := scanJob(q.QueryRow(ctx, `SELECT `+jobColumns+` FROM refine_jobs WHERE id = $1 AND user_id = $2`, id, userID))
	if err != nil {
		return Job{}, fmt.Errorf("UserJob(%d, %d): %w", userID, id, err)
	}
	return j, nil
}

// RecentJobs counts a user's refinements started within a window.
type RecentJobs struct {
	Started   int // all of them
	Uncharged int // those that ended failed or rejected, charging nothing
}

// CountRecentJobOutcomes counts the user's jobs created within window, and
// how many of them ended without a charge (the bot's rate limit weighs
// those less).
func CountRecentJobOutcomes(ctx context.Context, q Querier, userID int64, window time.Duration) (RecentJobs, error) {
	var r RecentJobs
	err := q.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state IN ('failed', 'rejected') AND charged_credits = 0)
		FROM refine_jobs WHERE user_id = $1 AND created_at > now() - $2::interval`, userID, window).Scan(&r.Started, &r.Uncharged)
	if err != nil {
		return RecentJobs{}, fmt.Errorf("CountRecentJobOutcomes(%d): %w", userID, translate(err))
	}
	return r, nil
}

// ErrJobFinal is returned when a job can no longer run.
var ErrJobFinal = errors.New("job already finished")

// ErrJobBusy is returned while another delivery holds a live lease on the job.
var ErrJobBusy = errors.New("the job is being run by another delivery")

// claimJobSQL takes a job's lease ($1 the job, $2 the lease): ClaimJob's
// statement, and the first of ClaimJobWithState's batch.
const claimJobSQL = `UPDATE refine_jobs SET state = 'running', attempts = attempts + 1,
	started_at = coalesce(started_at, now()), claimed_at = now(), published_at = coalesce(published_at, now())
	WHERE id = $1 AND (state = 'queued' OR (state = 'running'
		AND (claimed_at IS NULL OR claimed_at <= now() - $2::interval)))
	RETURNING ` + jobColumns

// ClaimJob moves a queued job (or a running one whose last claim is older
// than lease: its instance died) to running, counts the attempt and takes
// the lease. A finished job is returned unchanged with a permanent error
// wrapping ErrJobFinal, so a redelivery can ack without doing anything. A job
// another delivery is running is a retryable error wrapping ErrJobBusy, with
// the lease's remaining time as Retry-After, so the model is not called
// twice for one job. lease 0 takes no lease (any running job is reclaimed).
func ClaimJob(ctx context.Context, q Querier, id int64, lease time.Duration) (Job, error) {
	j, err := scanJob(q.QueryRow(ctx, claimJobSQL, id, lease))
	if errors.Is(err, fault.ErrNotFound) {
		var state string
		var remaining time.Duration
		err := q.QueryRow(ctx, `SELECT state, greatest(coalesce(claimed_at + $2::interval - now(), '0'), '0')
			FROM refine_jobs WHERE id = $1`, id, lease).Scan(&state, &remaining)
		if err != nil {
			return Job{}, fmt.Errorf("ClaimJob(%d): %w", id, translate(err))
		}
		if state == JobRunning {
			return Job{}, fault.RetryAfter(fmt.Errorf("ClaimJob(%d): %w", id, ErrJobBusy), remaining+time.Second)
		}
		j, err := GetJob(ctx, q, id)
		if err != nil {
			return Job{}, err
		}
		return j, fault.AsPermanent(fmt.Errorf("ClaimJob(%d): %w (%s)", id, ErrJobFinal, j.State))
	}
	if err != nil {
		return Job{}, fmt.Errorf("ClaimJob(%d): %w", id, err)
	}
	return j, nil
}

// ReleaseJobLease gives up a running job's lease, so the redelivery that a
// retryable failure asks for can claim it at once instead of waiting the
// lease out.
func ReleaseJobLease(ctx context.Context, q Querier, id int64) error {
	if _, err := q.Exec(ctx, `UPDATE refine_jobs SET claimed_at = NULL WHERE id = $1 AND state = 'running'`, id); err != nil {
		return fmt.Errorf("ReleaseJobLease(%d): %w", id, translate(err))
	}
	return nil
}

// JobSuccess is what a successful refinement records.
type JobSuccess struct {
	BaseVersion      int
	ResultVersion    int
	BeforeSHA256     string
	AfterSHA256      string
	Diff             string
	Model            string
	PromptTokens     int
	CompletionTokens int
	CostUSD          float64
	EditAttempts     int
	EditBlocks       int // blocks the editor applied (editor.Outcome.Result.Blocks)
	Duration         time.Duration
}

// SucceedJob records the outcome of a running job.
func SucceedJob(ctx context.Context, q Querier, id int64, s JobSuccess) error {
	tag, err := q.Exec(ctx, `UPDATE refine_jobs SET state = 'succeeded', base_version = $2, result_version = $3,
		before_sha256 = $4, after_sha256 = $5, diff = $6, model = nullif($7, ''), prompt_tokens = $8,
		completion_tokens = $9, cost_usd = $10, edit_attempts = $11, duration_ms = $12, edit_blocks = $13,
		change_set_id = (SELECT v.change_set_id FROM file_versions v
			WHERE v.project_id = refine_jobs.project_id AND v.path = refine_jobs.path AND v.version = $3),
		finished_at = now() WHERE id = $1 AND state = 'running'`,
		id, s.BaseVersion, s.ResultVersion, s.BeforeSHA256, s.AfterSHA256, s.Diff, s.Model, s.PromptTokens,
		s.CompletionTokens, s.CostUSD, s.EditAttempts, s.Duration.Milliseconds(), s.EditBlocks)
	if err != nil {
		return fmt.Errorf("SucceedJob(%d): %w", id, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fault.AsPermanent(fmt.Errorf("SucceedJob(%d): %w", id, ErrJobFinal))
	}
	return nil
}

// JobFailure is what a failed or rejected refinement records.
type JobFailure struct {
	State            string // JobFailed or JobRejected
	Kind             string // a short machine-readable reason: conflict, model, no_credits, gave_up, ...
	Message          string // what the user is told
	Model            string
	PromptTokens     int
	CompletionTokens int
	CostUSD          float64
	EditAttempts     int
	Duration         time.Duration
}

// FailJob finishes a job as failed or rejected and releases its credits, in
// the caller's transaction. failed=false when the job had already finished
// (a redelivery): nothing changes then.
func FailJob(ctx context.Context, q Querier, id int64, f JobFailure) (failed bool, err error) {
	if f.State != JobFailed && f.State != JobRejected {
		return false, fmt.Errorf("FailJob(%d): state %q is not a failure", id, f.State)
	}
	tag, err := q.Exec(ctx, `UPDATE refine_jobs SET state = $2, error_kind = $3, error = $4, model = coalesce(nullif($5, ''), model),
		prompt_tokens = $6, completion_tokens = $7, cost_usd = $8, edit_attempts = $9, duration_ms = $10, finished_at = now()
		WHERE id = $1 AND state IN ('queued', 'running')`,
		id, f.State, f.Kind, f.Message, f.Model, f.PromptTokens, f.CompletionTokens, f.CostUSD, f.EditAttempts, f.Duration.Milliseconds())
	if err != nil {
		return false, fmt.Errorf("FailJob(%d): %w", id, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	if _, err := ReleaseHold(ctx, q, id); err != nil {
		return false, err
	}
	return true, nil
}

// MarkJobReplied records that the user was told the outcome; false when an
// earlier delivery already did.
func MarkJobReplied(ctx context.Context, q Querier, id int64) (bool, error) {
	tag, err := q.Exec(ctx, `UPDATE refine_jobs SET reply_sent_at = now() WHERE id = $1 AND reply_sent_at IS NULL`, id)
	if err != nil {
		return false, fmt.Errorf("MarkJobReplied(%d): %w", id, translate(err))
	}
	return tag.RowsAffected() == 1, nil
}

// ProjectSuccess is what a successful project job records: a change set,
// or a question the model asked instead.
type ProjectSuccess struct {
	ChangeSetID      int64  // 0 with a Question
	Question         string // the model's question, when it asked one
	ModelReply       string
	Diff             string
	Model            string
	PromptTokens     int
	CompletionTokens int
	CostUSD          float64
	EditAttempts     int
	EditBlocks       int
	Duration         time.Duration
}

// SucceedProjectJob records the outcome of a running project job.
func SucceedProjectJob(ctx context.Context, q Querier, id int64, s ProjectSuccess) error {
	_, _, err := succeedProjectJob(ctx, q, id, s, false)
	return err
}

// SucceedProjectJobReplying is SucceedProjectJob that also takes the
// reply's claim (as ClaimJobReply would, in the same statement) and
// returns the finished job with its progress message: the delivery that
// records the outcome tells it next without another round trip. The claim
// lasts as ClaimJobReply's does; release it (ReleaseJobReply) if the
// reply cannot be sent.
func SucceedProjectJobReplying(ctx context.Context, q Querier, id int64, s ProjectSuccess) (Job, JobReply, error) {
	return succeedProjectJob(ctx, q, id, s, true)
}

func succeedProjectJob(ctx context.Context, q Querier, id int64, s ProjectSuccess, claimReply bool) (Job, JobReply, error) {
	var cs *int64
	if s.ChangeSetID != 0 {
		cs = &s.ChangeSetID
	}
	var j Job
	var r JobReply
	err := q.QueryRow(ctx, `UPDATE refine_jobs SET state = 'succeeded', change_set_id = $2, question = nullif($3, ''),
		model_reply = nullif($4, ''), diff = nullif($5, ''), model = nullif($6, ''), prompt_tokens = $7, completion_tokens = $8,
		cost_usd = $9, edit_attempts = $10, edit_blocks = $11, duration_ms = $12, finished_at = now(),
		reply_claimed_at = CASE WHEN $13 THEN now() ELSE reply_claimed_at END
		WHERE id = $1 AND state = 'running'
		RETURNING `+jobColumns+`, error_html, progress_message_id, retry_note`,
		id, cs, s.Question, s.ModelReply, s.Diff, s.Model, s.PromptTokens, s.CompletionTokens, s.CostUSD, s.EditAttempts,
		s.EditBlocks, s.Duration.Milliseconds(), claimReply).Scan(append(jobDest(&j), &r.ErrorHTML, &r.ProgressMessageID, &r.RetryNote)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return Job{}, JobReply{}, fault.AsPermanent(fmt.Errorf("SucceedProjectJob(%d): %w", id, ErrJobFinal))
	}
	if err != nil {
		return Job{}, JobReply{}, fmt.Errorf("SucceedProjectJob(%d): %w", id, translate(err))
	}
	return j, r, nil
}

// JobOfChangeSet reads the job that made a change set, if one did.
func JobOfChangeSet(ctx context.Context, q Querier, csID int64) (Job, error) {
	j, err := scanJob(q.QueryRow(ctx, `SELECT `+jobColumns+` FROM refine_jobs WHERE change_set_id = $1`, csID))
	if err != nil {
		return Job{}, fmt.Errorf("JobOfChangeSet(%d): %w", csID, err)
	}
	return j, nil
}
