package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/bot"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/events/embedded"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/refine"
	"github.com/devbot-hq/devbot/internal/secretbox"
	"github.com/devbot-hq/devbot/internal/storage"
	"github.com/devbot-hq/devbot/internal/telegram"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

// directEditor is the edit engine for direct edits (SEARCH/REPLACE blocks
// or a diff in the instruction); a model instruction fails as the editor's
// ErrNoValidEdit would.
type directEditor struct{}

func (directEditor) Edit(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
	if !editblock.IsDirect(r.Instruction) {
		return refine.EditOutcome{}, fault.AsPermanent(fmt.Errorf("%w: no model in this test", refine.ErrNoValidEdit))
	}
	res, err := editblock.ApplyDirect(r.Path, r.Content, r.Instruction)
	if err != nil {
		return refine.EditOutcome{}, err
	}
	return refine.EditOutcome{Content: res.Content, Diff: res.Diff, Edits: len(res.Blocks)}, nil
}

func (d directEditor) EditSet(ctx context.Context, r refine.SetEditRequest) (refine.SetEditOutcome, error) {
	if !editblock.IsDirect(r.Instruction) {
		return refine.SetEditOutcome{}, fault.AsPermanent(fmt.Errorf("%w: no model in this test", refine.ErrNoValidEdit))
	}
	cs, err := editblock.ApplySetFocus(r.Tree, r.Instruction, r.Focus)
	return refine.SetEditOutcome{ChangeSet: cs, Direct: true}, err
}

type world struct {
	t       *testing.T
	db      *db.DB
	tg      *telegramtest.Server
	ps      *embedded.Server
	files   *storage.Local
	webhook string
	update  atomic.Int64
}

const secret = "e2e-secret_token"

