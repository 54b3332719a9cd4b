package refine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/llm"
	"github.com/devbot-hq/devbot/internal/logging"
	"github.com/devbot-hq/devbot/internal/reply"
	"github.com/devbot-hq/devbot/internal/secretbox"
)

// EditRequest is one edit to compute (editor.Request, plus the job's mode).
type EditRequest struct {
	Path        string
	Content     []byte
	Instruction string
	APIKey      string // the user's own key, or empty
	Mode        string // direct, llm or aider
}

// EditOutcome is a computed edit (editor.Outcome, flattened).
type EditOutcome struct {
	Content          []byte
	Diff             string
	Edits            int
	Model            string
	PromptTokens     int
	CompletionTokens int
	CostUSD          float64
	Attempts         int
}

// Editor computes edits. Its errors: ErrNoValidEdit (wrapped, permanent),
// fault.ErrUnauthorized (the key was rejected), fault.ErrInvalid (a direct
// edit that does not apply), retryable ones on rate limits and outages.
type Editor interface {
	Edit(ctx context.Context, r EditRequest) (EditOutcome, error)
}

// ErrNoValidEdit is wrapped by an editor that gave up on the model's answers.
var ErrNoValidEdit = errors.New("the model could not produce a valid edit")

// NoValidEditError is ErrNoValidEdit with what the user may be told: why the
// last reply's edits did not apply, in short plain words, and the editor's
// whole report (the one sent back to the model; a direct edit's author
// sees it, since the blocks are theirs).
type NoValidEditError struct {
	Reasons []string
	Report  string
}

func (e *NoValidEditError) Error() string {
	return ErrNoValidEdit.Error() + ": " + e.Report
}

// Is makes it ErrNoValidEdit.
func (e *NoValidEditError) Is(target error) bool { return target == ErrNoValidEdit }

// Files is what the runner needs of storage.Files.
type Files interface {
	PutBlob(ctx context.Context, bucket string, data []byte, contentType string) (blobKey, sha256hex string, err error)
	GetBlob(ctx context.Context, bucket, blobKey string) ([]byte, error)
	PublishCurrent(ctx context.Context, bucket, path string, data []byte, contentType string) error
}

// Config is the pricing and limits of refinements.
type Config struct {
	BaseRefineCredits int64
	CreditsPerUSD     float64
	MaxFileBytes      int64
	// ModelHost names the model service in replies ("openrouter.ai"); empty
	// says "the model service" only.
	ModelHost string
	// TypingEvery is how often the chat's "typing…" status is renewed while
	// a job runs (0: every 4 s; Telegram shows it for up to 5 s).
	TypingEvery time.Duration
	// Lease is how long a claim lasts without renewal: short (30 s in
	// production), renewed every Heartbeat while the work runs, so a
	// duplicate delivery never runs the model a second time while the
	// first still works, and a dead instance's job is free again within a
	// lease. 0 takes no lease (tests).
	Lease time.Duration
	// Heartbeat is how often the lease is renewed; 0: Lease/3.
	Heartbeat time.Duration
	// ClaimWait is how long a delivery that finds the lease live waits for
	// it (released, run out, or the job finished) before answering busy:
	// Lease plus a heartbeat, so a redelivery after a crash resumes the job
	// itself. 0: answer busy at once.
	ClaimWait time.Duration
	// ReplyClaim is how long a delivery's claim to send a reply keeps
	// others from sending it (longer than a send takes); 0: 90 s.
	ReplyClaim time.Duration
	// ContextTokens bounds the project context a change set's model call
	// gets (PROJECT_CONTEXT_TOKENS; 0: projectmap's default).
	ContextTokens int
	// Limits bound what a change set may grow its project to.
	Limits db.ProjectLimits
}

