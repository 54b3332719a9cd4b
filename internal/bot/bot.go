// Package bot is the TelegramUpdates consumer: it turns each Telegram update
// into a command, runs it against the store, and answers the user.
//
// Exactly once, on at-least-once delivery: every update is recorded in the
// inbox (processed_messages, key update_id) in the same transaction as the
// command's effects, together with a plan of what must happen after the
// commit (publish a job, refresh a file's plain copy, delete the message
// that held a key, the replies). The plan runs after the commit and the
// inbox row is then marked replied. A redelivery finds the row: replied, it
// does nothing; not yet replied, it runs the stored plan again (every step
// of it is idempotent or harmless to repeat).
package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/logging"
	"github.com/devbot-hq/devbot/internal/reply"
	"github.com/devbot-hq/devbot/internal/secretbox"
	"github.com/devbot-hq/devbot/internal/telegram"
)

// Consumer is the inbox name of this consumer.
const Consumer = "TelegramUpdates"

// Telegram is what the bot needs of the Bot API client.
type Telegram interface {
	reply.Sender
	GetFile(ctx context.Context, fileID string) (telegram.File, error)
	Download(ctx context.Context, filePath string, maxBytes int64) ([]byte, error)
	AnswerCallbackQuery(ctx context.Context, id, text string) error
	DeleteMessage(ctx context.Context, chatID, messageID int64) error
	// GetMe is the bot itself: its username tells our commands from other
	// bots' in groups (/cmd@name).
	GetMe(ctx context.Context) (telegram.User, error)
}

// Files is what the bot needs of storage (storage.Files): versions are
// content-addressed blobs; the plain path holds a copy of the current one.
type Files interface {
	EnsureBucket(ctx context.Context, bucket string) error
	PutBlob(ctx context.Context, bucket string, data []byte, contentType string) (blobKey, sha256hex string, err error)
	GetBlob(ctx context.Context, bucket, blobKey string) ([]byte, error)
	PublishCurrent(ctx context.Context, bucket, path string, data []byte, contentType string) error
}

// Publisher publishes to the refine-jobs topic (events.Publisher).
type Publisher interface {
	Publish(ctx context.Context, m events.Outgoing) (string, error)
}

// Billing is what /balance and /buy need of the billing service. Optional:
// without it /balance reads the ledger and /buy says it is unavailable.
type Billing interface {
	BalanceText(ctx context.Context, q db.Querier, userID int64) (string, error)
	// Offer is /buy's text and buttons (callback data "buy:<index>").
	Offer() (html string, buttons [][]reply.Button)
	// Buy starts buying pack for the user; the reply says what happened
	// (a checkout link, or credits added at once in mock mode).
	Buy(ctx context.Context, userID, chatID, updateID int64, pack int) (reply.Reply, error)
}

// Config is the bot's part of the configuration.
type Config struct {
	WelcomeCredits    int64
	BaseRefineCredits int64
	MaxRefineCredits  int64
	// RefineRateLimit is how many refinements a user may start per
	// RefineRateWindow (0: no limit); one that ended without a charge
	// counts half (see rateLimit).
	RefineRateLimit  int
	RefineRateWindow time.Duration
	MaxFileBytes     int64
	// MaxProjectFiles and MaxProjectBytes bound a project (0: no bound),
	// checked at every write that adds a file or grows one, and by /export.
	MaxProjectFiles int
	MaxProjectBytes int64
	EditBackend     string // llm or aider: the mode of a job that is not a direct edit
	// NoModel: the operator configured no model key, so an instruction in
	// plain words works only with the user's own /setkey key.
	NoModel bool
	// BotUsername is the bot's @username without the @; empty: asked of
	// Telegram (getMe) once, when first needed.
	BotUsername string
}

// Deps are the bot's collaborators.
type Deps struct {
	DB       *db.DB
	Telegram Telegram
	Files    Files
	Jobs     Publisher
	// Builds publishes to build-steps (optional: without it /build is
	// refused).
	Builds  Publisher
	Keys    *secretbox.Box
	Billing Billing // optional
	// ValidatePath is storage.ValidatePath: its error names the problem in
	// words a user understands.
	ValidatePath func(string) error
	// IsDirect is editblock.IsDirect: the instruction carries edit blocks
	// or a diff, applied without a model.
	IsDirect func(string) bool
	Logger   *slog.Logger
}

// Bot handles updates. It is safe for concurrent use.
type Bot struct {
	cfg Config
	Deps

	meMu sync.Mutex
	me   string // the bot's username, once known
}

