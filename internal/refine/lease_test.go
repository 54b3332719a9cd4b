package refine_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/refine"
)

// blockingEdit blocks its first call until release closes (or its context
// ends), signalling started; later calls answer at once.
func blockingEdit(calls *atomic.Int32, started chan<- struct{}, release <-chan struct{}) editFunc {
	return func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		if calls.Add(1) == 1 {
			close(started)
			select {
			case <-release:
			case <-ctx.Done():
				return refine.EditOutcome{}, fault.AsRetryable(ctx.Err())
			}
		}
		return refine.EditOutcome{Content: []byte("package b\n"), Diff: "d", Edits: 1}, nil
	}
}

// A model call longer than the lease keeps it: the heartbeat renews it, so
// a duplicate delivery after the lease's first expiry does not run the
// model a second time.
func TestHeartbeatKeepsTheLeaseWhileTheWorkRuns(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	b := setup(t, blockingEdit(&calls, started, release))
	b.runner.Config.Lease = time.Second
	b.runner.Config.Heartbeat = 200 * time.Millisecond
	j, m := b.job(t, db.ModeLLM, 10)
	first := make(chan error, 1)
	go func() { first <- b.runner.Handle(context.Background(), m) }()
	<-started
	time.Sleep(2500 * time.Millisecond) // well past the first lease
	if err := b.runner.Handle(context.Background(), m); !errors.Is(err, db.ErrJobBusy) {
		t.Errorf("duplicate delivery after %s: %v, want ErrJobBusy (the lease renewed)", 2500*time.Millisecond, err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	got, u := b.state(t, j.ID)
	if calls.Load() != 1 || got.State != db.JobSucceeded || got.ChargedCredits != 1 || u.Balance != 19 || len(b.tg.Sent(chat)) != 1 {
		t.Errorf("model calls %d, job %s charged %d balance %d replies %d; want 1, succeeded, 1, 19, 1",
			calls.Load(), got.State, got.ChargedCredits, u.Balance, len(b.tg.Sent(chat)))
	}
}

// A redelivery that arrives while a dead instance's lease is live waits it
// out and resumes the job, instead of answering 503 (which push would
// retry only after its backoff, spending an attempt).
func TestRedeliveryWaitsOutADeadInstancesLease(t *testing.T) {
	t.Parallel()
	b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		return refine.EditOutcome{Content: []byte("package b\n"), Diff: "d", Edits: 1}, nil
	})
	b.runner.Config.Lease = 2 * time.Second
	b.runner.Config.ClaimWait = 3 * time.Second
	j, m := b.job(t, db.ModeLLM, 10)
	// The instance that claimed it died: nothing renews or releases.
	if _, err := db.ClaimJob(context.Background(), b.db.Pool, j.ID, b.runner.Config.Lease); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := b.runner.Handle(context.Background(), m); err != nil {
		t.Fatalf("redelivery under a dead instance's lease: %v", err)
	}
	got, _ := b.state(t, j.ID)
	if got.State != db.JobSucceeded || got.Attempts != 2 || len(b.tg.Sent(chat)) != 1 {
		t.Errorf("job %s after %d attempts, %d replies; want succeeded, 2, 1", got.State, got.Attempts, len(b.tg.Sent(chat)))
	}
	t.Logf("resumed after %s", time.Since(start).Round(100*time.Millisecond))
}