// Runner is the RefineJobs consumer.
type Runner struct {
	Config Config
	DB     *db.DB
	Files  Files
	Editor Editor
	// SetEditor computes change sets of a whole project (project jobs).
	SetEditor SetEditor
	Telegram  reply.Sender
	Keys      *secretbox.Box
	Logger    *slog.Logger

	mu       sync.Mutex
	inflight map[int64]work // lease.go
	shutdown bool
}

// Charge is what a finished job costs: the base price plus the model's cost
// in credits, rounded up; a direct edit costs the base price only. The hold
// caps it (db.ChargeHold).
func (c Config) Charge(mode string, costUSD float64) int64 {
	if mode == db.ModeDirect || costUSD <= 0 {
		return c.BaseRefineCredits
	}
	return c.BaseRefineCredits + int64(math.Ceil(costUSD*c.CreditsPerUSD-1e-9))
}

// Handle runs one delivery of a job message.
func (r *Runner) Handle(ctx context.Context, m events.Message) error {
	id, err := ParseMessage(m.Data)
	if err != nil {
		return err
	}
	ctx = logging.With(ctx, slog.Int64("job_id", id))
	j, st, err := r.claim(ctx, id)
	if errors.Is(err, db.ErrJobFinal) {
		// A redelivery: the outcome is recorded; make sure it was told.
		return r.Reply(ctx, id)
	}
	if err != nil {
		return err
	}
	stopTyping := func() {}
	if j.Mode != db.ModeDirect {
		// The user's own blocks apply in milliseconds: a "typing…" status
		// would be one more Bot API call against the chat's rate limit,
		// and gone before it showed.
		stopTyping = r.showTyping(ctx, j.ChatID)
	}
	t, err := r.runLeased(ctx, j, st)
	stopTyping()
	if err == nil && t != nil {
		return r.tell(ctx, t)
	}
	if err != nil {
		if !fault.IsPermanent(err) {
			// Handed back: the redelivery claims the job again, at once
			// (unless the lease is another delivery's by now). Released
			// before the note, so a slow Telegram edit cannot delay it.
			if lerr := db.ReleaseJobLeaseOf(context.WithoutCancel(ctx), r.DB.Pool, id, j.Attempts); lerr != nil {
				r.Logger.WarnContext(ctx, "job lease not released; the retry waits for it to run out", "error", lerr.Error())
			}
			if !errors.Is(err, ErrInterrupted) && !errors.Is(err, db.ErrLeaseLost) {
				// A shutdown or a lost lease is not a service failing:
				// the Working message keeps saying what it said.
				r.noteRetry(ctx, j, err)
			}
			return err
		}
		// The transport acknowledges a permanent error, so nothing would
		// ever finish this job: fail it (releasing its credits) and say so.
		r.Logger.ErrorContext(ctx, "refinement failed permanently", "error", err.Error())
		if ferr := r.fail(ctx, id, j.Attempts, db.JobFailed, "error", fmt.Sprintf("I could not refine %s (%s). Nothing was changed or charged; "+
			"please try again later.", j.Path, plainReason(err)), EditOutcome{}, 0); ferr != nil {
			return ferr
		}
		if rerr := r.Reply(ctx, id); rerr != nil {
			return rerr
		}
		return err
	}
	return r.Reply(ctx, id)
}

// plainReason names a permanent error's class in a user's words, without
// its details (which name buckets, keys and internals).
func plainReason(err error) string {
	switch {
	case errors.Is(err, fault.ErrNotFound):
		return "its stored content could not be found"
	case errors.Is(err, fault.ErrUnauthorized):
		return "the file store refused access"
	case errors.Is(err, fault.ErrTooLarge):
		return "it is too large"
	}
	return "an internal error"
}