// New returns a bot.
func New(cfg Config, d Deps) *Bot {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = 1 << 20
	}
	if cfg.EditBackend == "" {
		cfg.EditBackend = db.ModeLLM
	}
	return &Bot{cfg: cfg, Deps: d}
}

var errDuplicate = errors.New("update already processed")

// Handle processes one delivery of a Telegram update (the events.Consumer's
// Handle). It returns nil to ack, a retryable error to be called again. An
// update it cannot understand is acked: Telegram holds back a chat's later
// updates while one fails, and Pub/Sub would only redeliver it.
func (b *Bot) Handle(ctx context.Context, m events.Message) error {
	u, err := telegram.ParseUpdate(m.Data)
	if err != nil {
		b.Logger.WarnContext(ctx, "undecodable Telegram update, acked", "error", err.Error(), "bytes", len(m.Data))
		return nil
	}
	req, ok := ParseRequest(u)
	if !ok {
		b.Logger.InfoContext(ctx, "update without a request, acked", "update_id", u.UpdateID)
		return nil
	}
	ctx = logging.With(ctx, slog.Int64("update_id", req.UpdateID), slog.Int64("chat_id", req.ChatID))
	if !req.Private() && !req.mayBeForUs() {
		// A service message (a member joined, a pin), chatter or a sticker
		// in a group: not ours to answer, nor to record, and its sender is
		// not registered. Decided before getMe, which could only fail.
		b.Logger.InfoContext(ctx, "group message not addressed to the bot, ignored", "chat_type", req.ChatType)
		return nil
	}
	if req.BotName != "" || !req.Private() {
		me, err := b.username(ctx)
		if err != nil {
			if fault.IsRetryable(err) {
				return err
			}
			b.Logger.ErrorContext(ctx, "getMe failed: cannot tell our commands from other bots'", "error", err.Error())
		}
		if req.BotName != "" && !strings.EqualFold(req.BotName, me) {
			// Another bot's command (/balance@OtherBot): not ours to answer,
			// nor to record.
			b.Logger.InfoContext(ctx, "command for another bot, ignored", "bot", req.BotName)
			return nil
		}
		if !req.Private() && !req.forUs(me) {
			// Text in a group that mentions others, not us.
			b.Logger.InfoContext(ctx, "group message not addressed to the bot, ignored", "chat_type", req.ChatType)
			return nil
		}
	}
	return b.handle(ctx, req)
}

// username is the bot's @username (without the @): the configured one, or
// getMe's, asked once. It returns "" with the error when neither is known.
func (b *Bot) username(ctx context.Context) (string, error) {
	if b.cfg.BotUsername != "" {
		return strings.TrimPrefix(b.cfg.BotUsername, "@"), nil
	}
	b.meMu.Lock()
	defer b.meMu.Unlock()
	if b.me != "" {
		return b.me, nil
	}
	u, err := b.Telegram.GetMe(ctx)
	if err != nil {
		return "", fmt.Errorf("getMe: %w", err)
	}
	b.me = u.Username
	return b.me, nil
}

// knownUsername is username without a network call: "" until known.
func (b *Bot) knownUsername() string {
	if b.cfg.BotUsername != "" {
		return strings.TrimPrefix(b.cfg.BotUsername, "@")
	}
	b.meMu.Lock()
	defer b.meMu.Unlock()
	return b.me
}

func (b *Bot) handle(ctx context.Context, req Request) error {
	key := strconv.FormatInt(req.UpdateID, 10)
	tu := db.TelegramUser{ // the user's chat is their private chat, never a group's: payment and refund notices go there
		TelegramID: req.From.ID, ChatID: req.PrivateChatID(), FirstName: req.From.FirstName, Username: req.From.Username,
	}
	var prep prepared
	var user db.User
	early := req.Private() && needsPreparing(req)
	if early {
		// An upload or a purchase does network work before the
		// transaction (prepare): a duplicate must not do it again, and it
		// needs the user's row.
		if done, err := b.replay(ctx, req, key); done || err != nil {
			return err
		}
		var err error
		if user, _, err = db.EnsureUser(ctx, b.DB.Pool, tu, b.cfg.WelcomeCredits); err != nil {
			return err
		}
		if prep, err = b.prepare(ctx, user, req); err != nil {
			return b.refuseOrRetry(ctx, req, tu, key, err)
		}
	}
	// Everything else is one transaction: the user, the command, and the
	// inbox record (commit).
	p, replayed, err := b.commit(ctx, req, key, func(tx pgx.Tx) (Plan, error) {
		var u db.User
		var err error
		if early {
			u, err = db.UserByID(ctx, tx, user.ID)
		} else {
			u, _, err = db.TouchUser(ctx, tx, tu, b.cfg.WelcomeCredits)
		}
		if err != nil {
			return Plan{}, err
		}
		return b.dispatch(ctx, tx, u, req, prep)
	})
	switch {
	case replayed:
		return err
	case err != nil:
		return b.refuseOrRetry(ctx, req, tu, key, err)
	case p.onlyJob():
		return b.publishJob(ctx, req, key, p)
	}
	return b.execute(ctx, req, key, p)
}

