package sweep_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
)

// finished makes a failed job whose reply was never recorded, finished a
// while ago, with set applied to its row.
func (r *rig) finished(t *testing.T, set string) db.Job {
	t.Helper()
	ctx := context.Background()
	j := r.job(t, "")
	err := r.db.InTx(ctx, func(tx pgx.Tx) error {
		_, err := db.FailJob(ctx, tx, j.ID, db.JobFailure{State: db.JobFailed, Kind: "model", Message: "no luck"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.db.Pool.Exec(ctx, `UPDATE refine_jobs SET finished_at = now() - interval '5 minutes'`+set+` WHERE id = $1`, j.ID); err != nil {
		t.Fatal(err)
	}
	return j
}

// Replies another delivery is sending (busy claims) do not hold the sweep:
// it skips them without waiting, and the dead-lettered payment is credited
// well within the sweep's deadline.
func TestSweepCreditsPastBusyReplyClaims(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	var busy []db.Job
	for range 5 {
		busy = append(busy, r.finished(t, ", reply_claimed_at = now()"))
	}
	pub := r.ps.Client.Publisher(r.dlTopic)
	defer pub.Stop()
	if _, err := pub.Publish(context.Background(), &pubsub.Message{Data: []byte(`{"id":"evt_busy"}`)}).Get(context.Background()); err != nil {
		t.Fatal(err)
	}
	applied := 0
	r.sweeper.HandleEvent = func(ctx context.Context, payload []byte) error { applied++; return nil }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // well under the 91 s a claim may be waited for
	defer cancel()
	start := time.Now()
	rep, err := r.sweeper.Run(ctx)
	if err != nil {
		t.Errorf("sweep: %v", err)
	}
	if rep.Credited != 1 || applied != 1 {
		t.Errorf("credited %d (applied %d), want the dead-lettered payment credited", rep.Credited, applied)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("the sweep took %s: it waited for busy reply claims", d)
	}
	if sent := r.tg.Sent(chat); len(sent) != 0 {
		t.Errorf("sent %d replies whose claims another delivery holds", len(sent))
	}
	for _, j := range busy {
		if got := r.get(t, j.ID); got.ReplySentAt != nil {
			t.Errorf("job %d recorded as replied", j.ID)
		}
	}
}

// Telegram failing retryably stops telling at the first failure (the rest
// would wait on it too); the next sweep tells them all, once.
func TestSweepStopsTellingAtARetryableTelegramError(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	for range 3 {
		r.finished(t, "")
	}
	r.tg.Fail("sendMessage", 502, "Bad Gateway", 0)
	if _, err := r.sweeper.Run(context.Background()); err == nil {
		t.Error("sweep with Telegram failing: no error")
	}
	if sent := r.tg.Sent(chat); len(sent) != 0 {
		t.Errorf("told %d jobs after Telegram failed, want 0 (stop at the first failure)", len(sent))
	}
	if rep := r.run(t); rep.Told != 3 {
		t.Errorf("the next sweep told %d, want 3", rep.Told)
	}
	if sent := r.tg.Sent(chat); len(sent) != 3 || !strings.Contains(sent[0].Text(), "no luck") {
		t.Errorf("messages %v, want each outcome once", sent)
	}
}