// GiveUp fails the job of a message that exhausted its deliveries: the
// credits are released and the user is told.
func (r *Runner) GiveUp(ctx context.Context, m events.Message, cause error) error {
	id, err := ParseMessage(m.Data)
	if err != nil {
		return nil
	}
	if errors.Is(cause, ErrInterrupted) || errors.Is(cause, db.ErrJobBusy) || errors.Is(cause, db.ErrLeaseLost) {
		// Not the job's failure: another delivery holds it, or this one
		// was stopped by a shutdown with the lease released. The holder
		// finishes it; a released one is resumed by the sweeper.
		r.Logger.WarnContext(ctx, "last delivery attempt interrupted; the job is left to its holder or the sweeper", "job_id", id)
		return nil
	}
	if left, running, err := db.JobLeaseRemaining(ctx, r.DB.Pool, id, r.Config.Lease); err == nil && running && left > 0 {
		r.Logger.WarnContext(ctx, "delivery given up while another delivery runs the job; left to it", "job_id", id)
		return nil
	}
	msg, err := r.giveUpText(ctx, id)
	if err != nil {
		return err
	}
	if err := r.fail(ctx, id, 0, db.JobFailed, "gave_up", msg, EditOutcome{}, 0); err != nil {
		return err
	}
	return r.Reply(ctx, id)
}

// run runs the claimed job; st is its project's state when the claim read
// it. A project job that succeeded returns its reply to tell (see tell);
// every other outcome is told by Reply.
func (r *Runner) run(ctx context.Context, j db.Job, st *db.ProjectState) (*told, error) {
	if j.Scope == db.ScopeProject {
		return r.runProject(ctx, j, st)
	}
	return nil, r.runFile(ctx, j, st)
}

