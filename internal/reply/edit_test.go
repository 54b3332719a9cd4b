package reply_test

import (
	"context"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/reply"
	"github.com/devbot-hq/devbot/internal/telegram"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

func TestEditTurnsAMessageIntoTheReply(t *testing.T) {
	t.Parallel()
	tg := telegramtest.New(t)
	c := telegram.New(tg.URL, tg.Token, tg.Client())
	ctx := context.Background()
	working, err := c.SendMessage(ctx, telegram.SendMessage{ChatID: 3, Text: "Working on a.go…"})
	if err != nil {
		t.Fatal(err)
	}
	// A long diff: the text replaces the message, the diff follows as a
	// document carrying the buttons.
	r := reply.WithDiff("✅ a.go → version 2", strings.Repeat("+x\n", 2000), "job-1.diff")
	r.Buttons = [][]reply.Button{{{Text: "Undo", Data: "undo:1"}}}
	if err := reply.Edit(ctx, c, 3, working.MessageID, r); err != nil {
		t.Fatal(err)
	}
	if got, _ := tg.Shown(3, working.MessageID); got != "✅ a.go → version 2\n(the diff is long: sent as a file)" {
		t.Errorf("the message shows %q", got)
	}
	docs := tg.Calls("sendDocument")
	if len(docs) != 1 || docs[0].DocumentName != "job-1.diff" || !strings.Contains(docs[0].Params["reply_markup"], "undo:1") {
		t.Errorf("documents = %+v", docs)
	}
	// The same edit again (a redelivery) is not an error.
	if err := reply.Edit(ctx, c, 3, working.MessageID, reply.Reply{HTML: "✅ a.go → version 2\n(the diff is long: sent as a file)"}); err != nil {
		t.Errorf("an unchanged edit: %v", err)
	}
	// A message that is gone: the reply comes as a new message.
	before := len(tg.Sent(3))
	if err := reply.Edit(ctx, c, 3, 999999, reply.Reply{HTML: "❌ failed"}); err != nil {
		t.Fatal(err)
	}
	if sent := tg.Sent(3); len(sent) != before+1 || sent[len(sent)-1].Text() != "❌ failed" {
		t.Errorf("after an edit of a missing message: %d sent", len(sent)-before)
	}
}
