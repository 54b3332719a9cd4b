package bot_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/bot"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/refine"
	"github.com/devbot-hq/devbot/internal/secretbox"
	"github.com/devbot-hq/devbot/internal/telegram"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

// memFiles stands in for storage.Files in these unit tests (the end-to-end
// tests use the real local adapter).
type memFiles struct {
	mu      sync.Mutex
	objects map[string][]byte
}

func (m *memFiles) EnsureBucket(ctx context.Context, bucket string) error { return nil }
func (m *memFiles) PutBlob(ctx context.Context, bucket string, data []byte, ct string) (string, string, error) {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[bucket+"/.blobs/"+h] = bytes.Clone(data)
	return ".blobs/" + h, h, nil
}
func (m *memFiles) GetBlob(ctx context.Context, bucket, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.objects[bucket+"/"+key]
	if !ok {
		return nil, fault.AsPermanent(fault.ErrNotFound)
	}
	return d, nil
}
func (m *memFiles) PublishCurrent(ctx context.Context, bucket, path string, data []byte, ct string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[bucket+"/"+path] = bytes.Clone(data)
	return nil
}
func (m *memFiles) get(key string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return string(m.objects[key])
}

type jobs struct {
	mu   sync.Mutex
	sent []events.Outgoing
	fail atomic.Bool
}

func (j *jobs) Publish(ctx context.Context, m events.Outgoing) (string, error) {
	if j.fail.Load() {
		return "", fault.Retryablef("publish: %w", fault.ErrUnavailable)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.sent = append(j.sent, m)
	return fmt.Sprint(len(j.sent)), nil
}

func (j *jobs) count() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.sent)
}

type fixture struct {
	t      *testing.T
	bot    *bot.Bot
	db     *db.DB
	tg     *telegramtest.Server
	files  *memFiles
	jobs   *jobs
	keys   *secretbox.Box
	nextID atomic.Int64
	cfg    bot.Config
	deps   bot.Deps
}

// rebuild makes a new bot from the fixture's configuration with deps
// changed by mod (a billing fake, the real path check).
func (f *fixture) rebuild(mod func(*bot.Config, *bot.Deps)) {
	mod(&f.cfg, &f.deps)
	f.bot = bot.New(f.cfg, f.deps)
}

func validatePath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "..") || strings.HasPrefix(p, ".blobs") {
		return errors.New("not a relative path inside the project")
	}
	return nil
}

func setup(t *testing.T, mod ...func(*bot.Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, db: dbtest.New(t), tg: telegramtest.New(t), files: &memFiles{objects: map[string][]byte{}}, jobs: &jobs{}}
	f.keys, _ = secretbox.New(bytes.Repeat([]byte{1}, 32))
	cfg := bot.Config{WelcomeCredits: 20, BaseRefineCredits: 1, MaxRefineCredits: 10, RefineRateLimit: 5,
		RefineRateWindow: time.Minute, MaxFileBytes: 1000, EditBackend: db.ModeLLM}
	for _, m := range mod {
		m(&cfg)
	}
	f.cfg = cfg
	f.deps = bot.Deps{DB: f.db, Telegram: telegram.New(f.tg.URL, f.tg.Token, f.tg.Client()), Files: f.files,
		Jobs: f.jobs, Keys: f.keys, ValidatePath: validatePath,
		IsDirect: func(s string) bool { return strings.Contains(s, "<<<<<<< SEARCH") },
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil))}
	f.bot = bot.New(f.cfg, f.deps)
	f.nextID.Store(700000000)
	return f
}

// send delivers an update built from msg (a "message" object) and returns the
// texts sent to the chat by it.
func (f *fixture) deliver(update map[string]any) error {
	data, _ := json.Marshal(update)
	return f.bot.Handle(context.Background(), events.Message{ID: "m", Data: data})
}

func (f *fixture) message(user int64, text string) map[string]any {
	return map[string]any{"update_id": f.nextID.Add(1), "message": map[string]any{
		"message_id": f.nextID.Load() % 100000, "date": 1764000000, "text": text,
		"from": map[string]any{"id": user, "is_bot": false, "first_name": "Ann"},
		"chat": map[string]any{"id": user, "type": "private"}}}
}

// say sends text as user and returns the new replies' texts.
func (f *fixture) say(user int64, text string) []string {
	f.t.Helper()
	return f.do(user, f.message(user, text))
}

