package telegram_test

import (
	"context"
	"testing"

	"github.com/devbot-hq/devbot/internal/telegram"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

// editMessageText and sendChatAction against the fake, which answers as the
// Bot API does.
func TestEditMessageTextAndChatAction(t *testing.T) {
	t.Parallel()
	tg := telegramtest.New(t)
	c := telegram.New(tg.URL, tg.Token, tg.Client())
	ctx := context.Background()
	m, err := c.SendMessage(ctx, telegram.SendMessage{ChatID: 5, Text: "Working on a.go…"})
	if err != nil {
		t.Fatal(err)
	}
	edit := telegram.EditMessageText{ChatID: 5, MessageID: m.MessageID, Text: "<b>done</b>", ParseMode: telegram.ParseModeHTML}
	if _, err := c.EditMessageText(ctx, edit); err != nil {
		t.Fatal(err)
	}
	if got, _ := tg.Shown(5, m.MessageID); got != "<b>done</b>" {
		t.Errorf("the chat shows %q", got)
	}
	if _, err := c.EditMessageText(ctx, edit); !telegram.IsNotModified(err) || telegram.IsEditGone(err) {
		t.Errorf("the same edit again: %v", err)
	}
	edit.MessageID = 424242
	if _, err := c.EditMessageText(ctx, edit); !telegram.IsEditGone(err) {
		t.Errorf("editing a message that is not there: %v", err)
	}
	if err := c.SendChatAction(ctx, 5, telegram.ChatActionTyping); err != nil {
		t.Errorf("typing: %v", err)
	}
	if err := c.SendChatAction(ctx, 5, "dancing"); err == nil {
		t.Error("an unknown chat action was accepted")
	}
	if r := tg.Replies(5); len(r) != 2 || r[1].Method != "editMessageText" {
		t.Errorf("replies = %+v", r)
	}
}
