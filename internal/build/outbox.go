package build

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/devbot-hq/devbot/internal/changeset"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/reply"
	"github.com/devbot-hq/devbot/internal/telegram"
)

// BlobReader reads stored file versions (the zip's files).
type BlobReader = changeset.BlobReader

// outboxClaim is how long a claim to send a build's message keeps other
// deliveries from sending it (longer than a send takes).
const outboxClaim = 90 * time.Second

// flush sends the build's unsent messages in order, each once: claimed,
// sent, recorded. A failed send releases its claim and returns (retryable
// errors are handed back; a message Telegram refuses for good is recorded
// as sent, so it does not block the rest).
func (r *Runner) flush(ctx context.Context, id int64) error {
	return Flush(ctx, r.DB, r.Telegram, r.Files, r.Logger, id)
}

// Flush sends build id's unsent messages (the runner after each step, the
// bot after a button, the sweeper for what was left).
func Flush(ctx context.Context, d *db.DB, tg Sender, blobs BlobReader, log *slog.Logger, id int64) error {
	for {
		it, ok, err := db.ClaimOutbox(ctx, d.Pool, id, outboxClaim)
		if errors.Is(err, db.ErrOutboxBusy) {
			return nil // another delivery is sending; it sends the rest
		}
		if err != nil || !ok {
			return err
		}
		b, err := db.GetBuild(ctx, d.Pool, id)
		if err != nil {
			return err
		}
		err = send(ctx, d, tg, blobs, b, it)
		if err != nil && fault.IsRetryable(err) {
			if rerr := db.ReleaseOutbox(context.WithoutCancel(ctx), d.Pool, it.ID); rerr != nil {
				log.WarnContext(ctx, "build message claim not released", "error", rerr.Error())
			}
			return err
		}
		if err != nil {
			log.WarnContext(ctx, "build message not delivered", "error", err.Error(), "blocked", telegram.IsBlocked(err))
		}
		if err := db.MarkOutboxSent(context.WithoutCancel(ctx), d.Pool, it.ID); err != nil {
			return err
		}
	}
}

func send(ctx context.Context, d *db.DB, tg Sender, blobs BlobReader, b db.Build, it db.OutboxItem) error {
	rep := reply.Reply{HTML: it.HTML}
	if len(it.Buttons) > 0 {
		if err := json.Unmarshal(it.Buttons, &rep.Buttons); err != nil {
			return fault.Permanentf("build %d: outbox %d buttons: %v", b.ID, it.ID, err)
		}
	}
	switch it.Kind {
	case "progress":
		if b.ProgressMessageID != nil {
			return reply.Edit(ctx, tg, b.ChatID, *b.ProgressMessageID, rep)
		}
		m := telegram.SendMessage{ChatID: b.ChatID, Text: rep.HTML, ParseMode: telegram.ParseModeHTML, DisablePreview: true}
		m.ReplyMarkup = reply.Keyboard(rep.Buttons)
		sent, err := tg.SendMessage(ctx, m)
		if err != nil {
			return err
		}
		return db.SetBuildProgressMessage(context.WithoutCancel(ctx), d.Pool, b.ID, sent.MessageID)
	case "zip":
		_, err := tg.SendDocument(ctx, telegram.SendDocument{ChatID: b.ChatID, FileName: it.HTML,
			Write: changeset.Zip(ctx, d.Pool, blobs, b.ProjectID)})
		return err
	}
	return reply.Send(ctx, tg, b.ChatID, rep)
}