func (f *fixture) do(user int64, update map[string]any) []string {
	f.t.Helper()
	before := len(f.tg.Sent(user))
	if err := f.deliver(update); err != nil {
		f.t.Fatalf("update %v: %v", update, err)
	}
	var out []string
	for _, c := range f.tg.Sent(user)[before:] {
		out = append(out, c.Text())
	}
	return out
}

func (f *fixture) document(user int64, name, caption string, content []byte) map[string]any {
	id := f.tg.AddFile(content)
	u := f.message(user, "")
	m := u["message"].(map[string]any)
	delete(m, "text")
	m["caption"] = caption
	m["document"] = map[string]any{"file_id": id, "file_unique_id": "u" + id, "file_name": name, "file_size": len(content)}
	return u
}

// queued says text and checks that it queued a job without a word: a
// direct edit's only message is its result, which the runner sends.
func (f *fixture) queued(user int64, text string) {
	f.t.Helper()
	before := f.jobs.count()
	if got := f.say(user, text); len(got) != 0 {
		f.t.Errorf("replies %q to a direct edit; want none before its result", got)
	}
	if f.jobs.count() != before+1 {
		f.t.Errorf("%d jobs published, want %d", f.jobs.count(), before+1)
	}
}

func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	all := strings.Join(got, "\n---\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("replies %q do not contain %q", got, w)
		}
	}
}

