package telegram_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/telegram"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

func setup(t *testing.T) (*telegram.Client, *telegramtest.Server) {
	t.Helper()
	srv := telegramtest.New(t)
	return telegram.New(srv.URL, srv.Token, srv.Client()), srv
}

func TestSendMessageRecorded(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	kb := &telegram.InlineKeyboardMarkup{InlineKeyboard: [][]telegram.InlineKeyboardButton{{{Text: "Undo", CallbackData: "undo:7"}}}}
	m, err := c.SendMessage(context.Background(), telegram.SendMessage{ChatID: 42, Text: "<b>hi</b>", ParseMode: telegram.ParseModeHTML, ReplyMarkup: kb})
	if err != nil {
		t.Fatal(err)
	}
	if m.MessageID == 0 || m.Chat.ID != 42 {
		t.Errorf("result = %+v", m)
	}
	calls := srv.Calls("sendMessage")
	if len(calls) != 1 || calls[0].Text() != "<b>hi</b>" || calls[0].Params["parse_mode"] != "HTML" ||
		!strings.Contains(calls[0].Params["reply_markup"], `"callback_data":"undo:7"`) {
		t.Errorf("calls = %+v", calls)
	}
}

func TestSendDocumentMultipart(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	if _, err := c.SendDocument(context.Background(), telegram.SendDocument{ChatID: 5, FileName: "a.diff", Data: []byte("--- a\n+++ b\n"), Caption: "diff"}); err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls("sendDocument")
	if len(calls) != 1 || string(calls[0].Document) != "--- a\n+++ b\n" || calls[0].DocumentName != "a.diff" || calls[0].ChatID() != 5 || calls[0].Text() != "diff" {
		t.Errorf("calls = %+v", calls)
	}
}

func TestErrorsClassified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		code      int
		desc      string
		retry     int
		kind      fault.Kind
		sentinel  error
		blocked   bool
		wantAfter time.Duration
	}{
		{"rate limited", 429, "Too Many Requests: retry after 3", 3, fault.Retryable, fault.ErrRateLimited, false, 3 * time.Second},
		{"blocked", 403, "Forbidden: bot was blocked by the user", 0, fault.Permanent, fault.ErrUnauthorized, true, 0},
		{"server", 502, "Bad Gateway", 0, fault.Retryable, fault.ErrUnavailable, false, 0},
		{"bad request", 400, "Bad Request: can't parse entities", 0, fault.Permanent, fault.ErrInvalid, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, srv := setup(t)
			srv.Fail("sendMessage", tt.code, tt.desc, tt.retry)
			_, err := c.SendMessage(context.Background(), telegram.SendMessage{ChatID: 1, Text: "x"})
			if err == nil {
				t.Fatal("no error")
			}
			var ae *telegram.APIError
			if !errors.As(err, &ae) || ae.Code != tt.code || ae.Description != tt.desc {
				t.Errorf("APIError = %+v", ae)
			}
			if got := fault.KindOf(err); got != tt.kind {
				t.Errorf("kind = %v, want %v", got, tt.kind)
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("%v is not %v", err, tt.sentinel)
			}
			if telegram.IsBlocked(err) != tt.blocked {
				t.Errorf("IsBlocked = %v", !tt.blocked)
			}
			if got := fault.RetryAfterOf(err); got != tt.wantAfter {
				t.Errorf("RetryAfter = %v, want %v", got, tt.wantAfter)
			}
			if strings.Contains(err.Error(), srv.Token) {
				t.Errorf("token in error: %v", err)
			}
			// the next call succeeds: a failure is used once
			if _, err := c.SendMessage(context.Background(), telegram.SendMessage{ChatID: 1, Text: "x"}); err != nil {
				t.Errorf("second call: %v", err)
			}
		})
	}
}

func TestTokenRedactedFromTransportErrors(t *testing.T) {
	t.Parallel()
	srv := telegramtest.New(t)
	url := srv.URL
	srv.Close() // connection refused: *url.Error quotes the URL
	c := telegram.New(url, srv.Token, nil)
	_, err := c.SendMessage(context.Background(), telegram.SendMessage{ChatID: 1, Text: "x"})
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), srv.Token) || !strings.Contains(err.Error(), "<token>") {
		t.Errorf("error = %v", err)
	}
	if !fault.IsRetryable(err) {
		t.Errorf("network error not retryable: %v", err)
	}
	_, err = c.Download(context.Background(), "documents/x", 10)
	if err == nil || strings.Contains(err.Error(), srv.Token) {
		t.Errorf("download error = %v", err)
	}
}

