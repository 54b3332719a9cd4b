package bot_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/fault"
)

func TestExportZip(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 12
	f.say(u, "/new zipme")
	f.do(u, f.document(u, "a.go", "src/a.go", []byte("package a\n")))
	f.do(u, f.document(u, "README", "", []byte("hello\n")))
	expect(t, f.say(u, "/export"), "zipme: 2 files")
	docs := f.tg.Calls("sendDocument")
	if len(docs) != 1 || docs[0].DocumentName != "zipme.zip" {
		t.Fatalf("documents = %+v", docs)
	}
	zr, err := zip.NewReader(bytes.NewReader(docs[0].Document), int64(len(docs[0].Document)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, zf := range zr.File {
		rc, _ := zf.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		got[zf.Name] = string(data)
	}
	if len(got) != 2 || got["src/a.go"] != "package a\n" || got["README"] != "hello\n" {
		t.Errorf("zip = %v", got)
	}
}

// A 429 while answering is retried by redelivery, and the user gets the
// answer once.
func TestReplyRateLimitedThenRedelivered(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 13
	upd := f.message(u, "/new api")
	f.tg.Fail("sendMessage", 429, "Too Many Requests: retry after 1", 1)
	err := f.deliver(upd)
	if err == nil || !fault.IsRetryable(err) || fault.RetryAfterOf(err) == 0 {
		t.Fatalf("err = %v", err)
	}
	for range 2 {
		if err := f.deliver(upd); err != nil {
			t.Fatal(err)
		}
	}
	sent := f.tg.Sent(u)
	if len(sent) != 1 {
		t.Fatalf("%d replies", len(sent))
	}
	expect(t, []string{sent[0].Text()}, "Project api created")
	var n int
	f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM projects`).Scan(&n)
	if n != 1 {
		t.Errorf("%d projects", n)
	}
}

// A user who blocked the bot: the reply is dropped, the update acked.
func TestBlockedUserAcked(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 14
	f.tg.Fail("sendMessage", 403, "Forbidden: bot was blocked by the user", 0)
	if err := f.deliver(f.message(u, "/start")); err != nil {
		t.Fatalf("blocked user: %v", err)
	}
}

func TestCallbackDiffAndUnknownButton(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 15
	tap := func(data string) map[string]any {
		return map[string]any{"update_id": f.nextID.Add(1), "callback_query": map[string]any{"id": "cb" + data,
			"from": map[string]any{"id": u, "first_name": "Ann"}, "data": data,
			"message": map[string]any{"message_id": 3, "chat": map[string]any{"id": u, "type": "private"}}}}
	}
	expect(t, f.do(u, tap("diff:999")), "There is no job 999.")
	expect(t, f.do(u, tap("zap")), "That button is no longer valid.")
	if n := len(f.tg.Calls("answerCallbackQuery")); n != 2 {
		t.Errorf("%d callback answers", n)
	}
}

func TestGiveUpTellsTheUserOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 16
	upd := f.message(u, "/new api")
	data, _ := json.Marshal(upd)
	m := events.Message{ID: "x", Data: data}
	for range 2 {
		if err := f.bot.GiveUp(context.Background(), m, errors.New("database down")); err != nil {
			t.Fatal(err)
		}
	}
	sent := f.tg.Sent(u)
	if len(sent) != 1 {
		t.Fatalf("%d replies", len(sent))
	}
	expect(t, []string{sent[0].Text()}, "could not handle that message")
}
