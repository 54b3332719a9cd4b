package functions

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v82"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/telegram"
)

// Billing builds the billing service: /buy and /balance for the bot, the
// event handler for StripeEvents. It is cheap (the pool is shared), so each
// function builds its own. The Stripe client is built only when a secret
// key is set and payments are not mocked; the notifier only when a bot
// token is set.
func (d *Deps) Billing(ctx context.Context) (*billing.Service, error) {
	pool, err := d.DB(ctx)
	if err != nil {
		return nil, err
	}
	var n *telegramNotifier
	if d.Config.TelegramBotToken != "" {
		n = &telegramNotifier{d.Telegram()}
	}
	svc, err := billing.New(billing.ConfigFrom(d.Config, d.Logger), pool, d.stripeClient(), notifierOrNil(n))
	if err != nil {
		return nil, fmt.Errorf("billing: %w", err)
	}
	return svc, nil
}

// notifierOrNil keeps a nil *telegramNotifier from becoming a non-nil
// interface value.
func notifierOrNil(n *telegramNotifier) interface {
	Notify(ctx context.Context, chatID int64, html string) error
} {
	if n == nil {
		return nil
	}
	return n
}

// stripeClient is the Stripe API client, or nil with mock payments or
// without a key. STRIPE_API_URL points it at a fake.
func (d *Deps) stripeClient() *stripe.Client {
	c := d.Config
	if c.MockStripePayments || c.StripeSecretKey == "" {
		return nil
	}
	cfg := &stripe.BackendConfig{
		HTTPClient: &http.Client{Timeout: 30 * time.Second},
		// The client retries network errors and 429s itself; creating
		// requests carry idempotency keys, so its retries are safe.
		MaxNetworkRetries: stripe.Int64(2),
		LeveledLogger:     stripeLogger{d.Logger},
	}
	if c.StripeAPIURL != "" {
		cfg.URL = stripe.String(c.StripeAPIURL)
	}
	return stripe.NewClient(c.StripeSecretKey, stripe.WithBackends(stripe.NewBackendsWithConfig(cfg)))
}

// telegramNotifier adapts the Telegram client to billing's notifier.
type telegramNotifier struct{ c *telegram.Client }

func (n *telegramNotifier) Notify(ctx context.Context, chatID int64, html string) error {
	_, err := n.c.SendMessage(ctx, telegram.SendMessage{ChatID: chatID, Text: html,
		ParseMode: telegram.ParseModeHTML, DisablePreview: true})
	return err
}

// stripeLogger routes stripe-go's own log lines to slog; its informational
// lines (every request) go to debug.
type stripeLogger struct{ l *slog.Logger }

func (s stripeLogger) Debugf(format string, v ...any) {
	s.l.Debug("stripe: " + fmt.Sprintf(format, v...))
}
func (s stripeLogger) Infof(format string, v ...any) {
	s.l.Debug("stripe: " + fmt.Sprintf(format, v...))
}
func (s stripeLogger) Warnf(format string, v ...any) {
	s.l.Warn("stripe: " + fmt.Sprintf(format, v...))
}
func (s stripeLogger) Errorf(format string, v ...any) {
	s.l.Error("stripe: " + fmt.Sprintf(format, v...))
}
