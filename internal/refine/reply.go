package refine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/changeset"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/reply"
	"github.com/devbot-hq/devbot/internal/telegram"
)

// The job's reply: how it is worded, rendered and delivered. The bot sent
// "Working on PATH…" when it queued the job and recorded that message's id
// on the job; while the job runs the chat shows "typing…", and the result
// replaces the "Working on" message (editMessageText) instead of arriving as
// a second message. The edit is the reply, recorded as sent like any other
// (Runner.Reply); a message that cannot be edited any more is answered with
// a new one.

// progress is what showing progress needs of the Telegram client, beyond
// sending; a client without it (a test's stand-in) gets new messages and
// no typing status.
type progress interface {
	reply.Editor
	SendChatAction(ctx context.Context, chatID int64, action string) error
}

// send tells the user j's outcome; it returns only retryable errors.
func (r *Runner) send(ctx context.Context, q db.Querier, j db.Job) error {
	extra, err := db.GetJobReply(ctx, q, j.ID)
	if err != nil {
		return err
	}
	if j.State == db.JobSucceeded && j.Scope == db.ScopeProject && j.Question == nil {
		r.publishChangeSet(ctx, q, j)
	}
	return r.deliver(ctx, q, j, extra)
}

// told is a project job that has just succeeded, with its reply claimed
// (db.SucceedProjectJobReplying) and what it stored: tell sends its reply
// without reading back what the run has in hand.
type told struct {
	job    db.Job
	extra  db.JobReply
	stored changeset.Stored
}

// tell is Reply for a job whose reply this delivery claimed with its
// outcome: the files' plain copies are written from the bytes just
// stored, the reply sent, and the send recorded. (A later change that
// commits and publishes its own copies between this commit and these
// writes would see them overwritten by older bytes until its next change:
// the same window publishChangeSet's check leaves; the copies are a view,
// never read back.)
func (r *Runner) tell(ctx context.Context, t *told) error {
	for _, w := range t.stored.Writes {
		if w.Delete {
			continue
		}
		if err := r.Files.PublishCurrent(ctx, t.job.ProjectID, w.Path, t.stored.Indexed[w.Path], w.ContentType); err != nil {
			r.Logger.WarnContext(ctx, "plain copy not refreshed", "error", err.Error())
		}
	}
	return r.sendClaimed(ctx, t.job.ID, func() error { return r.deliver(ctx, r.DB.Pool, t.job, t.extra) })
}

// deliver renders j's outcome and sends it, editing the job's progress
// message when it has one; it returns only retryable errors.
func (r *Runner) deliver(ctx context.Context, q db.Querier, j db.Job, extra db.JobReply) error {
	var rep reply.Reply
	switch {
	case j.State == db.JobSucceeded && j.Scope == db.ScopeProject:
		rep = r.projectReply(j)
	case j.State == db.JobSucceeded:
		r.publishCurrent(ctx, q, j)
		rep = reply.WithDiff(telegram.Escape(Summary(j)), deref(j.Diff), fmt.Sprintf("job-%d.diff", j.ID))
		rep.Buttons = [][]reply.Button{{{Text: "Undo", Data: fmt.Sprintf("undo:%d", j.ID)}, {Text: "Show full diff", Data: fmt.Sprintf("diff:%d", j.ID)}}}
	default:
		html := telegram.Escape(deref(j.Error))
		if extra.ErrorHTML != nil {
			html = *extra.ErrorHTML
		}
		rep = reply.Reply{HTML: "❌ " + html}
		if j.ErrorKind != nil && *j.ErrorKind == KindConflict {
			rep.Buttons = [][]reply.Button{{{Text: "Retry", Data: fmt.Sprintf("retry:%d", j.ID)}}}
		}
	}
	var err error
	p, ok := r.Telegram.(progress)
	if ok && extra.ProgressMessageID != nil {
		err = reply.Edit(ctx, p, j.ChatID, *extra.ProgressMessageID, rep)
	} else {
		err = reply.Send(ctx, r.Telegram, j.ChatID, rep)
	}
	if err != nil {
		if fault.IsRetryable(err) {
			return err
		}
		r.Logger.WarnContext(ctx, "job reply not delivered", "error", err.Error(), "blocked", telegram.IsBlocked(err))
	}
	return nil
}