func e2e(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := &world{t: t, db: dbtest.New(t), tg: telegramtest.New(t)}
	w.update.Store(800000000)
	local, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w.files = local
	files := storage.NewFiles(local, 1<<20)
	mux := http.NewServeMux()
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	spec := func(topic, fn string) embedded.TopicSpec {
		return embedded.TopicSpec{Topic: topic, Subscription: topic + "-push", PushEndpoint: hs.URL + "/" + fn,
			DeadLetterTopic: topic + "-dead", Ordering: true, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	}
	ps, err := embedded.Start(ctx, embedded.Config{Topics: []embedded.TopicSpec{
		spec("telegram-updates", "TelegramUpdates"), spec("refine-jobs", "RefineJobs")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	w.ps = ps
	keys, _ := secretbox.New(bytes.Repeat([]byte{3}, 32))
	tgc := telegram.New(w.tg.URL, w.tg.Token, w.tg.Client())
	b := bot.New(bot.Config{WelcomeCredits: 20, BaseRefineCredits: 1, MaxRefineCredits: 25, RefineRateLimit: 10,
		RefineRateWindow: time.Minute, MaxFileBytes: 1 << 20, EditBackend: db.ModeLLM},
		bot.Deps{DB: w.db, Telegram: tgc, Files: files, Jobs: events.NewPublisher(ctx, ps.Client, "refine-jobs"), Keys: keys,
			ValidatePath: storage.ValidatePath, IsDirect: editblock.IsDirect, Logger: logger})
	runner := &refine.Runner{Config: refine.Config{BaseRefineCredits: 1, CreditsPerUSD: 100, MaxFileBytes: 1 << 20},
		DB: w.db, Files: files, Editor: directEditor{}, SetEditor: directEditor{}, Telegram: tgc, Keys: keys, Logger: logger}
	mux.Handle("/TelegramWebhook", &bot.Webhook{Secret: secret, Publisher: events.NewPublisher(ctx, ps.Client, "telegram-updates"), Logger: logger})
	mux.Handle("/TelegramUpdates", &events.Consumer{Name: bot.Consumer, Handle: b.Handle, MaxAttempts: 5, Timeout: 30 * time.Second, Logger: logger, DB: w.db})
	mux.Handle("/RefineJobs", &events.Consumer{Name: "RefineJobs", Handle: runner.Handle, GiveUp: runner.GiveUp, MaxAttempts: 5,
		Timeout: 30 * time.Second, Logger: logger, DB: w.db})
	w.webhook = hs.URL + "/TelegramWebhook"
	return w
}

// post sends an update to TelegramWebhook as Telegram does.
func (w *world) post(update map[string]any, token string) int {
	w.t.Helper()
	body, _ := json.Marshal(update)
	req, _ := http.NewRequest(http.MethodPost, w.webhook, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (w *world) msg(user int64, text string) map[string]any {
	id := w.update.Add(1)
	return map[string]any{"update_id": id, "message": map[string]any{"message_id": id % 100000, "date": 1764000000, "text": text,
		"from": map[string]any{"id": user, "first_name": "Ann"}, "chat": map[string]any{"id": user, "type": "private"}}}
}

// say posts text as user and waits for n more replies; it returns them.
func (w *world) say(user int64, update map[string]any, n int) []string {
	w.t.Helper()
	before := len(w.tg.Sent(user))
	if code := w.post(update, secret); code != 200 {
		w.t.Fatalf("webhook answered %d", code)
	}
	sent := w.tg.WaitSent(w.t, user, before+n, 15*time.Second)
	var out []string
	for _, c := range sent[before:] {
		out = append(out, c.Text())
	}
	return out
}

func (w *world) count(q string, args ...any) int {
	var n int
	if err := w.db.Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	w := e2e(t)
	const ann, bob = 1001, 2002
	expect(t, w.say(ann, w.msg(ann, "/start"), 1), "Hi Ann", "You have 20 free credits.")
	expect(t, w.say(ann, w.msg(ann, "/new api"), 1), "Project api created and selected")

	// Upload: through getFile and the download path of the fake Bot API.
	fid := w.tg.AddFile([]byte("package main\n\nfunc main() {\n\tpanic(\"no config\")\n}\n"))
	up := w.msg(ann, "")
	m := up["message"].(map[string]any)
	m["caption"], m["document"] = "cmd/main.go", map[string]any{"file_id": fid, "file_unique_id": "u", "file_name": "main.go", "file_size": 48}
	expect(t, w.say(ann, up, 1), "Added cmd/main.go", "version 1")

	// Refine with a direct edit: the result with the diff and buttons, the
	// one message (blocks apply at once: no Working message).
	edit := "/refine cmd/main.go cmd/main.go\n<<<<<<< SEARCH\n\tpanic(\"no config\")\n=======\n\treturn\n>>>>>>> REPLACE\n"
	upd := w.msg(ann, edit)
	got := w.say(ann, upd, 1)
	expect(t, got, "✅ cmd/main.go changed (1 credit", "cmd/main.go (+1 −1)", "<pre>", "+\treturn")
	p := mustProject(t, &fixture{db: w.db}, "api")
	obj, err := w.files.Get(context.Background(), p.ID, "cmd/main.go")
	if err != nil || !strings.Contains(string(obj.Data), "\treturn\n") {
		t.Fatalf("plain copy after refine = %q, %v", obj.Data, err)
	}
	result := w.tg.Sent(ann)
	last := result[len(result)-1]
	if !strings.Contains(last.Params["reply_markup"], `"undo:`) || !strings.Contains(last.Params["reply_markup"], `"diff:`) {
		t.Errorf("result without buttons: %q", last.Params["reply_markup"])
	}

	// The same update delivered again: one job, one charge, one reply.
	before := len(w.tg.Sent(ann))
	if code := w.post(upd, secret); code != 200 {
		t.Fatalf("webhook %d", code)
	}
	time.Sleep(700 * time.Millisecond)
	if n := len(w.tg.Sent(ann)) - before; n != 0 {
		t.Errorf("a duplicate update got %d more replies", n)
	}
	if n := w.count(`SELECT count(*) FROM refine_jobs`); n != 1 {
		t.Errorf("%d jobs", n)
	}
	if n := w.count(`SELECT count(*) FROM credit_ledger WHERE kind = 'refine'`); n != 1 {
		t.Errorf("%d charges", n)
	}

	// Undo through the inline button.
	var jobID int64
	w.db.Pool.QueryRow(context.Background(), `SELECT id FROM refine_jobs`).Scan(&jobID)
	tap := map[string]any{"update_id": w.update.Add(1), "callback_query": map[string]any{"id": "cb-1",
		"from": map[string]any{"id": ann, "first_name": "Ann"}, "data": fmt.Sprintf("undo:%d", jobID),
		"message": map[string]any{"message_id": 9, "chat": map[string]any{"id": ann, "type": "private"}}}}
	expect(t, w.say(ann, tap, 1), "Undone: cmd/main.go is back as it was (r3). /redo brings the change back.")
	if cb := w.tg.Calls("answerCallbackQuery"); len(cb) != 1 || cb[0].Params["callback_query_id"] != "cb-1" {
		t.Errorf("callback answers = %+v", cb)
	}
	obj, _ = w.files.Get(context.Background(), p.ID, "cmd/main.go")
	if !strings.Contains(string(obj.Data), "panic") {
		t.Errorf("plain copy after undo = %q", obj.Data)
	}
	expect(t, w.say(ann, w.msg(ann, "/history cmd/main.go"), 1), "v2 · refine", fmt.Sprintf("/diff %d", jobID), "v1 · upload", "<b>v3 · undo (as v1)")
	expect(t, w.say(ann, w.msg(ann, "/balance"), 1), "19 credits.", "−1 change cmd/main.go", "+20 welcome")
	expect(t, w.say(ann, w.msg(ann, "/start"), 1), "You have 19 credits and 1 project")

	// A model refinement needs more credits than a new user has.
	expect(t, w.say(ann, w.msg(ann, "/refine cmd/main.go add logging"), 1), "needs up to 25 credits and you have 19 available")

	// Another user's project is answered as a missing one.
	expect(t, w.say(bob, w.msg(bob, "/use "+p.ID), 1), "There is no project "+p.ID)
	expect(t, w.say(bob, w.msg(bob, fmt.Sprintf("/diff %d", jobID)), 1), fmt.Sprintf("There is no job %d.", jobID))

	// A wrong secret: 401, nothing published.
	time.Sleep(300 * time.Millisecond) // let the last delivery's ack settle
	delivered := w.ps.Stats("telegram-updates-push").Delivered
	processed := w.count(`SELECT count(*) FROM processed_messages WHERE consumer = $1`, bot.Consumer)
	sent := len(w.tg.Sent(ann))
	if code := w.post(w.msg(ann, "/help"), "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong secret answered %d", code)
	}
	time.Sleep(500 * time.Millisecond)
	if d := w.ps.Stats("telegram-updates-push").Delivered; d != delivered {
		t.Errorf("a request with a wrong secret was delivered (%d -> %d)", delivered, d)
	}
	if n := w.count(`SELECT count(*) FROM processed_messages WHERE consumer = $1`, bot.Consumer); n != processed || len(w.tg.Sent(ann)) != sent {
		t.Errorf("a request with a wrong secret was processed")
	}
}
