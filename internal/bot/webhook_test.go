package bot_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/bot"
)

func TestWebhook(t *testing.T) {
	t.Parallel()
	update := `{"update_id":77,"message":{"message_id":1,"from":{"id":5,"first_name":"A"},"chat":{"id":5,"type":"private"},"text":"/start"}}`
	tests := []struct {
		name, secret, body string
		fail               bool
		status, published  int
	}{
		{"ok", "s3cret", update, false, 200, 1},
		{"wrong secret", "nope", update, false, 401, 0},
		{"no secret", "", update, false, 401, 0},
		{"not an update", "s3cret", `{"hello":1}`, false, 200, 0},
		{"too large", "s3cret", `{"update_id":1,"x":"` + strings.Repeat("a", bot.MaxUpdateBytes) + `"}`, false, 200, 0},
		{"publish fails", "s3cret", update, true, 503, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub := &jobs{}
			pub.fail.Store(tt.fail)
			h := &bot.Webhook{Secret: "s3cret", Publisher: pub, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			if tt.secret != "" {
				req.Header.Set("X-Telegram-Bot-Api-Secret-Token", tt.secret)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status || pub.count() != tt.published {
				t.Fatalf("status %d, published %d; want %d, %d", rec.Code, pub.count(), tt.status, tt.published)
			}
			if tt.published == 1 && (pub.sent[0].OrderingKey != "5" || pub.sent[0].Attributes["update_id"] != "77" || string(pub.sent[0].Data) != update) {
				t.Errorf("published %+v", pub.sent[0])
			}
		})
	}
}