// needsPreparing tells the requests prepare does network work for.
func needsPreparing(req Request) bool { return isUpload(req) || isPurchase(req) }

// isUpload is a document sent (not edited) to be added to the project.
func isUpload(req Request) bool { return req.Document != nil && !req.Edited }

// isPurchase is /buy with a pack, or a pack's button.
func isPurchase(req Request) bool {
	return req.Command == "buy" && req.Args != "" || strings.HasPrefix(req.CallbackData, "buy:")
}

// commit runs fn in a transaction that records the plan it returns in the
// inbox, last: a duplicate delivery blocks on the key until this one
// commits, then finds it taken, rolls back, and replays the recorded plan
// instead (replayed=true, err is the replay's).
func (b *Bot) commit(ctx context.Context, req Request, key string, fn func(tx pgx.Tx) (Plan, error)) (p Plan, replayed bool, err error) {
	err = b.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		if p, err = fn(tx); err != nil {
			return err
		}
		first, err := db.MarkProcessed(ctx, tx, Consumer, key, p.Outcome, p.encode())
		if err == nil && !first {
			return errDuplicate
		}
		return err
	})
	if errors.Is(err, errDuplicate) {
		_, err = b.replay(ctx, req, key)
		return p, true, err
	}
	return p, false, err
}

// refuseOrRetry answers a failed update: a retryable error is returned for
// the redelivery; a permanent one is recorded as the update's refusal
// (with the user registered, even when their first request is refused)
// and told.
func (b *Bot) refuseOrRetry(ctx context.Context, req Request, tu db.TelegramUser, key string, err error) error {
	if fault.IsRetryable(err) {
		return err
	}
	rejected := b.rejection(ctx, req, err)
	p, replayed, err := b.commit(ctx, req, key, func(tx pgx.Tx) (Plan, error) {
		_, _, err := db.TouchUser(ctx, tx, tu, b.cfg.WelcomeCredits)
		return rejected, err
	})
	if replayed || err != nil {
		return err
	}
	return b.execute(ctx, req, key, p)
}

// replay finishes an update an earlier delivery recorded: done=true when
// the inbox has it.
func (b *Bot) replay(ctx context.Context, req Request, key string) (done bool, err error) {
	rec, found, err := db.LookupProcessed(ctx, b.DB.Pool, Consumer, key)
	if err != nil || !found {
		return false, err
	}
	if rec.Replied {
		b.Logger.InfoContext(ctx, "duplicate update, already answered")
		return true, nil
	}
	p, err := decodePlan(rec.Detail)
	if err != nil {
		b.Logger.ErrorContext(ctx, "stored plan unreadable; not answering again", "error", err.Error())
		return true, nil
	}
	b.Logger.InfoContext(ctx, "duplicate update, finishing the stored plan")
	return true, b.execute(ctx, req, key, p)
}

// rejection turns a permanent error into the answer the user gets.
func (b *Bot) rejection(ctx context.Context, req Request, err error) Plan {
	p := Plan{Outcome: db.OutcomeRejected, Callback: req.CallbackID}
	if req.Command == "setkey" {
		p.DeleteMessage = req.MessageID // a refused key must not stay in the chat either
	}
	var ue *userError
	if errors.As(err, &ue) {
		p.Replies = []reply.Reply{ue.reply}
		return p
	}
	b.Logger.WarnContext(ctx, "request refused", "error", err.Error())
	p.Replies = []reply.Reply{refusal(req, err, b.cfg.MaxFileBytes)}
	return p
}

// userError is a refusal with the answer to give; it is permanent.
type userError struct{ reply reply.Reply }

func (e *userError) Error() string { return "refused: " + e.reply.HTML }

// refuse returns a permanent refusal whose reply is format with escaped
// arguments (see reply.HTMLf).
func refuse(format string, args ...any) error {
	return fault.AsPermanent(&userError{reply: reply.Text(format, args...)})
}