// A delivery whose lease another delivery took (its renewals stopped, say,
// during a long pause) stops, and records nothing: the job is finished
// once, by the holder.
func TestLostLeaseStopsTheWork(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	b := setup(t, blockingEdit(&calls, started, release))
	b.runner.Config.Lease = time.Minute
	b.runner.Config.Heartbeat = 100 * time.Millisecond
	j, m := b.job(t, db.ModeLLM, 10)
	first := make(chan error, 1)
	go func() { first <- b.runner.Handle(context.Background(), m) }()
	<-started
	// Another delivery takes the job (as after an expired lease).
	if _, err := db.ClaimJob(context.Background(), b.db.Pool, j.ID, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-first:
		if !errors.Is(err, db.ErrLeaseLost) || !fault.IsRetryable(err) {
			t.Errorf("delivery that lost its lease: %v, want a retryable ErrLeaseLost", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the delivery that lost its lease kept working")
	}
	got, u := b.state(t, j.ID)
	if got.State != db.JobRunning || got.Attempts != 2 || u.Held != 10 || len(b.tg.Sent(chat)) != 0 {
		t.Errorf("job %s attempts %d held %d replies %d: the stale delivery recorded something", got.State, got.Attempts, u.Held, len(b.tg.Sent(chat)))
	}
}

// Shutdown (SIGTERM) stops the model call in flight and releases the
// lease: the redelivery, on another instance, claims the job at once.
func TestShutdownReleasesTheLease(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	b := setup(t, blockingEdit(&calls, started, release))
	b.runner.Config.Lease = time.Hour // a redelivery could not wait this out
	j, m := b.job(t, db.ModeLLM, 10)
	first := make(chan error, 1)
	go func() { first <- b.runner.Handle(context.Background(), m) }()
	<-started
	b.runner.Shutdown(context.Background())
	if err := <-first; !errors.Is(err, refine.ErrInterrupted) || !fault.IsRetryable(err) {
		t.Fatalf("interrupted delivery: %v, want a retryable ErrInterrupted", err)
	}
	if err := b.runner.Handle(context.Background(), m); !errors.Is(err, refine.ErrInterrupted) {
		t.Errorf("delivery after Shutdown: %v, want it handed back unclaimed", err)
	}
	r := b.runner // another instance, same database
	other := &refine.Runner{Config: r.Config, DB: r.DB, Files: r.Files, Editor: r.Editor, Telegram: r.Telegram, Keys: r.Keys, Logger: r.Logger}
	if err := other.Handle(context.Background(), m); err != nil {
		t.Fatalf("redelivery to another instance: %v (the lease was not released)", err)
	}
	got, u := b.state(t, j.ID)
	if got.State != db.JobSucceeded || got.Attempts != 2 || got.ChargedCredits != 1 || u.Balance != 19 || len(b.tg.Sent(chat)) != 1 {
		t.Errorf("job %s attempts %d charged %d balance %d replies %d; want succeeded, 2, 1, 19, 1",
			got.State, got.Attempts, got.ChargedCredits, u.Balance, len(b.tg.Sent(chat)))
	}
}

// Giving up a delivery does not fail a job that is not failing: one that
// another delivery runs under a live lease, or one whose last delivery a
// shutdown interrupted (the sweeper resumes it).
func TestGiveUpLeavesAJobThatIsNotFailing(t *testing.T) {
	t.Parallel()
	b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		return refine.EditOutcome{Content: []byte("package b\n"), Diff: "d", Edits: 1}, nil
	})
	b.runner.Config.Lease = time.Minute
	j, m := b.job(t, db.ModeLLM, 10)
	if _, err := db.ClaimJob(context.Background(), b.db.Pool, j.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.runner.GiveUp(context.Background(), m, errors.New("dead-lettered")); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.state(t, j.ID); got.State != db.JobRunning {
		t.Errorf("job run under a live lease was %s by a give-up", got.State)
	}
	if err := db.ReleaseJobLease(context.Background(), b.db.Pool, j.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.runner.GiveUp(context.Background(), m, fault.AsRetryable(refine.ErrInterrupted)); err != nil {
		t.Fatal(err)
	}
	if got, u := b.state(t, j.ID); got.State != db.JobRunning || u.Held != 10 || len(b.tg.Sent(chat)) != 0 {
		t.Errorf("interrupted job: %s, held %d, %d messages; want left running for the sweeper", got.State, u.Held, len(b.tg.Sent(chat)))
	}
	// A real give-up (the lease free, deliveries spent) still fails it.
	if err := b.runner.GiveUp(context.Background(), m, errors.New("dead-lettered")); err != nil {
		t.Fatal(err)
	}
	if got, u := b.state(t, j.ID); got.State != db.JobFailed || u.Held != 0 || len(b.tg.Sent(chat)) != 1 {
		t.Errorf("given-up job: %s, held %d, %d messages; want failed, 0, 1", got.State, u.Held, len(b.tg.Sent(chat)))
	}
}
