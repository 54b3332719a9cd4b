package logging_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/logging"
)

const (
	opKey   = "sk-operator-0123456789abcdef"
	userKey = "sk-user-fedcba9876543210"
)

type keyStringer struct{}

func (keyStringer) String() string { return "stringer " + opKey }

// Every place a secret can reach a line: the message, an attribute, a
// group, an error value, a Stringer, a struct, a bound attribute, a group
// name, the context's attributes; for the configured secrets and the
// context's own.
func TestScrubEverywhere(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			logger := logging.New(&buf, format, "debug", opKey, "short")
			ctx := logging.WithSecret(context.Background(), userKey)
			ctx = logging.With(ctx, slog.String("scope", "ctx "+userKey))
			bound := logger.With("bound", "bound "+opKey).WithGroup("g " + opKey)
			bound.ErrorContext(ctx, "refused "+opKey+" and "+userKey+" (short values stay)",
				"error", fmt.Errorf("HTTP 401: %s", userKey),
				"err2", errors.New(opKey),
				"s", keyStringer{},
				"st", struct{ Key string }{userKey},
				slog.Group("grp", slog.String("inner", "x "+userKey), slog.Any("e", errors.New(opKey))),
				"n", 42)
			out := buf.String()
			for _, k := range []string{opKey, userKey} {
				if strings.Contains(out, k) {
					t.Errorf("%s line shows a secret:\n%s", format, out)
				}
			}
			if n := strings.Count(out, logging.Redacted); n < 11 {
				t.Errorf("%d redactions, want every occurrence replaced (11):\n%s", n, out)
			}
			if !strings.Contains(out, "42") || !strings.Contains(out, "refused ") || !strings.Contains(out, "short") {
				t.Errorf("scrubbing lost what is not secret:\n%s", out)
			}
			// Without the context, a user's key is nobody's secret.
			buf.Reset()
			logger.Info("plain " + userKey)
			if !strings.Contains(buf.String(), userKey) {
				t.Errorf("a key outside its context was scrubbed: %s", buf.String())
			}
		})
	}
}

// BenchmarkScrub measures the handler on a typical line (a message, five
// attributes, two context attributes) against eight configured secrets and
// one context secret, none present (the common case) and one present; "no
// secrets" is the handler passing lines through, the cost without it.
func BenchmarkScrub(b *testing.B) {
	secrets := []string{"postgres://user:pw0123456789@db/x", "pw0123456789", "123456:ABCDEF-telegram-token",
		"hook-secret-abcdef", "sk_live_0123456789abcdef", "whsec_0123456789abcdef", opKey,
		"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
	for _, bc := range []struct {
		name    string
		secrets []string
		user    string
		msg     string
	}{
		{"no secrets", nil, "", "delivery handled"},
		{"clean", secrets, userKey, "delivery handled"},
		{"dirty", secrets, userKey, "refused " + userKey},
	} {
		b.Run(bc.name, func(b *testing.B) {
			logger := logging.New(io.Discard, "json", "info", bc.secrets...)
			ctx := logging.WithSecret(context.Background(), bc.user)
			ctx = logging.With(ctx, slog.String("message_id", "1234567890"), slog.String("subscription", "projects/p/subscriptions/refine-jobs-push"))
			b.ReportAllocs()
			for b.Loop() {
				logger.InfoContext(ctx, bc.msg, "result", "ack", "form", "push", "duration_ms", 24,
					"error", "Edit(cmd/main.go): rate limited: the model endpoint is rate limiting (HTTP 429)", "job_id", int64(7))
			}
		})
	}
}
