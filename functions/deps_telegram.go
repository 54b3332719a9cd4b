package functions

import (
	"context"
	"fmt"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/bot"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/reply"
	"github.com/devbot-hq/devbot/internal/secretbox"
	"github.com/devbot-hq/devbot/internal/telegram"
)

// Telegram returns a Bot API client (TELEGRAM_API_URL, TELEGRAM_BOT_TOKEN)
// whose sends keep to TELEGRAM_MAX_RATE / TELEGRAM_INSTANCES and
// TELEGRAM_CHAT_RATE. It holds no state beyond http.DefaultTransport's pool
// and the process's one limiter (telegram.SharedLimiter): cheap to build.
func (d *Deps) Telegram() *telegram.Client {
	lim := telegram.SharedLimiter(d.Config.TelegramBotToken, telegram.Limits{Global: d.Config.TelegramRate(), Chat: d.Config.TelegramChatRate})
	return telegram.New(d.Config.TelegramAPIURL, d.Config.TelegramBotToken, nil).WithLimiter(lim)
}

// Keys seals and opens users' own LLM keys (API_KEY_ENCRYPTION_KEY).
func (d *Deps) Keys() (*secretbox.Box, error) {
	b, err := secretbox.New(d.Config.APIKeyEncryptionKey)
	if err != nil {
		return nil, fmt.Errorf("functions: Keys: %w", err)
	}
	return b, nil
}

// botBilling adapts billing.Service to the bot's Billing interface.
type botBilling struct{ s *billing.Service }

var _ bot.Billing = botBilling{}

func (b botBilling) BalanceText(ctx context.Context, q db.Querier, userID int64) (string, error) {
	return b.s.BalanceText(ctx, q, userID)
}

func (b botBilling) Offer() (string, [][]reply.Button) {
	text, buttons := b.s.PacksText()
	return text, replyButtons(buttons)
}

func (b botBilling) Buy(ctx context.Context, userID, chatID, updateID int64, pack int) (reply.Reply, error) {
	res, err := b.s.Buy(ctx, billing.BuyRequest{UserID: userID, ChatID: chatID, UpdateID: updateID, Pack: pack})
	if err != nil {
		return reply.Reply{}, err
	}
	text, buttons := billing.BuyReply(res)
	return reply.Reply{HTML: text, Buttons: replyButtons(buttons)}, nil
}

func replyButtons(in [][]billing.Button) [][]reply.Button {
	out := make([][]reply.Button, 0, len(in))
	for _, row := range in {
		var r []reply.Button
		for _, b := range row {
			r = append(r, reply.Button{Text: b.Text, Data: b.CallbackData, URL: b.URL})
		}
		out = append(out, r)
	}
	return out
}
