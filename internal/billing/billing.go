// Package billing sells credits and keeps them honest: /buy creates a Stripe
// Checkout Session (or, with mock payments, credits at once) and records it
// as a pending payment, the Stripe webhook verifies and forwards events, and
// the StripeEvents consumer turns them into ledger entries exactly once, maps
// refunds back to the purchase they undo, and tells the user on Telegram.
//
// What a session buys is what /buy recorded in its payment row, never what
// an event's metadata says, and only when Stripe's amount_total and currency
// are the recorded ones; otherwise the payment is set aside as a mismatch
// and nothing is credited. A paid event is never acknowledged unapplied:
// HandleDeadLettered is its last chance, on the last delivery attempt, from
// the dead-letter topic and from the sweeper, and it keeps the message while
// the database is down.
//
// Every change to a balance is a ledger entry whose cause is its idempotency
// key: "payment:<checkout session>" for a Stripe purchase (so the several
// events that can fulfil one session credit once), "mock:<telegram update>"
// for a mock purchase, "refund:<charge>:<cumulative amount>" for a refund.
package billing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"

	"github.com/stripe/stripe-go/v82"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
)

// Consumer is the inbox name of the StripeEvents consumer.
const Consumer = "StripeEvents"

// notifier tells a user something on Telegram (HTML parse mode). The
// composition root adapts the Telegram client to it.
type notifier interface {
	Notify(ctx context.Context, chatID int64, html string) error
}

// Config is what billing needs from the configuration.
type Config struct {
	Packs      []config.CreditPack
	SuccessURL string
	CancelURL  string
	// Mock credits /buy at once, without Stripe (MOCK_STRIPE_PAYMENTS).
	Mock bool
	// Production refuses Mock.
	Production bool
	Logger     *slog.Logger
}

// ConfigFrom picks billing's settings out of the whole configuration.
func ConfigFrom(c *config.Config, logger *slog.Logger) Config {
	return Config{
		Packs:      c.CreditPacks,
		SuccessURL: c.CheckoutSuccessURL,
		CancelURL:  c.CheckoutCancelURL,
		Mock:       c.MockStripePayments,
		Production: c.Production(),
		Logger:     logger,
	}
}

// Service sells credits and applies Stripe's events. It is safe for
// concurrent use.
type Service struct {
	cfg    Config
	db     *db.DB
	stripe *stripe.Client
	notify notifier
	log    *slog.Logger
}

// ErrMockInProduction is returned by New for mock payments in production.
var ErrMockInProduction = errors.New("billing: mock payments (MOCK_STRIPE_PAYMENTS=true) are refused when ENVIRONMENT=production")

// New builds the service. stripeClient may be nil when the service only
// applies events (StripeEvents) or runs with mock payments; n may be nil when
// it only serves /buy and /balance (the bot sends those replies itself).
func New(cfg Config, d *db.DB, stripeClient *stripe.Client, n notifier) (*Service, error) {
	if cfg.Mock && cfg.Production {
		return nil, ErrMockInProduction
	}
	if d == nil {
		return nil, errors.New("billing: a database is required")
	}
	for i, p := range cfg.Packs {
		if p.Credits <= 0 || p.Amount <= 0 || len(p.Currency) != 3 {
			return nil, fmt.Errorf("billing: credit pack %d (%d credits for %d %s) is not a valid offer", i, p.Credits, p.Amount, p.Currency)
		}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{cfg: cfg, db: d, stripe: stripeClient, notify: n, log: logger}, nil
}

// Packs returns the credit packs on offer, in /buy's order.
func (s *Service) Packs() []config.CreditPack { return s.cfg.Packs }

// Mock reports whether purchases are mock ones.
func (s *Service) Mock() bool { return s.cfg.Mock }

// classifyStripe classifies an error of the Stripe client once, here.
// stripe-go retries network errors and 429s itself but not Stripe-formatted
// 5xx or 409 (a concurrent request with the same idempotency key): those are
// worth another delivery.
func classifyStripe(err error) error {
	if err == nil {
		return nil
	}
	var se *stripe.Error
	if errors.As(err, &se) {
		e := fmt.Errorf("stripe %d %s: %s", se.HTTPStatusCode, se.Type, se.Msg)
		switch {
		case se.HTTPStatusCode == 429:
			return fault.AsRetryable(fmt.Errorf("%w: %w", fault.ErrRateLimited, e))
		case se.HTTPStatusCode == 409 || se.HTTPStatusCode >= 500 || se.HTTPStatusCode == 0:
			return fault.AsRetryable(fmt.Errorf("%w: %w", fault.ErrUnavailable, e))
		case se.HTTPStatusCode == 401 || se.HTTPStatusCode == 403:
			return fault.AsPermanent(fmt.Errorf("%w: %w", fault.ErrUnauthorized, e))
		default:
			return fault.AsPermanent(fmt.Errorf("%w: %w", fault.ErrInvalid, e))
		}
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) {
		return fault.AsRetryable(fmt.Errorf("%w: stripe: %w", fault.ErrUnavailable, err))
	}
	return err
}
