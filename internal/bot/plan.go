package bot

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/build"
	"github.com/devbot-hq/devbot/internal/changeset"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/refine"
	"github.com/devbot-hq/devbot/internal/reply"
	"github.com/devbot-hq/devbot/internal/telegram"
)

// Plan is what must happen after a command's transaction commits. It is
// stored in the inbox row, so a redelivery can finish it. Every step is
// idempotent: publishing a job twice is tolerated by RefineJobs, a bucket
// or a plain copy is written twice with the same bytes.
type Plan struct {
	Outcome string `json:"o"`
	// Callback is the query id of a button tap to answer.
	Callback     string `json:"cb,omitempty"`
	CallbackText string `json:"ct,omitempty"`
	// Bucket is a project bucket to create.
	Bucket string `json:"b,omitempty"`
	// Current names a version whose bytes become the file's plain copy.
	Current *FileRef `json:"c,omitempty"`
	// Currents are more such versions (the files of a project-wide undo).
	Currents []FileRef `json:"cs,omitempty"`
	// Job is a job to publish to refine-jobs.
	Job int64 `json:"j,omitempty"`
	// BuildStep is a build's step to publish to build-steps.
	BuildStep *BuildRef `json:"bs,omitempty"`
	// Progress is the job's "Working on …" message (HTML), sent before the
	// job is published and recorded on it, so that the runner edits it into
	// the result.
	Progress string `json:"w,omitempty"`
	// DeleteMessage is a message of the chat to delete (it held a key).
	DeleteMessage int64         `json:"d,omitempty"`
	Replies       []reply.Reply `json:"r,omitempty"`
	// Replace is a message the first reply replaces (edits), instead of
	// arriving as a new one: the Working message of a job that could not
	// be queued, which the failure notice answers.
	Replace int64 `json:"e,omitempty"`
	// Docs are documents built at send time (a file, a project's zip):
	// too large to keep in the inbox.
	Docs []DocRef `json:"f,omitempty"`
	// Sent counts the Bot API messages of Replies and Docs already
	// delivered, in order: a retry after a partial send skips them.
	Sent int `json:"s,omitempty"`

	job *db.Job // Job as created, while the plan is in hand (not stored)
}

// onlyJob tells a plan whose one effect is publishing a job it created.
func (p Plan) onlyJob() bool {
	return p.Job != 0 && p.job != nil && p.Progress == "" && p.Callback == "" && p.Bucket == "" && p.Current == nil &&
		len(p.Currents) == 0 && p.BuildStep == nil && p.DeleteMessage == 0 && len(p.Replies) == 0 && p.Replace == 0 &&
		len(p.Docs) == 0
}

// FileRef is one version of a file.
type FileRef struct {
	ProjectID string `json:"p"`
	Path      string `json:"f"`
	Version   int    `json:"v"`
}

// DocRef is a document to build when sending.
type DocRef struct {
	Kind    string  `json:"k"` // "file" or "export"
	File    FileRef `json:"r"`
	Name    string  `json:"n"`
	Caption string  `json:"c,omitempty"`
}

func (p Plan) encode() string {
	data, _ := json.Marshal(p)
	return string(data)
}

func decodePlan(s string) (Plan, error) {
	var p Plan
	err := json.Unmarshal([]byte(s), &p)
	return p, err
}

func (p *Plan) say(format string, args ...any) {
	p.Replies = append(p.Replies, reply.Text(format, args...))
}

// publishJob runs a plan that only publishes the job it created (onlyJob).
// Publishing twice is harmless (RefineJobs claims a job once), so it needs
// neither the inbox row's lock nor a record that it was done: a duplicate
// delivery finds the plan unanswered and publishes again, the redelivery
// after a failed publish does the same, and a publish lost with the
// instance is the sweeper's (a job queued and unclaimed past its grace is
// published again). The runner's claim records published_at. A refused
// publish goes through execute, which fails the job and says so.
func (b *Bot) publishJob(ctx context.Context, req Request, key string, p Plan) error {
	_, err := b.Jobs.Publish(ctx, refine.Outgoing(*p.job))
	if err != nil && fault.IsPermanent(err) {
		return b.execute(ctx, req, key, p)
	}
	return err
}

// execute runs a committed plan, then records that the user was answered.
// It holds the inbox row's lock throughout, so that of two deliveries of
// one update running at once (Pub/Sub can push a message to two instances)
// only one publishes and answers: the other waits, then finds it answered.
// The plan's reads go through the same transaction, so a handler never
// holds one pooled connection while waiting for another.
//
// A retryable failure returns (the redelivery runs the stored plan again);
// a permanent one is logged and the user told that it went wrong, instead
// of the plan's own replies, which would claim a success.
func (b *Bot) execute(ctx context.Context, req Request, key string, p Plan) error {
	var ran bool
	var runErr error
	err := b.DB.InTx(ctx, func(tx pgx.Tx) error {
		rec, found, err := db.LockProcessed(ctx, tx, Consumer, key)
		if err != nil {
			return err
		}
		if !found || rec.Replied {
			return nil // another delivery answered while this one waited
		}
		if !ran { // InTx may rerun fn: the effects happen once
			ran = true
			p, runErr = b.run(ctx, tx, req, p)
		}
		if runErr != nil {
			// Keep what is done (a published job, the replies sent), so
			// that the redelivery does not do it again.
			return db.SetProcessed(ctx, tx, Consumer, key, rec.Outcome, p.encode())
		}
		_, err = db.MarkReplied(ctx, tx, Consumer, key)
		return err
	})
	if runErr != nil {
		return runErr
	}
	return err
}