func TestGetFileAndDownload(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	id := srv.AddFile([]byte("package main\n"))
	f, err := c.GetFile(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if f.FileSize != 13 || f.FilePath == "" {
		t.Errorf("file = %+v", f)
	}
	data, err := c.Download(context.Background(), f.FilePath, 100)
	if err != nil || string(data) != "package main\n" {
		t.Fatalf("Download = %q, %v", data, err)
	}
	if _, err := c.Download(context.Background(), f.FilePath, 5); !errors.Is(err, fault.ErrTooLarge) || !fault.IsPermanent(err) {
		t.Errorf("too large: %v", err)
	}
	if _, err := c.GetFile(context.Background(), "nope"); !fault.IsPermanent(err) {
		t.Errorf("unknown file: %v", err)
	}
}

func TestCallbackAndDelete(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	ctx := context.Background()
	if err := c.AnswerCallbackQuery(ctx, "cb1", "done"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteMessage(ctx, 9, 77); err != nil {
		t.Fatal(err)
	}
	if err := c.SetWebhook(ctx, telegram.Webhook{URL: "https://x.example/hook", SecretToken: "s"}); err != nil {
		t.Fatal(err)
	}
	cb := srv.Calls("answerCallbackQuery")
	del := srv.Calls("deleteMessage")
	if len(cb) != 1 || cb[0].Params["callback_query_id"] != "cb1" || len(del) != 1 || del[0].Params["message_id"] != "77" {
		t.Errorf("calls = %+v", srv.Calls())
	}
	if wrong := telegram.New(srv.URL, "0:wrong", srv.Client()); wrong != nil {
		if _, err := wrong.SendMessage(ctx, telegram.SendMessage{ChatID: 1, Text: "x"}); !errors.Is(err, fault.ErrUnauthorized) {
			t.Errorf("wrong token: %v", err)
		}
	}
	_ = http.StatusOK
}

// A proxy in front of the Bot API may quote the URL, token and all, in its
// description: the error never carries it.
func TestTokenRedactedFromDescriptions(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	srv.Fail("sendMessage", 404, "Not Found: /bot"+srv.Token+"/sendMessage", 0)
	_, err := c.SendMessage(context.Background(), telegram.SendMessage{ChatID: 1, Text: "x"})
	if err == nil || strings.Contains(err.Error(), srv.Token) || !strings.Contains(err.Error(), "/bot<token>/sendMessage") {
		t.Errorf("error = %v", err)
	}
}

func TestGetMe(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	me, err := c.GetMe(context.Background())
	if err != nil || me.Username != telegramtest.Username || !me.IsBot {
		t.Fatalf("GetMe = %+v, %v", me, err)
	}
	srv.Fail("getMe", 502, "Bad Gateway", 0)
	if _, err := c.GetMe(context.Background()); !fault.IsRetryable(err) {
		t.Errorf("a 502 from getMe: %v, want retryable", err)
	}
}

// Update shapes from groups and forwards decode into what the bot reads.
func TestParseUpdateGroupsForwardsMedia(t *testing.T) {
	t.Parallel()
	u, err := telegram.ParseUpdate([]byte(`{"update_id":1,"message":{"message_id":9,"date":1764000000,
		"from":{"id":7,"is_bot":false,"first_name":"Ann"},"chat":{"id":-1001987654321,"title":"Team","type":"supergroup"},
		"forward_origin":{"type":"channel","chat":{"id":-1001,"type":"channel","title":"News"},"message_id":5,"date":1},
		"animation":{"file_id":"g","file_unique_id":"u","width":1,"height":1,"duration":1},
		"document":{"file_id":"g","file_unique_id":"u","file_name":"a.gif.mp4"},"text":"/undo a"}}`))
	if err != nil {
		t.Fatal(err)
	}
	m := u.Message
	if m.Chat.Type != telegram.ChatSupergroup || m.Chat.Title != "Team" || !m.Forwarded() || m.Media() != "an animation" {
		t.Errorf("message = %+v (forwarded %v, media %q)", m, m.Forwarded(), m.Media())
	}
	var plain telegram.Message
	if plain.Forwarded() || plain.Media() != "" {
		t.Errorf("an empty message reads as forwarded or media")
	}
}
