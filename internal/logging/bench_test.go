package logging

import (
	"context"
	"io"
	"log/slog"
	"testing"
)

// BenchmarkLine is one line as a webhook writes it per request: JSON with
// Cloud Logging's names, the trace from the context, secrets configured.
func BenchmarkLine(b *testing.B) {
	secrets := []string{"bench-webhook-secret-0123456789", "123456:telegram-bot-token-abcdefghij", "sk_test_0123456789abcdef"}
	for _, format := range []string{"json", "text"} {
		b.Run(format, func(b *testing.B) {
			l := New(io.Discard, format, "info", secrets...)
			ctx := With(context.Background(), Trace("proj", "0123456789abcdef0123456789abcdef/123;o=1")...)
			b.ReportAllocs()
			for b.Loop() {
				l.InfoContext(ctx, "update published", "update_id", int64(123456789), "message_id", "4711")
			}
		})
	}
	b.Run("json-bare", func(b *testing.B) {
		l := slog.New(slog.NewJSONHandler(io.Discard, nil))
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			l.InfoContext(ctx, "update published", "update_id", int64(123456789), "message_id", "4711",
				TraceKey, "projects/proj/traces/0123456789abcdef0123456789abcdef", SpanKey, "123")
		}
	})
}
