package refine_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/refine"
	"github.com/devbot-hq/devbot/internal/reply"
	"github.com/devbot-hq/devbot/internal/telegram"
)

// cuttingSender drops every database connection of the runner right after
// Telegram accepted a message: the moment between sending a reply and
// recording it.
type cuttingSender struct {
	reply.Sender
	t     *testing.T
	url   string
	times atomic.Int32 // cuts left
}

func (s *cuttingSender) SendMessage(ctx context.Context, m telegram.SendMessage) (telegram.Message, error) {
	msg, err := s.Sender.SendMessage(ctx, m)
	if err == nil && s.times.Add(-1) >= 0 {
		terminateBackends(s.t, s.url)
	}
	return msg, err
}

// terminateBackends ends every other session on the test database, as a
// restart of the server or a dropped network path would.
func terminateBackends(t *testing.T, url string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Errorf("admin connection: %v", err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Errorf("terminating backends: %v", err)
	}
}

// The database connection drops between sending a job's reply and recording
// it: the reply is recorded anyway (on a fresh connection), so the
// redelivery does not send it a second time.
func TestReplyNotSentTwiceWhenTheConnectionDropsAfterSending(t *testing.T) {
	t.Parallel()
	b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		return refine.EditOutcome{Content: []byte("package b\n"), Diff: "d", Edits: 1}, nil
	})
	cut := &cuttingSender{Sender: b.runner.Telegram, t: t, url: b.db.Pool.Config().ConnString()}
	cut.times.Store(1)
	b.runner.Telegram = cut
	j, m := b.job(t, db.ModeLLM, 10)
	first := b.runner.Handle(context.Background(), m)
	t.Logf("first delivery: %v", first)
	if first != nil { // asked for a redelivery: it comes
		if err := b.runner.Handle(context.Background(), m); err != nil {
			t.Fatalf("redelivery: %v", err)
		}
	}
	got, u := b.state(t, j.ID)
	if n := len(b.tg.Sent(chat)); n != 1 {
		t.Errorf("the reply was sent %d times, want 1", n)
	}
	if got.State != db.JobSucceeded || got.ReplySentAt == nil || u.Balance != 19 {
		t.Errorf("job %s, replied %v, balance %d; want succeeded, replied, 19", got.State, got.ReplySentAt != nil, u.Balance)
	}
}

// What remains of the window, shown: a delivery killed after Telegram took
// the reply and before the record committed (its claim stays, reply_sent_at
// does not) leaves the outcome unknown; once the claim runs out the
// redelivery sends the reply again. Telegram's sendMessage has no
// idempotency key, so this one duplicate cannot be ruled out.
func TestReplyKilledBetweenSendAndRecordIsSentAgainAfterTheClaim(t *testing.T) {
	t.Parallel()
	b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		return refine.EditOutcome{Content: []byte("package b\n"), Diff: "d", Edits: 1}, nil
	})
	b.runner.Config.ReplyClaim = time.Second
	j, m := b.job(t, db.ModeLLM, 10)
	if _, err := db.ClaimJob(context.Background(), b.db.Pool, j.ID, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.db.InTx(context.Background(), func(tx pgx.Tx) error {
		_, err := db.FailJob(context.Background(), tx, j.ID, db.JobFailure{State: db.JobFailed, Kind: "model", Message: "no"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// The killed delivery: claimed, sent (not seen here), never recorded.
	if _, ok, err := db.ClaimJobReply(context.Background(), b.db.Pool, j.ID, time.Second); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	start := time.Now()
	if err := b.runner.Handle(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Errorf("the redelivery sent after %s, inside the dead sender's claim", waited)
	}
	if n := len(b.tg.Sent(chat)); n != 1 {
		t.Errorf("%d replies from the redelivery, want 1 (the possible duplicate)", n)
	}
	if got, _ := b.state(t, j.ID); got.ReplySentAt == nil {
		t.Error("the reply is not recorded")
	}
}
