package bot

import (
	"context"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/reply"
	"github.com/devbot-hq/devbot/internal/telegram"
)

// sendProgress sends a job's "Working on …" message and records its id on
// the job, in the plan's transaction. The caller holds the job row's lock
// (db.LockJob) and saw the job unfinished: a runner, even one given the
// Sweeper's copy of the job's message, claims or finishes the job only
// after this commits, and then edits that message into the result instead
// of sending a second one. A message Telegram refuses for good is logged;
// the runner then answers with a new message.
func (b *Bot) sendProgress(ctx context.Context, q db.Querier, chatID, jobID int64, html string) error {
	m, err := b.Telegram.SendMessage(ctx, telegram.SendMessage{ChatID: chatID, Text: html, ParseMode: telegram.ParseModeHTML,
		DisablePreview: true})
	if err != nil {
		if fault.IsRetryable(err) {
			return err
		}
		b.Logger.WarnContext(ctx, "working message not delivered", "error", err.Error(), "blocked", telegram.IsBlocked(err))
		return nil
	}
	return db.SetJobProgressMessage(ctx, q, jobID, m.MessageID)
}

// progressMessage is the job's "Working on …" message, 0 when none was
// recorded.
func progressMessage(ctx context.Context, q db.Querier, jobID int64) (int64, error) {
	r, err := db.GetJobReply(ctx, q, jobID)
	if err != nil {
		return 0, err
	}
	if r.ProgressMessageID == nil {
		return 0, nil
	}
	return *r.ProgressMessageID, nil
}

// sendOver tells r in place of the message messageID (a job's "Working on
// …" message, which would otherwise stay, promising a result that never
// comes), or as new messages when there is none, when it cannot be edited
// any more, or when s cannot edit.
func sendOver(ctx context.Context, s reply.Sender, chatID, messageID int64, r reply.Reply) error {
	if e, ok := s.(reply.Editor); ok && messageID != 0 {
		return reply.Edit(ctx, e, chatID, messageID, r)
	}
	return reply.Send(ctx, s, chatID, r)
}
