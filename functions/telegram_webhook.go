package functions

import (
	"context"
	"net/http"

	"github.com/devbot-hq/devbot/internal/bot"
)

// buildTelegramWebhook: verify Telegram's secret token, publish the raw
// update to telegram-updates, answer 200 once the publish is confirmed.
func buildTelegramWebhook(ctx context.Context, d *Deps) (http.Handler, error) {
	pub, err := d.Publisher(ctx, d.Config.TopicTelegramUpdates)
	if err != nil {
		return nil, err
	}
	return &bot.Webhook{Secret: d.Config.TelegramWebhookSecret, Publisher: pub, Logger: d.Logger}, nil
}
