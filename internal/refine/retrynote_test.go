package refine_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/refine"
	"github.com/devbot-hq/devbot/internal/telegram"
)

// A delivery that lost its lease without noticing (its heartbeat stalled)
// and then fails retryably must not touch the job's reply: the delivery
// that took the lease finished the job and edited the Working message into
// the result, buttons and all, and that reply is recorded as sent, so
// nothing would ever correct a "trying again" written over it.
func TestStaleRetryNoteLeavesTheFinishedReply(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		if calls.Add(1) == 1 { // delivery A: stalls, then the model fails
			close(started)
			<-release
			return refine.EditOutcome{}, fault.AsRetryable(fmt.Errorf("%w: calling the model: connection reset", fault.ErrUnavailable))
		}
		return refine.EditOutcome{Content: []byte("package b\n"), Diff: "d", Edits: 1}, nil
	})
	b.runner.Config.Lease = 300 * time.Millisecond
	b.runner.Config.Heartbeat = time.Hour // A's renewals never come
	b.runner.Config.ClaimWait = 5 * time.Second
	j, m := b.job(t, db.ModeLLM, 10)
	ctx := context.Background()
	tg := telegram.New(b.tg.URL, b.tg.Token, b.tg.Client())
	working, err := tg.SendMessage(ctx, telegram.SendMessage{ChatID: chat, Text: "Working on a.go…"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetJobProgressMessage(ctx, b.db.Pool, j.ID, working.MessageID); err != nil {
		t.Fatal(err)
	}

	first := make(chan error, 1)
	go func() { first <- b.runner.Handle(ctx, m) }()
	<-started
	// B takes the expired lease, finishes the job and answers.
	r := b.runner
	other := &refine.Runner{Config: r.Config, DB: r.DB, Files: r.Files, Editor: r.Editor, Telegram: r.Telegram, Keys: r.Keys, Logger: r.Logger}
	if err := other.Handle(ctx, m); err != nil {
		t.Fatalf("delivery B: %v", err)
	}
	result, _ := b.tg.Shown(chat, working.MessageID)
	if !strings.Contains(result, "a.go") || strings.Contains(result, "Working on") {
		t.Fatalf("after B the Working message shows %q, want the result", result)
	}
	close(release)
	if err := <-first; err == nil || !fault.IsRetryable(err) {
		t.Fatalf("delivery A: %v, want a retryable error", err)
	}

	if shown, _ := b.tg.Shown(chat, working.MessageID); shown != result {
		t.Errorf("the Working message shows %q after A's failure, want B's result %q", shown, result)
	}
	var lastText, lastMarkup string
	for _, c := range b.tg.Calls("editMessageText") {
		if c.Params["message_id"] == fmt.Sprint(working.MessageID) {
			lastText, lastMarkup = c.Params["text"], c.Params["reply_markup"]
		}
	}
	if lastText != result || !strings.Contains(lastMarkup, fmt.Sprintf("undo:%d", j.ID)) || !strings.Contains(lastMarkup, fmt.Sprintf("diff:%d", j.ID)) {
		t.Errorf("last edit of the Working message: %q with keyboard %s; want B's result with its Undo and diff buttons", lastText, lastMarkup)
	}
	got, _ := b.state(t, j.ID)
	extra, err := db.GetJobReply(ctx, b.db.Pool, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != db.JobSucceeded || got.Attempts != 2 || extra.RetryNote != nil {
		t.Errorf("job %s after %d attempts, retry note %v; want succeeded, 2, none", got.State, got.Attempts, extra.RetryNote)
	}
}

// stallingEditor is a Telegram client whose edits of a message into "trying
// again" hang (as a Bot API call may, for up to the client's 60 s): it
// signals stalled and waits for its context, or for giveUp.
type stallingEditor struct {
	*telegram.Client
	stalled chan struct{}
	giveUp  <-chan struct{}
	once    atomic.Bool
}

func (s *stallingEditor) EditMessageText(ctx context.Context, m telegram.EditMessageText) (telegram.Message, error) {
	if !strings.Contains(m.Text, "trying again") {
		return s.Client.EditMessageText(ctx, m)
	}
	if s.once.CompareAndSwap(false, true) {
		close(s.stalled)
	}
	select {
	case <-ctx.Done():
		return telegram.Message{}, ctx.Err()
	case <-s.giveUp:
		return telegram.Message{}, fault.AsRetryable(fmt.Errorf("%w: editMessageText hung", fault.ErrUnavailable))
	}
}

// A retryable failure hands the job back before it tells the user: while
// the "trying again" edit hangs, the redelivery can already claim the job,
// and the edit is cut off after a few seconds, so it cannot hold the
// delivery either.
func TestSlowRetryNoteEditDoesNotHoldTheJob(t *testing.T) {
	t.Parallel()
	b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		return refine.EditOutcome{}, fault.AsRetryable(fmt.Errorf("%w: calling the model: connection reset", fault.ErrUnavailable))
	})
	giveUp := make(chan struct{})
	defer close(giveUp)
	tg := &stallingEditor{Client: telegram.New(b.tg.URL, b.tg.Token, b.tg.Client()), stalled: make(chan struct{}), giveUp: giveUp}
	b.runner.Telegram = tg
	b.runner.Config.Lease = time.Hour
	j, m := b.job(t, db.ModeLLM, 10)
	ctx := context.Background()
	working, err := tg.SendMessage(ctx, telegram.SendMessage{ChatID: chat, Text: "Working on a.go…"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetJobProgressMessage(ctx, b.db.Pool, j.ID, working.MessageID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.runner.Handle(ctx, m) }()
	select {
	case <-tg.stalled:
	case err := <-done:
		t.Fatalf("the delivery ended (%v) without editing the Working message", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no retry note edit")
	}
	stalledAt := time.Now()
	// The redelivery, arriving now, takes the job at once.
	if _, err := db.ClaimJob(ctx, b.db.Pool, j.ID, time.Hour); err != nil {
		t.Errorf("redelivery while the retry note's edit hangs: %v, want the lease released", err)
	}
	select {
	case err := <-done:
		if err == nil || !fault.IsRetryable(err) {
			t.Errorf("delivery: %v, want a retryable error", err)
		}
		t.Logf("the hung edit held the delivery %s", time.Since(stalledAt).Round(100*time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Error("the hung edit held the delivery for 10 s")
	}
}
