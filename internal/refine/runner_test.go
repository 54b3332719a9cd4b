package refine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/refine"
	"github.com/devbot-hq/devbot/internal/secretbox"
	"github.com/devbot-hq/devbot/internal/storage"
	"github.com/devbot-hq/devbot/internal/telegram"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

type editFunc func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error)

func (f editFunc) Edit(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
	return f(ctx, r)
}

type bundle struct {
	db     *db.DB
	files  *storage.Files
	tg     *telegramtest.Server
	runner *refine.Runner
	keys   *secretbox.Box
	user   db.User
	proj   db.Project
}

const chat = 555

func setup(t *testing.T, edit editFunc) *bundle {
	t.Helper()
	ctx := context.Background()
	b := &bundle{db: dbtest.New(t), tg: telegramtest.New(t)}
	local, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b.files = storage.NewFiles(local, 1<<20)
	b.keys, _ = secretbox.New(bytes.Repeat([]byte{5}, 32))
	b.runner = &refine.Runner{Config: refine.Config{BaseRefineCredits: 1, CreditsPerUSD: 100, MaxFileBytes: 1 << 20},
		DB: b.db, Files: b.files, Editor: edit, Telegram: telegram.New(b.tg.URL, b.tg.Token, b.tg.Client()), Keys: b.keys,
		Logger: discard()}
	b.user, _, err = db.EnsureUser(ctx, b.db.Pool, db.TelegramUser{TelegramID: 9, ChatID: chat, FirstName: "Ann"}, 20)
	if err != nil {
		t.Fatal(err)
	}
	b.proj, err = db.CreateProject(ctx, b.db.Pool, b.user.ID, "api")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.files.EnsureBucket(ctx, b.proj.ID); err != nil {
		t.Fatal(err)
	}
	b.commit(t, "a.go", "package a\n", 0)
	return b
}