func TestConversation(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const ann = 111
	expect(t, f.say(ann, "/start"), "Hi Ann", "You have 20 free credits.", "/new &lt;name&gt;")
	expect(t, f.say(ann, "/new api"), "Project api created and selected")
	expect(t, f.do(ann, f.document(ann, "main.go", "cmd/main.go", []byte("package main\n"))), "Added cmd/main.go (13 B, version 1)")
	var p db.Project
	p, _ = db.ProjectByName(context.Background(), f.db.Pool, 1, "api")
	if got := f.files.get(p.ID + "/cmd/main.go"); got != "package main\n" {
		t.Errorf("plain copy = %q", got)
	}
	expect(t, f.say(ann, "/files"), "cmd/main.go (13 B, version 1)")
	expect(t, f.say(ann, "/open cmd/main.go"), "cmd/main.go is open")
	expect(t, f.say(ann, "return an error instead of panicking"), "Working on cmd/main.go…")
	if f.jobs.count() != 1 {
		t.Fatalf("published %d jobs", f.jobs.count())
	}
	id, err := refine.ParseMessage(f.jobs.sent[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := db.GetJob(context.Background(), f.db.Pool, id)
	if j.Mode != db.ModeLLM || j.HoldCredits != 10 || j.State != db.JobQueued || f.jobs.sent[0].OrderingKey != p.ID+"/cmd/main.go" {
		t.Errorf("job = %+v, key %q", j, f.jobs.sent[0].OrderingKey)
	}
	expect(t, f.say(ann, "/balance"), "10 credits, plus 10 held for a refinement in progress.", "+20 welcome")
	// Not all free any more: credits are held.
	expect(t, f.say(ann, "/start"), "You have 10 credits and 1 project")
	expect(t, f.say(ann, "/refine cmd/nope.go add logging"), "There is no cmd/nope.go in api. Files: cmd/main.go.")
	expect(t, f.say(ann, "/frobnicate"), "I don't know /frobnicate")
	expect(t, f.say(ann, "/help"), "/refine [PATH] INSTRUCTION", "/undo [PATH]")
	expect(t, f.say(ann, "/projects"), "api ← selected")
	expect(t, f.say(ann, "/get cmd/main.go"), "cmd/main.go, version 1")
	docs := f.tg.Calls("sendDocument")
	if len(docs) != 1 || string(docs[0].Document) != "package main\n" || docs[0].DocumentName != "main.go" {
		t.Errorf("documents = %+v", docs)
	}
}

func TestUndoAndHistory(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 5
	f.say(u, "/new web")
	f.do(u, f.document(u, "a.txt", "", []byte("one\n")))
	expect(t, f.do(u, f.document(u, "a.txt", "", []byte("two\n"))), "Updated a.txt (4 B, version 2)")
	expect(t, f.say(u, "/undo a.txt"), "Undone: a.txt restored to version 1 (saved as version 3). /redo a.txt brings the change back.")
	expect(t, f.say(u, "/history a.txt"), "v2 · upload", "<b>v3 · undo (as v1)", "← current")
	p, _ := db.ProjectByName(context.Background(), f.db.Pool, 1, "web")
	if got := f.files.get(p.ID + "/a.txt"); got != "one\n" {
		t.Errorf("plain copy after undo = %q", got)
	}
	expect(t, f.say(u, "/undo a.txt"), "There is nothing to undo in a.txt: it is as it first came (version 1).")
}

func TestUploadRefusals(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 6
	expect(t, f.do(u, f.document(u, "a.txt", "", []byte("x"))), "Create or select a project first")
	f.say(u, "/new p")
	expect(t, f.do(u, f.document(u, "a.bin", "", []byte{0xff, 0x00, 0x01})), "a.bin is not a text file")
	expect(t, f.do(u, f.document(u, "big.txt", "", bytes.Repeat([]byte("a"), 2000))), "big.txt is 2.0 KB; files up to 1.0 KB")
	expect(t, f.do(u, f.document(u, "a.txt", "../etc/passwd", []byte("x"))), "../etc/passwd cannot be a path")
	fs, _ := db.ListFiles(context.Background(), f.db.Pool, mustProject(t, f, "p").ID)
	if len(fs) != 0 {
		t.Errorf("files = %+v", fs)
	}
}

func mustProject(t *testing.T, f *fixture, name string) db.Project {
	t.Helper()
	var p db.Project
	err := f.db.Pool.QueryRow(context.Background(), `SELECT id::text, user_id, name, created_at FROM projects WHERE name = $1`, name).
		Scan(&p.ID, &p.UserID, &p.Name, &p.CreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAnotherUsersProjectIsMissing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.say(1, "/new secret")
	p := mustProject(t, f, "secret")
	got := f.say(2, "/use "+p.ID)
	expect(t, got, "There is no project "+p.ID)
	got2 := f.say(2, "/use 00000000-0000-0000-0000-000000000000")
	if strings.Replace(got[0], p.ID, "X", 1) != strings.Replace(got2[0], "00000000-0000-0000-0000-000000000000", "X", 1) {
		t.Errorf("another user's project answered differently: %q vs %q", got, got2)
	}
	expect(t, f.say(2, "/diff 1"), "There is no job 1.")
}

func TestDuplicateUpdateOneJobOneReply(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 9
	f.say(u, "/new api")
	f.do(u, f.document(u, "a.go", "", []byte("package a\n")))
	upd := f.message(u, "/refine a.go add a comment")
	before := len(f.tg.Sent(u))
	f.jobs.fail.Store(true) // the publish after the commit fails: retry
	if err := f.deliver(upd); err == nil || !fault.IsRetryable(err) {
		t.Fatalf("failed publish: err = %v", err)
	}
	f.jobs.fail.Store(false)
	for range 3 {
		if err := f.deliver(upd); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.tg.Sent(u)) - before; n != 1 {
		t.Errorf("%d replies to 4 deliveries", n)
	}
	var n int
	f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM refine_jobs`).Scan(&n)
	if n != 1 || f.jobs.count() != 1 {
		t.Errorf("jobs = %d, published %d", n, f.jobs.count())
	}
}

func TestInsufficientCreditsAndRateLimit(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *bot.Config) { c.WelcomeCredits = 12; c.RefineRateLimit = 2 })
	const u = 3
	f.say(u, "/new api")
	f.do(u, f.document(u, "a.go", "", []byte("package a\n")))
	expect(t, f.say(u, "/refine a.go one"), "Working on a.go")
	expect(t, f.say(u, "/refine a.go two"), "A refinement needs up to 10 credits and you have 2 available. /buy for more")
	direct := "/refine a.go a.go\n<<<<<<< SEARCH\npackage a\n=======\npackage b\n>>>>>>> REPLACE"
	f.queued(u, direct) // a direct edit holds only the base price
	expect(t, f.say(u, direct), "You started 2 refinements in the last minute, the most allowed. Try again in a moment.")
}

// Jobs that ended without a charge count half against the rate limit: a
// user whose edits fail gets more tries, a flood of failures still stops.
func TestRateLimitCountsUnchargedJobsHalf(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *bot.Config) { c.RefineRateLimit = 2 })
	const u = 31
	f.say(u, "/new api")
	f.do(u, f.document(u, "a.go", "", []byte("package a\n")))
	direct := "/refine a.go a.go\n<<<<<<< SEARCH\npackage a\n=======\npackage b\n>>>>>>> REPLACE"
	failAll := func() {
		t.Helper()
		err := f.db.InTx(context.Background(), func(tx pgx.Tx) error {
			rows, err := tx.Query(context.Background(), `SELECT id FROM refine_jobs WHERE state = 'queued'`)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			for _, id := range ids {
				if _, err := db.FailJob(context.Background(), tx, id, db.JobFailure{State: db.JobFailed, Kind: "model", Message: "no"}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	f.queued(u, direct)
	failAll()
	// Limit 2 is 4 half units; one failed job weighs 1, a pending one 2.
	f.queued(u, direct) // 1 → 3
	f.queued(u, direct) // 3 → 5
	expect(t, f.say(u, direct), "You started 3 refinements in the last minute (1 of them failed and count half), the most allowed.")
	failAll()           // 3
	f.queued(u, direct) // 3 → 5
	failAll()           // 4
	// four failures weigh as much as two charged jobs: the flood stops
	expect(t, f.say(u, direct), "You started 4 refinements in the last minute (4 of them failed and count half)")
	var n int
	f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM refine_jobs`).Scan(&n)
	if n != 4 {
		t.Errorf("%d jobs, want 4", n)
	}
}

func TestRateWeight(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		r    db.RecentJobs
		want int
	}{{db.RecentJobs{}, 0}, {db.RecentJobs{Started: 3}, 6}, {db.RecentJobs{Started: 3, Uncharged: 3}, 3}, {db.RecentJobs{Started: 3, Uncharged: 1}, 5}} {
		if got := bot.RateWeight(tt.r); got != tt.want {
			t.Errorf("RateWeight(%+v) = %d, want %d", tt.r, got, tt.want)
		}
	}
}

func TestSetKeyDeletesMessage(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 4
	upd := f.message(u, "/setkey sk-test-1234567890")
	got := f.do(u, upd)
	expect(t, got, "Your key is stored encrypted")
	for _, s := range got {
		if strings.Contains(s, "sk-test") {
			t.Errorf("key echoed: %q", s)
		}
	}
	del := f.tg.Calls("deleteMessage")
	msgID := upd["message"].(map[string]any)["message_id"]
	if len(del) != 1 || del[0].Params["message_id"] != fmt.Sprint(msgID) {
		t.Errorf("deleteMessage calls = %+v", del)
	}
	usr, _ := db.UserByTelegramID(context.Background(), f.db.Pool, u)
	key, err := f.keys.Open(usr.ID, usr.LLMKeyEncrypted)
	if err != nil || string(key) != "sk-test-1234567890" {
		t.Errorf("stored key = %q, %v", key, err)
	}
	expect(t, f.say(u, "/delkey"), "Your key is deleted")
	expect(t, f.say(u, "/setkey short"), "does not look like an API key")
	if n := len(f.tg.Calls("deleteMessage")); n != 2 {
		t.Errorf("refused key message not deleted (%d deletes)", n)
	}
}

func TestUndecodableUpdatesAcked(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, data := range []string{"not json", `{"update_id":1}`, `{"update_id":2,"channel_post":{"text":"x"}}`} {
		if err := f.bot.Handle(context.Background(), events.Message{Data: []byte(data)}); err != nil {
			t.Errorf("%s: %v", data, err)
		}
	}
	if n := len(f.tg.Calls()); n != 0 {
		t.Errorf("%d calls for undecodable updates", n)
	}
}

// Without a model key, an instruction in plain words is refused at once
// (no job, nothing held), while a direct edit and a user's own key work.
func TestNoModelConfigured(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *bot.Config) { c.NoModel = true })
	const u = 41
	f.say(u, "/new api")
	f.do(u, f.document(u, "a.go", "", []byte("package a\n")))
	expect(t, f.say(u, "/refine a.go add logging"), "No model is set up for this bot, so I can only apply edits you write yourself")
	var jobs int
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM refine_jobs`).Scan(&jobs); err != nil || jobs != 0 {
		t.Fatalf("%d jobs after the refusal (err %v), want 0", jobs, err)
	}
	direct := "/refine a.go a.go\n<<<<<<< SEARCH\npackage a\n=======\npackage b\n>>>>>>> REPLACE"
	f.queued(u, direct)
	f.say(u, "/setkey sk-or-v1-abcdefghijklmnop")
	expect(t, f.say(u, "/refine a.go add logging"), "Working on a.go")
}