// run performs the plan's effects and sends its replies; it returns only
// retryable errors, with the plan left to do (the steps done are cleared,
// and Sent counts the messages delivered).
func (b *Bot) run(ctx context.Context, q db.Querier, req Request, p Plan) (Plan, error) {
	if err := b.effects(ctx, q, req, &p); err != nil {
		if fault.IsRetryable(err) {
			return p, err
		}
		b.Logger.ErrorContext(ctx, "a committed command's effect failed", "error", err.Error())
		p = Plan{Replace: p.Replace, Replies: []reply.Reply{reply.Text("Something went wrong on my side while doing that (%s). Please try again in a while.",
			plainReason(err))}}
	}
	if err := b.sendAll(ctx, q, req.ChatID, &p); err != nil {
		if fault.IsRetryable(err) {
			return p, err
		}
		// Blocked, or a reply Telegram refuses: nothing a retry changes.
		b.Logger.WarnContext(ctx, "reply not delivered", "error", err.Error(), "blocked", telegram.IsBlocked(err))
	}
	// A build's step goes out after the replies, so that the build's own
	// messages (its progress, its questions) come after "Started".
	if p.BuildStep != nil {
		if b.Builds == nil {
			b.Logger.ErrorContext(ctx, "a build step to publish, and no build-steps publisher")
			p.BuildStep = nil
			return p, nil
		}
		if err := build.Publish(ctx, q, b.Builds, p.BuildStep.ID, p.BuildStep.Seq); err != nil {
			if fault.IsRetryable(err) {
				return p, err
			}
			b.Logger.ErrorContext(ctx, "build step not published; the sweeper publishes it", "error", err.Error())
		}
		p.BuildStep = nil
	}
	return p, nil
}

// effects runs the plan's steps other than the replies, clearing each one
// that is done.
func (b *Bot) effects(ctx context.Context, q db.Querier, req Request, p *Plan) error {
	if p.Callback != "" {
		if err := b.Telegram.AnswerCallbackQuery(ctx, p.Callback, p.CallbackText); err != nil && fault.IsRetryable(err) {
			return err
		} else if err != nil {
			b.Logger.InfoContext(ctx, "callback not answered (too old?)", "error", err.Error())
		}
		p.Callback = ""
	}
	if p.Bucket != "" {
		if err := b.Files.EnsureBucket(ctx, p.Bucket); err != nil {
			return err
		}
		p.Bucket = ""
	}
	if p.Current != nil {
		if err := b.publishCurrent(ctx, q, *p.Current); err != nil {
			return err
		}
		p.Current = nil
	}
	for len(p.Currents) > 0 {
		if err := b.publishCurrent(ctx, q, p.Currents[0]); err != nil {
			return err
		}
		p.Currents = p.Currents[1:]
	}
	if p.Job != 0 {
		// Locked, so that a runner given the Sweeper's copy of the job's
		// message (the bot's first delivery died after its commit) cannot
		// finish and answer between this read and the Working message:
		// the runner waits for this transaction, then edits the message.
		j, err := db.LockJob(ctx, q, p.Job)
		if err != nil {
			return err
		}
		if p.Progress != "" && !j.Final() {
			if err := b.sendProgress(ctx, q, req.ChatID, j.ID, p.Progress); err != nil {
				return err
			}
		}
		p.Progress = ""
		if !j.Final() {
			if _, err := b.Jobs.Publish(ctx, refine.Outgoing(j)); err != nil {
				if !fault.IsPermanent(err) {
					return err
				}
				if err := b.refused(ctx, q, p, j.ID, err); err != nil {
					return err
				}
			} else {
				_ = db.MarkJobPublished(ctx, q, j.ID) // for the sweeper; without it the job is only published again
			}
		}
		p.Job = 0 // published (or finished): RefineJobs has it
	}
	if p.DeleteMessage != 0 {
		if err := b.Telegram.DeleteMessage(ctx, req.ChatID, p.DeleteMessage); err != nil {
			if fault.IsRetryable(err) {
				return err
			}
			b.Logger.WarnContext(ctx, "could not delete the message holding a key", "error", err.Error())
		}
		p.DeleteMessage = 0
	}
	return nil
}