func plainReason(err error) string {
	switch {
	case errors.Is(err, fault.ErrNotFound):
		return "not found"
	case errors.Is(err, fault.ErrConflict):
		return "it conflicts with what is there"
	case errors.Is(err, fault.ErrTooLarge):
		return "too large"
	case errors.Is(err, fault.ErrInvalid):
		return "invalid input"
	case errors.Is(err, fault.ErrInsufficient):
		return "not enough credits"
	}
	return "an internal error"
}

// GiveUp answers an update that failed on every delivery attempt (the
// database, storage or Telegram stayed down): the user is told, once,
// instead of waiting for an answer that never comes. When the update's
// stored plan queued a job that no consumer has claimed (its publish kept
// failing), the job is failed and its credits released: nothing else would
// ever release them. A job that is running or finished tells the user
// itself. The apology for a failed job replaces its "Working on …"
// message, which would otherwise stay. A /setkey message, which holds a
// key, is deleted either way.
//
// The inbox row's lock is held throughout, so two deliveries of the
// dead letter tell the user once.
func (b *Bot) GiveUp(ctx context.Context, m events.Message, cause error) error {
	u, err := telegram.ParseUpdate(m.Data)
	if err != nil {
		return nil
	}
	req, ok := ParseRequest(u)
	if !ok {
		return nil
	}
	ctx = logging.With(ctx, slog.Int64("update_id", req.UpdateID), slog.Int64("chat_id", req.ChatID))
	if me := b.knownUsername(); req.BotName != "" && me != "" && !strings.EqualFold(req.BotName, me) {
		return nil // another bot's command: not ours to apologise for
	}
	if !req.Private() && !req.forUs(b.knownUsername()) {
		return nil // group chatter or a service message: Handle ignores it, so no apology
	}
	key := strconv.FormatInt(req.UpdateID, 10)
	var ran bool
	var sendErr error
	err = b.DB.InTx(ctx, func(tx pgx.Tx) error {
		detail := cause.Error()
		if len(detail) > 2000 {
			detail = detail[:2000]
		}
		if _, err := db.MarkProcessed(ctx, tx, Consumer, key, db.OutcomeGaveUp, detail); err != nil {
			return err
		}
		rec, _, err := db.LockProcessed(ctx, tx, Consumer, key)
		if err != nil {
			return err
		}
		if rec.Replied {
			return nil
		}
		tell := true
		var over int64 // the failed job's Working message
		if p, err := decodePlan(rec.Detail); err == nil && p.Job != 0 {
			failed, err := db.FailQueuedJob(ctx, tx, p.Job, db.JobFailure{State: db.JobFailed, Kind: "gave_up",
				Message: "the refinement could not be queued"})
			if err != nil {
				return err
			}
			if failed {
				if _, err := db.MarkJobReplied(ctx, tx, p.Job); err != nil { // the notice below is its reply
					return err
				}
				if over, err = progressMessage(ctx, tx, p.Job); err != nil {
					return err
				}
			}
			tell = failed
		}
		if !ran { // InTx may rerun fn: tell once
			ran = true
			b.Logger.ErrorContext(ctx, "giving up on an update", "error", cause.Error(), "tell", tell)
			sendErr = b.giveUpNotices(ctx, req, tell, over)
		}
		if sendErr != nil {
			return errGiveUpRetry // roll back: the next GiveUp does it all again
		}
		_, err = db.MarkReplied(ctx, tx, Consumer, key)
		return err
	})
	if sendErr != nil {
		return sendErr
	}
	return err
}

var errGiveUpRetry = errors.New("give-up notice not sent")

// giveUpNotices deletes a message that held a key and tells the user, in
// place of the message over when it is not 0; it returns only retryable
// errors.
func (b *Bot) giveUpNotices(ctx context.Context, req Request, tell bool, over int64) error {
	if req.Command == "setkey" && req.MessageID != 0 {
		if err := b.Telegram.DeleteMessage(ctx, req.ChatID, req.MessageID); err != nil {
			if fault.IsRetryable(err) {
				return err
			}
			b.Logger.WarnContext(ctx, "could not delete the message holding a key", "error", err.Error())
		}
	}
	if !tell {
		return nil
	}
	r := reply.Text("Sorry, I could not handle that message: a service I depend on is unavailable. Please send it again in a few minutes.")
	if err := sendOver(ctx, b.Telegram, req.ChatID, over, r); err != nil {
		if fault.IsRetryable(err) {
			return err
		}
		b.Logger.WarnContext(ctx, "give-up notice not delivered", "error", err.Error(), "blocked", telegram.IsBlocked(err))
	}
	return nil
}
