package reply_test

import (
	"context"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/reply"
	"github.com/devbot-hq/devbot/internal/telegram"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

func setup(t *testing.T) (*telegram.Client, *telegramtest.Server) {
	t.Helper()
	srv := telegramtest.New(t)
	return telegram.New(srv.URL, srv.Token, srv.Client()), srv
}

func TestTextEscapesArguments(t *testing.T) {
	t.Parallel()
	r := reply.Text("<b>%s</b> has %d", "<script>&", 3)
	if r.HTML != "<b>&lt;script&gt;&amp;</b> has 3" {
		t.Errorf("HTML = %q", r.HTML)
	}
}

func TestWithDiff(t *testing.T) {
	t.Parallel()
	short := reply.WithDiff("head", "-a\n+<b>\n", "x.diff")
	if short.Document != nil || !strings.Contains(short.HTML, "<pre>-a\n+&lt;b&gt;\n</pre>") {
		t.Errorf("short diff = %+v", short)
	}
	long := strings.Repeat("+line of code\n", 400)
	r := reply.WithDiff("head", long, "x.diff")
	if r.Document == nil || string(r.Document.Data) != long || strings.Contains(r.HTML, "<pre>") {
		t.Errorf("long diff = %q", r.HTML)
	}
}

func TestSendSplitsLongTextButtonsOnLast(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	text := strings.Repeat("a line of text\n", 600) // ~9000 characters
	r := reply.Reply{HTML: text, Buttons: [][]reply.Button{{{Text: "Undo", Data: "undo:1"}}}}
	if err := reply.Send(context.Background(), c, 7, r); err != nil {
		t.Fatal(err)
	}
	sent := srv.Sent(7)
	if len(sent) != 3 {
		t.Fatalf("%d messages", len(sent))
	}
	var joined strings.Builder
	for i, s := range sent {
		if telegram.UTF16Len(s.Text()) > telegram.MaxMessageLength {
			t.Errorf("part %d too long", i)
		}
		if hasKB := s.Params["reply_markup"] != ""; hasKB != (i == len(sent)-1) {
			t.Errorf("part %d keyboard = %q", i, s.Params["reply_markup"])
		}
		joined.WriteString(s.Text() + "\n")
	}
	if strings.Count(joined.String(), "a line of text") != 600 {
		t.Error("text lost in splitting")
	}
}

func TestSendDocumentWithCaption(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	r := reply.Reply{HTML: "main.go, version 2", Document: &reply.Document{Name: "main.go", Data: []byte("package main\n")}}
	if err := reply.Send(context.Background(), c, 8, r); err != nil {
		t.Fatal(err)
	}
	sent := srv.Sent(8)
	if len(sent) != 1 || sent[0].Method != "sendDocument" || sent[0].Text() != "main.go, version 2" || string(sent[0].Document) != "package main\n" {
		t.Errorf("sent = %+v", sent)
	}
}

func TestSize(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 2100: "2.1 KB", 3_500_000: "3.5 MB"} {
		if got := reply.Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