func (b *bundle) commit(t *testing.T, path, content string, base int) int {
	t.Helper()
	ctx := context.Background()
	key, sum, err := b.files.PutBlob(ctx, b.proj.ID, []byte(content), "text/plain; charset=utf-8")
	if err != nil {
		t.Fatal(err)
	}
	var v int
	err = b.db.InTx(ctx, func(tx pgx.Tx) (err error) { // the file and its first version: one transaction
		v, err = db.CommitVersion(ctx, tx, db.NewVersion{ProjectID: b.proj.ID, Path: path, SHA256: sum,
			Size: int64(len(content)), BlobKey: key, Source: db.SourceUpload, BaseVersion: base})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (b *bundle) job(t *testing.T, mode string, hold int64) (db.Job, events.Message) {
	t.Helper()
	j, err := db.CreateJob(context.Background(), b.db.Pool, db.NewJob{UserID: b.user.ID, ProjectID: b.proj.ID, Path: "a.go",
		Instruction: "rename the package", Mode: mode, ChatID: chat, HoldCredits: hold})
	if err != nil {
		t.Fatal(err)
	}
	return j, events.Message{ID: "1", Data: refine.Outgoing(j).Data}
}

func (b *bundle) state(t *testing.T, id int64) (db.Job, db.User) {
	t.Helper()
	j, err := db.GetJob(context.Background(), b.db.Pool, id)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := db.UserByID(context.Background(), b.db.Pool, b.user.ID)
	return j, u
}

func TestSuccessChargesOnceAndRepliesOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		if string(r.Content) != "package a\n" || r.APIKey != "" {
			return refine.EditOutcome{}, fmt.Errorf("unexpected request %+v", r)
		}
		// Two blocks the editor applied, on one line of the diff: "2 edits"
		// counts the blocks, not the hunks.
		return refine.EditOutcome{Content: []byte("package b\n"), Diff: "--- a/a.go\n+++ b/a.go\n@@ -1 +1 @@\n-package a\n+package b\n",
			Edits: 2, Model: "m", PromptTokens: 1000, CompletionTokens: 100, CostUSD: 0.0123, Attempts: 1}, nil
	})
	j, m := b.job(t, db.ModeLLM, 10)
	for range 2 { // a redelivery changes nothing
		if err := b.runner.Handle(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	got, u := b.state(t, j.ID)
	// 1 base + ceil(0.0123 * 100) = 1 + 2
	if got.State != db.JobSucceeded || got.ChargedCredits != 3 || *got.ResultVersion != 2 || *got.BaseVersion != 1 ||
		got.PromptTokens != 1000 || got.AfterSHA256 == nil || *got.BeforeSHA256 == *got.AfterSHA256 || got.ReplySentAt == nil {
		t.Errorf("job = %+v", got)
	}
	if u.Balance != 17 || u.Held != 0 {
		t.Errorf("balance %d held %d", u.Balance, u.Held)
	}
	sent := b.tg.Sent(chat)
	if got.EditBlocks == nil || *got.EditBlocks != 2 {
		t.Errorf("edit_blocks = %v, want 2", got.EditBlocks)
	}
	if len(sent) != 1 || !strings.Contains(sent[0].Text(), "✅ a.go → version 2 (2 edits, 3 credits") ||
		!strings.Contains(sent[0].Text(), "<pre>") || !strings.Contains(sent[0].Params["reply_markup"], fmt.Sprintf("undo:%d", j.ID)) {
		t.Errorf("replies = %+v", sent)
	}
	f, _ := db.FileByPath(context.Background(), b.db.Pool, b.proj.ID, "a.go")
	v, _ := db.GetFileVersion(context.Background(), b.db.Pool, b.proj.ID, "a.go", f.Version)
	data, _ := b.files.GetBlob(context.Background(), b.proj.ID, v.BlobKey)
	if string(data) != "package b\n" {
		t.Errorf("current content = %q", data)
	}
}

func TestFailuresReleaseCreditsAndSayWhy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		mode  string
		err   error
		state string
		say   string
	}{
		{"model", db.ModeLLM, fault.AsPermanent(fmt.Errorf("%w: block 1 matches nothing", refine.ErrNoValidEdit)), db.JobFailed,
			"The model could not produce an edit that applies to a.go, so nothing was changed or charged.\nTry a sharper instruction"},
		{"model with reasons", db.ModeLLM, fault.AsPermanent(&refine.NoValidEditError{Reasons: []string{"the text to change is not in a.go"},
			Report: "for the model"}), db.JobFailed, "applies to a.go, so nothing was changed or charged. Its last try: the text to change is not in a.go.\nTry a sharper"},
		{"key", db.ModeLLM, fault.AsPermanent(fmt.Errorf("%w: 401 invalid key", fault.ErrUnauthorized)), db.JobFailed,
			"The model service rejected the bot&#39;s API key, so a.go was not changed. Nothing was charged."},
		{"direct", db.ModeDirect, fault.AsPermanent(fmt.Errorf("%w: SEARCH block matches nothing", refine.ErrNoValidEdit)), db.JobRejected,
			"Your edit does not apply to a.go"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
				return refine.EditOutcome{}, tt.err
			})
			j, m := b.job(t, tt.mode, 10)
			if err := b.runner.Handle(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			got, u := b.state(t, j.ID)
			if got.State != tt.state || got.ChargedCredits != 0 || u.Balance != 20 || u.Held != 0 {
				t.Errorf("job %s charged %d, balance %d held %d", got.State, got.ChargedCredits, u.Balance, u.Held)
			}
			sent := b.tg.Sent(chat)
			if len(sent) != 1 || !strings.Contains(sent[0].Text(), tt.say) || !strings.HasPrefix(sent[0].Text(), "❌") {
				t.Errorf("replies = %q", sent)
			}
		})
	}
}

func TestConflictIsNotALostUpdate(t *testing.T) {
	t.Parallel()
	var b *bundle
	b = setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		b.commit(t, "a.go", "package other\n", 0) // someone uploads meanwhile
		return refine.EditOutcome{Content: []byte("package b\n"), Diff: "x"}, nil
	})
	j, m := b.job(t, db.ModeLLM, 10)
	if err := b.runner.Handle(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got, u := b.state(t, j.ID)
	if got.State != db.JobFailed || got.ErrorKind == nil || *got.ErrorKind != "conflict" || u.Held != 0 || u.Balance != 20 {
		t.Errorf("job = %s %v, balance %d held %d", got.State, got.ErrorKind, u.Balance, u.Held)
	}
	f, _ := db.FileByPath(context.Background(), b.db.Pool, b.proj.ID, "a.go")
	if f.Version != 2 || f.LatestVersion != 2 {
		t.Errorf("file = %+v: the stale edit was committed", f)
	}
	expectText(t, b.tg.Sent(chat), "a.go changed meanwhile (version 2 was saved while I worked on version 1), so I did not save my edit. Nothing was charged. Tap Retry")
	if kb := b.tg.Sent(chat)[0].Params["reply_markup"]; !strings.Contains(kb, fmt.Sprintf(`"retry:%d"`, j.ID)) {
		t.Errorf("conflict reply without a Retry button: %q", kb)
	}
}

