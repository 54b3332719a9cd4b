package sweep_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/events/embedded"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/refine"
	"github.com/devbot-hq/devbot/internal/storage"
	"github.com/devbot-hq/devbot/internal/sweep"
	"github.com/devbot-hq/devbot/internal/telegram"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

const chat = 555

type rig struct {
	db      *db.DB
	ps      *embedded.Server
	tg      *telegramtest.Server
	sweeper *sweep.Sweeper
	user    db.User
	proj    db.Project
	jobsSub string // pull subscription on refine-jobs: what the sweeper published
	dlTopic string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{db: dbtest.New(t), tg: telegramtest.New(t)}
	ps, err := embedded.Start(ctx, embedded.Config{Topics: []embedded.TopicSpec{{Topic: "refine-jobs"}, {Topic: "stripe-events-dead-letter"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	r.ps = ps
	r.jobsSub = "projects/" + ps.Project + "/subscriptions/refine-jobs-watch"
	r.dlTopic = "projects/" + ps.Project + "/topics/stripe-events-dead-letter"
	for name, topic := range map[string]string{r.jobsSub: "refine-jobs", "projects/" + ps.Project + "/subscriptions/stripe-events-dead-letter-sub": "stripe-events-dead-letter"} {
		if _, err := ps.Client.SubscriptionAdminClient.CreateSubscription(ctx, &pb.Subscription{Name: name,
			Topic: "projects/" + ps.Project + "/topics/" + topic, AckDeadlineSeconds: 60}); err != nil {
			t.Fatal(err)
		}
	}
	pub := events.NewPublisher(ctx, ps.Client, "refine-jobs")
	t.Cleanup(pub.Stop)
	local, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files := storage.NewFiles(local, 1<<20)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	runner := &refine.Runner{DB: r.db, Files: files, Telegram: telegram.New(r.tg.URL, r.tg.Token, r.tg.Client()), Logger: logger}
	r.sweeper = &sweep.Sweeper{Config: sweep.Config{Lease: 30 * time.Second}, DB: r.db, Jobs: pub, Replies: runner, Logger: logger,
		Paid: &sweep.Subscription{Client: ps.Client, Name: "projects/" + ps.Project + "/subscriptions/stripe-events-dead-letter-sub",
			Wait: time.Second}}
	r.user, _, err = db.EnsureUser(ctx, r.db.Pool, db.TelegramUser{TelegramID: 9, ChatID: chat, FirstName: "Ann"}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if r.proj, err = db.CreateProject(ctx, r.db.Pool, r.user.ID, "api"); err != nil {
		t.Fatal(err)
	}
	return r
}

// job queues a job and then sets what the test needs, as SQL on its row.
func (r *rig) job(t *testing.T, set string) db.Job {
	t.Helper()
	ctx := context.Background()
	var j db.Job
	err := r.db.InTx(ctx, func(tx pgx.Tx) (err error) {
		j, err = db.CreateJob(ctx, tx, db.NewJob{UserID: r.user.ID, ProjectID: r.proj.ID, Path: "a.go", Instruction: "x",
			Mode: db.ModeLLM, ChatID: chat, HoldCredits: 10})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if set != "" {
		if _, err := r.db.Pool.Exec(ctx, `UPDATE refine_jobs SET `+set+` WHERE id = $1`, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	return j
}

// published drains the watch subscription: the job ids published since.
func (r *rig) published(t *testing.T) []int64 {
	t.Helper()
	var ids []int64
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := r.ps.Client.SubscriptionAdminClient.Pull(ctx, &pb.PullRequest{Subscription: r.jobsSub, MaxMessages: 100})
		cancel()
		if err != nil || len(resp.ReceivedMessages) == 0 {
			return ids
		}
		var acks []string
		for _, m := range resp.ReceivedMessages {
			id, err := refine.ParseMessage(m.Message.Data)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
			acks = append(acks, m.AckId)
		}
		if err := r.ps.Client.SubscriptionAdminClient.Acknowledge(context.Background(), &pb.AcknowledgeRequest{Subscription: r.jobsSub, AckIds: acks}); err != nil {
			t.Fatal(err)
		}
	}
}

func (r *rig) run(t *testing.T) sweep.Report {
	t.Helper()
	rep, err := r.sweeper.Run(context.Background())
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	return rep
}

func (r *rig) get(t *testing.T, id int64) db.Job {
	t.Helper()
	j, err := db.GetJob(context.Background(), r.db.Pool, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// A job the bot committed but never published (its publish failed for
// good, or the instance died) is published; a fresh one is left to the bot;
// the next sweep does not publish it again.
func TestSweepPublishesAQueuedJobNeverPublished(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	lost := r.job(t, "created_at = now() - interval '5 minutes'")
	fresh := r.job(t, "")
	sent := r.job(t, "created_at = now() - interval '5 minutes', published_at = now() - interval '4 minutes'")
	if rep := r.run(t); rep.Republished != 1 {
		t.Errorf("republished %d, want 1", rep.Republished)
	}
	if got := r.published(t); len(got) != 1 || got[0] != lost.ID {
		t.Errorf("published %v, want only job %d (not the fresh %d nor the published %d)", got, lost.ID, fresh.ID, sent.ID)
	}
	if j := r.get(t, lost.ID); j.State != db.JobQueued {
		t.Errorf("job %s", j.State)
	}
	r.run(t)
	if got := r.published(t); len(got) != 0 {
		t.Errorf("the next sweep published %v again", got)
	}
}

// A running job whose lease ran out unrenewed (its instance died, its
// deliveries spent) is published again for RefineJobs to resume; one with a
// live lease is left alone.
func TestSweepReclaimsAnExpiredLease(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	dead := r.job(t, "state = 'running', attempts = 5, started_at = now() - interval '20 minutes', claimed_at = now() - interval '15 minutes'")
	live := r.job(t, "state = 'running', attempts = 1, started_at = now() - interval '20 minutes', claimed_at = now()")
	r.run(t)
	if got := r.published(t); len(got) != 1 || got[0] != dead.ID {
		t.Errorf("published %v, want only the expired job %d (not the live %d)", got, dead.ID, live.ID)
	}
	if j := r.get(t, dead.ID); j.State != db.JobRunning {
		t.Errorf("expired job %s, want left running for RefineJobs", j.State)
	}
}

// A job that cannot finish (too old, or published again too often) is
// failed, its credits released, and the user told once.
func TestSweepFailsWhatCannotFinish(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	old := r.job(t, "created_at = now() - interval '3 hours'")
	swept := r.job(t, "state = 'running', attempts = 9, sweeps = 6, started_at = now() - interval '1 hour', claimed_at = now() - interval '1 hour'")
	for range 2 {
		r.run(t)
	}
	for _, id := range []int64{old.ID, swept.ID} {
		if j := r.get(t, id); j.State != db.JobFailed || j.ReplySentAt == nil || j.ErrorKind == nil || *j.ErrorKind != "swept" {
			t.Errorf("job %d: %s, replied %v", id, j.State, j.ReplySentAt != nil)
		}
	}
	u, _ := db.UserByID(context.Background(), r.db.Pool, r.user.ID)
	if u.Held != 0 || u.Balance != 1000 {
		t.Errorf("balance %d held %d, want 1000 and 0", u.Balance, u.Held)
	}
	sent := r.tg.Sent(chat)
	if len(sent) != 2 || !strings.Contains(sent[0].Text(), "Nothing was changed or charged") {
		t.Errorf("%d messages (%v), want one per failed job", len(sent), sent)
	}
	if got := r.published(t); len(got) != 0 {
		t.Errorf("failed jobs were published again: %v", got)
	}
}

// A finished job whose reply was never recorded (the instance died after
// the commit) is told.
func TestSweepTellsAFinishedJobNeverReplied(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	j := r.job(t, "")
	err := r.db.InTx(context.Background(), func(tx pgx.Tx) error {
		_, err := db.FailJob(context.Background(), tx, j.ID, db.JobFailure{State: db.JobFailed, Kind: "model", Message: "no luck"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.db.Pool.Exec(context.Background(), `UPDATE refine_jobs SET finished_at = now() - interval '5 minutes' WHERE id = $1`, j.ID); err != nil {
		t.Fatal(err)
	}
	r.run(t)
	r.run(t)
	if sent := r.tg.Sent(chat); len(sent) != 1 || !strings.Contains(sent[0].Text(), "no luck") {
		t.Errorf("messages %v, want the outcome once", sent)
	}
}

// Paid Stripe events on the dead-letter subscription are applied and
// acknowledged only after success: a database still away leaves them (and
// the sweep says so); the next sweep applies each once.
func TestSweepCreditsDeadLetteredPaidEvents(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	pub := r.ps.Client.Publisher(r.dlTopic)
	defer pub.Stop()
	for i := range 3 {
		if _, err := pub.Publish(context.Background(), &pubsub.Message{Data: []byte(fmt.Sprintf(`{"id":"evt_%d"}`, i))}).Get(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	applied := map[string]int{}
	var down atomic.Bool
	down.Store(true)
	r.sweeper.HandleEvent = func(ctx context.Context, payload []byte) error {
		if down.Load() {
			return fault.AsRetryable(errors.New("database unavailable"))
		}
		mu.Lock()
		defer mu.Unlock()
		applied[string(payload)]++
		return nil
	}
	rep, err := r.sweeper.Run(context.Background())
	if err == nil || !fault.IsRetryable(err) || rep.Credited != 0 {
		t.Errorf("sweep with the database away: %+v, %v; want a retryable error, nothing credited", rep, err)
	}
	down.Store(false)
	if rep := r.run(t); rep.Credited != 3 {
		t.Errorf("credited %d, want 3", rep.Credited)
	}
	if rep := r.run(t); rep.Credited != 0 {
		t.Errorf("a later sweep credited %d more: the events were not acknowledged", rep.Credited)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(applied) != 3 {
		t.Errorf("applied %v, want 3 events", applied)
	}
	for k, n := range applied {
		if n != 1 {
			t.Errorf("%s applied %d times", k, n)
		}
	}
}

// Two sweeps at once publish each stuck job once.
func TestConcurrentSweepsPublishEachJobOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	want := map[int64]bool{}
	for range 30 {
		want[r.job(t, "created_at = now() - interval '5 minutes'").ID] = true
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.sweeper.Run(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got := r.published(t)
	seen := map[int64]int{}
	for _, id := range got {
		seen[id]++
	}
	if len(got) != len(want) || len(seen) != len(want) {
		t.Errorf("%d publications of %d distinct jobs, want each of %d once", len(got), len(seen), len(want))
	}
}