// runFile runs a job of one file (a plain message with a file open); st,
// when the claim read it, has the file and its blob.
func (r *Runner) runFile(ctx context.Context, j db.Job, st *db.ProjectState) error {
	start := time.Now()
	f, blobKey, found := db.File{}, "", false
	if st != nil {
		f, blobKey, found = st.File(j.Path)
	} else {
		var err error
		f, err = db.FileByPath(ctx, r.DB.Pool, j.ProjectID, j.Path)
		if err != nil && !errors.Is(err, fault.ErrNotFound) {
			return err
		}
		found = err == nil
	}
	if !found {
		return r.fail(ctx, j.ID, j.Attempts, db.JobRejected, "gone", fmt.Sprintf("%s no longer exists. Nothing was charged.", j.Path), EditOutcome{}, 0)
	}
	if blobKey == "" {
		v, err := db.GetFileVersion(ctx, r.DB.Pool, j.ProjectID, j.Path, f.Version)
		if err != nil {
			return err
		}
		blobKey = v.BlobKey
	}
	content, err := r.Files.GetBlob(ctx, j.ProjectID, blobKey)
	if err != nil {
		return inService(ServiceStorage, err)
	}
	apiKey := ""
	if j.Mode != db.ModeDirect {
		u, err := db.UserByID(ctx, r.DB.Pool, j.UserID)
		if err != nil {
			return err
		}
		if u.LLMKeyEncrypted != nil && r.Keys != nil {
			k, err := r.Keys.Open(u.ID, u.LLMKeyEncrypted)
			if err != nil {
				return r.fail(ctx, j.ID, j.Attempts, db.JobFailed, "key", "Your stored LLM key cannot be read any more: /setkey it again, or /delkey. Nothing was charged.", EditOutcome{}, time.Since(start))
			}
			apiKey = string(k)
			ctx = logging.WithSecret(ctx, apiKey) // no line logged from here on shows it
		}
	}
	out, err := r.Editor.Edit(ctx, EditRequest{Path: j.Path, Content: content, Instruction: j.Instruction, APIKey: apiKey, Mode: j.Mode})
	if err != nil {
		if ierr := interruption(ctx); ierr != nil {
			return fault.AsRetryable(fmt.Errorf("refine: the edit was stopped: %w", ierr)) // not the model's failure
		}
		if fault.IsRetryable(err) {
			return inService(ServiceModel, err) // handed back: the redelivery claims the job again
		}
		state, kind, msg := explain(j, err, apiKey != "", out.Attempts)
		if kind == "key" && apiKey == "" {
			// The operator's key or model setting: only the operator can fix it.
			r.Logger.ErrorContext(ctx, "the model endpoint refused the bot's own key or model", "error", err.Error())
		} else {
			r.Logger.InfoContext(ctx, "refinement failed", "kind", kind, "error", loggable(err))
		}
		return r.failReport(ctx, j, err, state, kind, msg, out, time.Since(start))
	}
	if r.Config.MaxFileBytes > 0 && int64(len(out.Content)) > r.Config.MaxFileBytes {
		return r.fail(ctx, j.ID, j.Attempts, db.JobFailed, "too_large", fmt.Sprintf("The edited %s would be %s, over the %s limit. Nothing was charged.",
			j.Path, reply.Size(int64(len(out.Content))), reply.Size(r.Config.MaxFileBytes)), out, time.Since(start))
	}
	blobKey, sum, err := r.Files.PutBlob(ctx, j.ProjectID, out.Content, f.ContentType)
	if err != nil {
		return inService(ServiceStorage, err)
	}
	charge := r.Config.Charge(j.Mode, out.CostUSD)
	var conflict bool
	err = r.DB.InTx(ctx, func(tx pgx.Tx) error {
		conflict = false
		jobID := j.ID
		// The fence: only the delivery that holds the lease records.
		if err := db.HoldJobLease(ctx, tx, j.ID, j.Attempts); err != nil {
			return err
		}
		next, err := db.CommitVersion(ctx, tx, db.NewVersion{ProjectID: j.ProjectID, Path: j.Path, SHA256: sum,
			Size: int64(len(out.Content)), BlobKey: blobKey, ContentType: f.ContentType, Source: db.SourceRefine,
			JobID: &jobID, BaseVersion: f.Version})
		if errors.Is(err, db.ErrVersionMismatch) {
			conflict = true
			return err
		}
		if err != nil {
			return err
		}
		if err := db.ChargeHold(ctx, tx, j.ID, charge, "refine "+j.Path); err != nil && !errors.Is(err, db.ErrHoldSettled) {
			return err
		}
		return db.SucceedJob(ctx, tx, j.ID, db.JobSuccess{BaseVersion: f.Version, ResultVersion: next,
			BeforeSHA256: f.SHA256, AfterSHA256: sum, Diff: out.Diff, Model: out.Model, PromptTokens: out.PromptTokens,
			CompletionTokens: out.CompletionTokens, CostUSD: out.CostUSD, EditAttempts: out.Attempts, EditBlocks: out.Edits,
			Duration: time.Since(start)})
	})
	if conflict {
		now := "a newer version"
		if cur, err := db.FileByPath(ctx, r.DB.Pool, j.ProjectID, j.Path); err == nil {
			now = fmt.Sprintf("version %d", cur.Version)
		}
		return r.fail(ctx, j.ID, j.Attempts, db.JobFailed, KindConflict, fmt.Sprintf(
			"%s changed meanwhile (%s was saved while I worked on version %d), so I did not save my edit. Nothing was charged. "+
				"Tap Retry to run the same instruction on the new version.", j.Path, now, f.Version), out, time.Since(start))
	}
	if errors.Is(err, db.ErrJobFinal) {
		return nil // another delivery finished it meanwhile
	}
	return err
}

// loggable is err as a log may show it. A refused edit's report quotes the
// user's file (the lines nearest a SEARCH that failed) and the model's
// reply, so only its size is logged; the user sees it in the job's reply.
func loggable(err error) string {
	if errors.Is(err, ErrNoValidEdit) || errors.Is(err, fault.ErrInvalid) || errors.Is(err, fault.ErrConflict) {
		return fmt.Sprintf("edit refused (%s; a report of %d bytes that quotes the file is not logged)",
			fault.KindOf(err), len(err.Error()))
	}
	return err.Error()
}

// KindConflict is the error kind of a job whose file changed while it ran:
// its reply offers a Retry button ("retry:<job>").
const KindConflict = "conflict"