func TestRetryableThenGiveUp(t *testing.T) {
	t.Parallel()
	b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		return refine.EditOutcome{}, fault.Retryablef("model: %w", fault.ErrUnavailable)
	})
	j, m := b.job(t, db.ModeLLM, 10)
	if err := b.runner.Handle(context.Background(), m); err == nil || !fault.IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
	if got, u := b.state(t, j.ID); got.State != db.JobRunning || u.Held != 10 || len(b.tg.Sent(chat)) != 0 {
		t.Errorf("after a retryable failure: %s, held %d", got.State, u.Held)
	}
	if err := b.runner.GiveUp(context.Background(), m, errors.New("attempts exhausted")); err != nil {
		t.Fatal(err)
	}
	got, u := b.state(t, j.ID)
	if got.State != db.JobFailed || u.Held != 0 || u.Balance != 20 {
		t.Errorf("after GiveUp: %s, balance %d held %d", got.State, u.Balance, u.Held)
	}
	expectText(t, b.tg.Sent(chat), "I could not change a.go: the model service is not answering, and I gave up after several tries.")
}

func TestUsersOwnKeyIsPassed(t *testing.T) {
	t.Parallel()
	var seen string
	b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		seen = r.APIKey
		return refine.EditOutcome{Content: []byte("package b\n"), Diff: "d"}, nil
	})
	sealed, _ := b.keys.Seal(b.user.ID, []byte("sk-user-own"))
	if err := db.SetLLMKey(context.Background(), b.db.Pool, b.user.ID, sealed); err != nil {
		t.Fatal(err)
	}
	_, m := b.job(t, db.ModeLLM, 10)
	if err := b.runner.Handle(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if seen != "sk-user-own" {
		t.Errorf("editor saw key %q", seen)
	}
}

func TestCharge(t *testing.T) {
	t.Parallel()
	c := refine.Config{BaseRefineCredits: 1, CreditsPerUSD: 100}
	for _, tt := range []struct {
		mode string
		cost float64
		want int64
	}{{db.ModeDirect, 5, 1}, {db.ModeLLM, 0, 1}, {db.ModeLLM, 0.01, 2}, {db.ModeLLM, 0.0101, 3}, {db.ModeLLM, 0.0001, 2}} {
		if got := c.Charge(tt.mode, tt.cost); got != tt.want {
			t.Errorf("Charge(%s, %v) = %d, want %d", tt.mode, tt.cost, got, tt.want)
		}
	}
}

func expectText(t *testing.T, sent []telegramtest.Call, want string) {
	t.Helper()
	for _, c := range sent {
		if strings.Contains(c.Text(), want) {
			return
		}
	}
	t.Errorf("no reply contains %q: %+v", want, sent)
}

func TestSummary(t *testing.T) {
	t.Parallel()
	ms, v, one, three := int64(4200), 2, 1, 3
	tests := []struct {
		name string
		job  db.Job
		want string
	}{
		{"one edit", db.Job{Path: "cmd/main.go", ResultVersion: &v, EditBlocks: &one, ChargedCredits: 3, DurationMS: &ms},
			"✅ cmd/main.go → version 2 (1 edit, 3 credits, 4.2 s)"},
		{"edits", db.Job{Path: "a.go", ResultVersion: &v, EditBlocks: &three, ChargedCredits: 1},
			"✅ a.go → version 2 (3 edits, 1 credit)"},
		{"recorded before edit_blocks", db.Job{Path: "a.go", ResultVersion: &v, ChargedCredits: 2, Diff: new(string)},
			"✅ a.go → version 2 (2 credits)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := refine.Summary(tt.job); got != tt.want {
				t.Errorf("Summary = %q, want %q", got, tt.want)
			}
		})
	}
}

// A file job whose file was deleted after it was queued is rejected,
// nothing charged, the editor never called: the claim's state has no such
// file.
func TestFileJobOfADeletedFileIsRejected(t *testing.T) {
	t.Parallel()
	called := false
	b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		called = true
		return refine.EditOutcome{}, errors.New("the editor ran")
	})
	j, m := b.job(t, db.ModeLLM, 10)
	if _, _, err := db.CommitChangeSet(context.Background(), b.db.Pool, db.NewChangeSet{ProjectID: b.proj.ID, Kind: db.ChangeUpload,
		Files: []db.NewVersion{{Path: "a.go", Delete: true, BaseVersion: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.runner.Handle(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got, u := b.state(t, j.ID)
	if called || got.State != db.JobRejected || got.ChargedCredits != 0 || u.Balance != 20 || u.Held != 0 {
		t.Errorf("editor called %v; job %s charged %d; balance %d held %d", called, got.State, got.ChargedCredits, u.Balance, u.Held)
	}
	expectText(t, b.tg.Sent(chat), "a.go no longer exists. Nothing was charged.")
}