// showTyping keeps the chat's "typing…" status on while the job runs
// (Telegram shows it for 5 s, or until the next message) until stop is
// called. It is cosmetic: failures are logged at debug level, and a chat
// that blocked the bot is not asked again.
func (r *Runner) showTyping(ctx context.Context, chatID int64) (stop func()) {
	p, ok := r.Telegram.(progress)
	if !ok || chatID == 0 {
		return func() {}
	}
	every := r.Config.TypingEvery
	if every <= 0 {
		every = 4 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if err := p.SendChatAction(ctx, chatID, telegram.ChatActionTyping); err != nil && ctx.Err() == nil {
				r.Logger.DebugContext(ctx, "typing status not shown", "error", err.Error())
				if telegram.IsBlocked(err) {
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// Services a job depends on, named in the user's words.
const (
	ServiceModel   = "model"
	ServiceStorage = "storage"
)

// serviceError marks a retryable error with the service it came from, so
// that the progress message and the final give-up can name it.
type serviceError struct {
	service string
	err     error
}

func (e *serviceError) Error() string { return e.err.Error() }
func (e *serviceError) Unwrap() error { return e.err }

func inService(service string, err error) error {
	if err == nil {
		return nil
	}
	return &serviceError{service: service, err: err}
}

// trouble says in plain words which service failed and how.
func (r *Runner) trouble(err error) string {
	var se *serviceError
	service := ""
	if errors.As(err, &se) {
		service = se.service
	}
	how := "did not answer"
	switch {
	case errors.Is(err, fault.ErrRateLimited):
		how = "is limiting how often I may ask"
	case errors.Is(err, context.DeadlineExceeded):
		how = "took too long to answer"
	case errors.Is(err, fault.ErrUnavailable):
		how = "is not answering"
	}
	switch service {
	case ServiceModel:
		if r.Config.ModelHost != "" {
			return fmt.Sprintf("the model service (%s) %s", r.Config.ModelHost, how)
		}
		return "the model service " + how
	case ServiceStorage:
		return "the file store " + how
	}
	return "a service I depend on " + how
}

// retryNoteFor bounds the edit of the "Working on" message into a retry
// note: the job is handed back already, and the note is cosmetic, so a
// Bot API call that hangs (the client allows 60 s) must not hold the
// delivery (and its request slot) for longer than this.
const retryNoteFor = 5 * time.Second

// noteRetry records why this delivery handed the job back, and says so in
// the "Working on" message; both are best effort (the redelivery is what
// matters). Both are fenced by j's attempt: once another delivery claimed
// the job, or the job finished, the Working message is that delivery's to
// edit (into the result, with its buttons, a reply recorded as sent that
// nothing would correct), and this one says nothing.
func (r *Runner) noteRetry(ctx context.Context, j db.Job, cause error) {
	ctx = context.WithoutCancel(ctx)
	note := r.trouble(cause)
	noted, err := db.NoteJobRetry(ctx, r.DB.Pool, j.ID, j.Attempts, note)
	if err != nil {
		r.Logger.WarnContext(ctx, "retry note not recorded", "error", err.Error())
		return
	}
	if !noted {
		r.Logger.InfoContext(ctx, "retry note not recorded: the job is another delivery's or finished", "attempt", j.Attempts)
		return
	}
	extra, err := db.GetJobReply(ctx, r.DB.Pool, j.ID)
	p, ok := r.Telegram.(progress)
	if err != nil || !ok || extra.ProgressMessageID == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, retryNoteFor)
	defer cancel()
	text := reply.HTMLf("Working on %s… %s, so I am trying again in a moment.", projectView(j).Path, note)
	_, err = p.EditMessageText(ctx, telegram.EditMessageText{ChatID: j.ChatID, MessageID: *extra.ProgressMessageID,
		Text: text, ParseMode: telegram.ParseModeHTML, DisablePreview: true})
	if err != nil && !telegram.IsNotModified(err) {
		r.Logger.InfoContext(ctx, "progress message not updated", "error", err.Error())
	}
}

// giveUpText is the answer to a job whose deliveries all failed: the file,
// the service that failed (as the last hand-back recorded it), and what to
// do.
func (r *Runner) giveUpText(ctx context.Context, id int64) (string, error) {
	j, err := db.GetJob(ctx, r.DB.Pool, id)
	if errors.Is(err, fault.ErrNotFound) {
		return "I could not finish this refinement. Nothing was changed or charged; please send it again.", nil
	}
	if err != nil {
		return "", err
	}
	extra, err := db.GetJobReply(ctx, r.DB.Pool, id)
	if err != nil {
		return "", err
	}
	why := "a service I depend on was unavailable"
	if extra.RetryNote != nil {
		why = *extra.RetryNote
	}
	return fmt.Sprintf("I could not change %s: %s, and I gave up after several tries. Nothing was changed or charged; "+
		"send the instruction again in a few minutes.", projectView(j).Path, why), nil
}

// directRefusal is the plain-text record of a direct edit that does not
// apply (the user reads its HTML rendering, from failReport).
func directRefusal(j db.Job, err error, report string) string {
	if be := editblock.AsError(err); be != nil {
		return fmt.Sprintf("Your edit does not apply to %s, so nothing was changed or charged: %s. Fix the blocks and send them again.",
			j.Path, strings.Join(be.Reasons(editblock.ByUser), "; "))
	}
	return fmt.Sprintf("Your edit does not apply to %s, so nothing was changed or charged. "+
		"Fix the blocks and send them again.\n\n%s", j.Path, report)
}

// maxReportHTML leaves room, within one message, for the headline around
// the rendered report.
const maxReportHTML = 3200

// failReport records a failure as fail does, with, for a direct edit the
// editor refused, the report rendered for Telegram: the user's blocks and
// the file's nearest lines in <pre>, worded for the user who wrote them.
func (r *Runner) failReport(ctx context.Context, j db.Job, cause error, state, kind, msg string, out EditOutcome, d time.Duration) error {
	be := editblock.AsError(cause)
	if j.Mode != db.ModeDirect || be == nil || kind != "invalid" {
		return r.fail(ctx, j.ID, j.Attempts, state, kind, msg, out, d)
	}
	html := reply.HTMLf("Your edit does not apply to %s, so nothing was changed or charged.\n\n", j.Path) +
		be.HTML(editblock.ByUser, maxReportHTML) + "\n\nFix the blocks and send them again."
	if telegram.UTF16Len(html)+2 > telegram.MaxMessageLength {
		// Quoted lines full of escaped characters (or a very long path):
		// a message is split only outside <pre>, so say it without quotes.
		html = telegram.Escape(msg)
	}
	return r.DB.InTx(ctx, func(tx pgx.Tx) error {
		if j.Attempts > 0 {
			if err := db.HoldJobLease(ctx, tx, j.ID, j.Attempts); err != nil {
				return err
			}
		}
		failed, err := db.FailJob(ctx, tx, j.ID, db.JobFailure{State: state, Kind: kind, Message: msg, Model: out.Model,
			PromptTokens: out.PromptTokens, CompletionTokens: out.CompletionTokens, CostUSD: out.CostUSD,
			EditAttempts: out.Attempts, Duration: d})
		if err != nil || !failed {
			return err
		}
		return db.SetJobErrorHTML(ctx, tx, j.ID, html)
	})
}