// refused handles a job whose publish was refused for good: never queued,
// it is failed (its credits released) and marked replied, since the
// failure notice run sends instead of the plan's replies is its reply (a
// sweep would otherwise tell it a second time); that notice replaces the
// job's Working message. It returns cause for run to report. A job that is
// no longer queued is a runner's (the Sweeper published it): the runner
// tells its outcome, and the plan goes on as if published (nil).
func (b *Bot) refused(ctx context.Context, q db.Querier, p *Plan, jobID int64, cause error) error {
	failed, err := db.FailQueuedJob(ctx, q, jobID, db.JobFailure{State: db.JobFailed, Kind: "publish",
		Message: "the job could not be queued"})
	if err != nil {
		return err
	}
	if !failed {
		b.Logger.WarnContext(ctx, "publish refused for a job a runner already has", "job_id", jobID, "error", cause.Error())
		return nil
	}
	if _, err := db.MarkJobReplied(ctx, q, jobID); err != nil {
		return err
	}
	if p.Replace, err = progressMessage(ctx, q, jobID); err != nil {
		return err
	}
	return cause
}

func (b *Bot) sendAll(ctx context.Context, q db.Querier, chatID int64, p *Plan) error {
	rs := &resumeSender{Sender: b.Telegram, skip: p.Sent}
	defer func() { p.Sent = rs.done }()
	var s reply.Sender = rs
	if e, ok := b.Telegram.(reply.Editor); ok {
		s = &resumeEditor{resumeSender: rs, editor: e}
	}
	for i, r := range p.Replies {
		var err error
		if i == 0 && p.Replace != 0 {
			err = sendOver(ctx, s, chatID, p.Replace, r)
		} else {
			err = reply.Send(ctx, s, chatID, r)
		}
		if err != nil {
			return err
		}
	}
	for _, d := range p.Docs {
		r, err := b.buildDoc(ctx, q, d)
		if err != nil {
			return err
		}
		if err := reply.Send(ctx, s, chatID, r); err != nil {
			return err
		}
	}
	return nil
}

// resumeSender counts the messages delivered and skips the first skip of
// them: those an earlier delivery of the update sent before it failed. A
// plan's messages are the same each time (replies stored, documents one
// message each), so the count names the same messages.
type resumeSender struct {
	reply.Sender
	skip, done int
}

func (s *resumeSender) SendMessage(ctx context.Context, m telegram.SendMessage) (telegram.Message, error) {
	if s.done < s.skip {
		s.done++
		return telegram.Message{}, nil
	}
	msg, err := s.Sender.SendMessage(ctx, m)
	if err == nil {
		s.done++
	}
	return msg, err
}

func (s *resumeSender) SendDocument(ctx context.Context, d telegram.SendDocument) (telegram.Message, error) {
	if s.done < s.skip {
		s.done++
		return telegram.Message{}, nil
	}
	msg, err := s.Sender.SendDocument(ctx, d)
	if err == nil {
		s.done++
	}
	return msg, err
}

// resumeEditor is a resumeSender that edits too: an edit delivered counts
// as a message (a message it replaced by a new one counts that one), so
// a retry skips it as it skips a sent one.
type resumeEditor struct {
	*resumeSender
	editor reply.Editor
}

func (s *resumeEditor) EditMessageText(ctx context.Context, m telegram.EditMessageText) (telegram.Message, error) {
	if s.done < s.skip {
		s.done++
		return telegram.Message{}, nil
	}
	msg, err := s.editor.EditMessageText(ctx, m)
	if err == nil || telegram.IsNotModified(err) {
		s.done++
	}
	return msg, err
}

// publishCurrent refreshes a file's plain copy, unless the file has moved on
// since (a newer plan owns the copy then).
func (b *Bot) publishCurrent(ctx context.Context, q db.Querier, ref FileRef) error {
	f, err := db.FileByPath(ctx, q, ref.ProjectID, ref.Path)
	if errors.Is(err, fault.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if f.Version != ref.Version {
		return nil
	}
	data, err := b.versionBytes(ctx, q, ref)
	if err != nil {
		return err
	}
	return b.Files.PublishCurrent(ctx, ref.ProjectID, ref.Path, data, f.ContentType)
}

func (b *Bot) versionBytes(ctx context.Context, q db.Querier, ref FileRef) ([]byte, error) {
	v, err := db.GetFileVersion(ctx, q, ref.ProjectID, ref.Path, ref.Version)
	if err != nil {
		return nil, err
	}
	return b.Files.GetBlob(ctx, ref.ProjectID, v.BlobKey)
}

func (b *Bot) buildDoc(ctx context.Context, q db.Querier, d DocRef) (reply.Reply, error) {
	var data []byte
	var err error
	switch d.Kind {
	case "file":
		data, err = b.versionBytes(ctx, q, d.File)
	case "export":
		return reply.Reply{HTML: d.Caption, Document: &reply.Document{Name: d.Name, Write: changeset.Zip(ctx, q, b.Files, d.File.ProjectID)}}, nil
	}
	if err != nil {
		return reply.Reply{}, err
	}
	return reply.Reply{HTML: d.Caption, Document: &reply.Document{Name: d.Name, Data: data}}, nil
}