// explain turns an editor's permanent error into the job's state and the
// user's words: what happened, that nothing was charged, what to do next.
// ownKey tells whether the user's own /setkey key was used; attempts is the
// number of model calls made.
func explain(j db.Job, err error, ownKey bool, attempts int) (state, kind, msg string) {
	var nv *NoValidEditError
	hasDetail := errors.As(err, &nv)
	report := err.Error()
	if hasDetail {
		report = nv.Report
	}
	if len(report) > 800 {
		report = report[:800] + "…"
	}
	switch {
	case j.Mode == db.ModeDirect && (errors.Is(err, ErrNoValidEdit) || errors.Is(err, fault.ErrInvalid)):
		return db.JobRejected, "invalid", directRefusal(j, err, report)
	case errors.Is(err, ErrNoValidEdit):
		var sb strings.Builder
		fmt.Fprintf(&sb, "The model could not produce an edit that applies to %s", j.Path)
		if attempts > 1 {
			fmt.Fprintf(&sb, " (%d tries)", attempts)
		}
		sb.WriteString(", so nothing was changed or charged.")
		if hasDetail && len(nv.Reasons) > 0 {
			why := nv.Reasons
			if len(why) > 3 {
				why = append(why[:3:3], "…")
			}
			fmt.Fprintf(&sb, " Its last try: %s.", strings.Join(why, "; "))
		}
		sb.WriteString("\nTry a sharper instruction: name the function or the lines to change and say exactly what they should do, " +
			"e.g. \"in run, return an error instead of calling panic\".")
		return db.JobFailed, "model", sb.String()
	case errors.Is(err, llm.ErrNoKey):
		return db.JobRejected, "no_model", fmt.Sprintf("No model is set up for this bot, so I could not change %s. Nothing was charged. "+
			"Send SEARCH/REPLACE blocks or a unified diff instead, or /setkey YOUR_KEY to use your own model key.", j.Path)
	case errors.Is(err, fault.ErrUnauthorized) && ownKey:
		return db.JobFailed, "key", fmt.Sprintf("The model service rejected your API key (the one you set with /setkey), "+
			"so %s was not changed. Nothing was charged. /setkey NEW_KEY sets another; /delkey goes back to the bot's model.", j.Path)
	case errors.Is(err, fault.ErrUnauthorized):
		return db.JobFailed, "key", fmt.Sprintf("The model service rejected the bot's API key, so %s was not changed. "+
			"Nothing was charged. That is on my side and the operator is told; /setkey YOUR_KEY lets you use your own key meanwhile.", j.Path)
	case errors.Is(err, fault.ErrInsufficient):
		return db.JobFailed, "no_credits", "Not enough credits for this refinement, so nothing was changed or charged. /buy for more."
	case errors.Is(err, fault.ErrInvalid), errors.Is(err, fault.ErrConflict):
		return db.JobRejected, "invalid", fmt.Sprintf("Your edit does not apply to %s, so nothing was changed or charged.\n\n%s", j.Path, report)
	}
	return db.JobFailed, "error", fmt.Sprintf("The refinement of %s failed, so nothing was changed or charged. "+
		"Send the instruction again to retry.\n\n%s", j.Path, report)
}

// fail records a failure. attempt > 0 fences it: it is recorded only while
// that attempt holds the job's lease.
func (r *Runner) fail(ctx context.Context, id int64, attempt int, state, kind, msg string, out EditOutcome, d time.Duration) error {
	return r.DB.InTx(ctx, func(tx pgx.Tx) error {
		if attempt > 0 {
			if err := db.HoldJobLease(ctx, tx, id, attempt); err != nil {
				return err
			}
		}
		_, err := db.FailJob(ctx, tx, id, db.JobFailure{State: state, Kind: kind, Message: msg, Model: out.Model,
			PromptTokens: out.PromptTokens, CompletionTokens: out.CompletionTokens, CostUSD: out.CostUSD,
			EditAttempts: out.Attempts, Duration: d})
		return err
	})
}

