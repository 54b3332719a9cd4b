package bot

import (
	"context"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/telegram"
)

// sendProgress sends a job's "Working on …" message and records its id on
// the job, in the plan's transaction: the runner, which claims the job only
// after this commits (the job row stays locked until then), edits that
// message into the result instead of sending a second one. A message
// Telegram refuses for good is logged; the runner then answers with a new
// message.
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