// Reply tells the user a finished job's outcome, once (as far as Telegram
// allows). The send is bracketed by two short commits instead of running
// inside one transaction: the claim (reply_claimed_at) before it, so a
// concurrent delivery waits instead of sending too, and the record
// (reply_sent_at) after it, retried on fresh connections. A connection
// that drops after the send no longer rolls the record back. What is left
// is the time between Telegram accepting the message and the record
// committing: a process killed there, or a database away for longer than
// replyRecordFor, makes the redelivery send the reply again once the claim
// runs out (sendMessage has no idempotency key).
func (r *Runner) Reply(ctx context.Context, id int64) error {
	j, ok, err := r.claimReply(ctx, id)
	if err != nil || !ok {
		return err
	}
	return r.sendClaimed(ctx, id, func() error { return r.send(ctx, r.DB.Pool, j) })
}

// sendClaimed runs send, the delivery of a reply whose claim this
// delivery holds: a send that failed releases the claim, so the redelivery
// sends at once; a sent one is recorded.
func (r *Runner) sendClaimed(ctx context.Context, id int64, send func() error) error {
	if err := send(); err != nil {
		if rerr := db.ReleaseJobReply(context.WithoutCancel(ctx), r.DB.Pool, id); rerr != nil {
			r.Logger.WarnContext(ctx, "reply claim not released; the redelivery waits for it to run out", "error", rerr.Error())
		}
		return err
	}
	return r.recordReply(ctx, id)
}

// replyRecordFor bounds the retries of recording a sent reply.
const replyRecordFor = 15 * time.Second

// claimReply claims the job's reply, waiting while another delivery sends
// it (up to the claim's lifetime).
func (r *Runner) claimReply(ctx context.Context, id int64) (db.Job, bool, error) {
	ttl := r.Config.ReplyClaim
	if ttl <= 0 {
		ttl = 90 * time.Second
	}
	deadline := time.Now().Add(ttl + time.Second)
	for {
		j, ok, err := db.ClaimJobReply(ctx, r.DB.Pool, id, ttl)
		if !errors.Is(err, db.ErrReplyBusy) || time.Now().After(deadline) {
			return j, ok, err
		}
		select {
		case <-ctx.Done():
			return j, ok, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// recordReply records a sent reply, retrying on fresh connections (and a
// context of its own: the delivery's may be nearly used up).
func (r *Runner) recordReply(ctx context.Context, id int64) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), replyRecordFor)
	defer cancel()
	backoff := 50 * time.Millisecond
	for {
		_, err := db.MarkJobReplied(rctx, r.DB.Pool, id)
		if err == nil {
			return nil
		}
		if !fault.IsRetryable(err) || rctx.Err() != nil {
			r.Logger.ErrorContext(ctx, "reply sent but not recorded; a redelivery will send it again", "error", err.Error())
			return err
		}
		select {
		case <-rctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// publishCurrent refreshes the plain copy of the file (not the source of
// truth: reads go through the version's blob), if the job's version is
// still current.
func (r *Runner) publishCurrent(ctx context.Context, q db.Querier, j db.Job) {
	f, err := db.FileByPath(ctx, q, j.ProjectID, j.Path)
	if err != nil || j.ResultVersion == nil || f.Version != *j.ResultVersion {
		return
	}
	v, err := db.GetFileVersion(ctx, q, j.ProjectID, j.Path, f.Version)
	if err == nil {
		var data []byte
		if data, err = r.Files.GetBlob(ctx, j.ProjectID, v.BlobKey); err == nil {
			err = r.Files.PublishCurrent(ctx, j.ProjectID, j.Path, data, f.ContentType)
		}
	}
	if err != nil {
		r.Logger.WarnContext(ctx, "plain copy not refreshed", "error", err.Error())
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
