package refine_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/llm"
	"github.com/devbot-hq/devbot/internal/refine"
	"github.com/devbot-hq/devbot/internal/reply"
	"github.com/devbot-hq/devbot/internal/telegram"
)

// slowSender signals its first send and then takes a while, so that a
// second delivery of the same job reaches Reply meanwhile.
type slowSender struct {
	reply.Sender
	once    sync.Once
	started chan struct{}
}

func (s *slowSender) SendMessage(ctx context.Context, m telegram.SendMessage) (telegram.Message, error) {
	first := false
	s.once.Do(func() { first = true })
	if first {
		close(s.started)
		time.Sleep(300 * time.Millisecond)
	}
	return s.Sender.SendMessage(ctx, m)
}

// Two instances pushed the same job message: the outcome is told once.
func TestConcurrentDeliveriesReplyOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		return refine.EditOutcome{Content: []byte("package b\n"), Diff: "d", Edits: 1}, nil
	})
	slow := &slowSender{Sender: b.runner.Telegram, started: make(chan struct{})}
	b.runner.Telegram = slow
	j, m := b.job(t, db.ModeLLM, 10)
	errs := make(chan error, 2)
	go func() { errs <- b.runner.Handle(context.Background(), m) }()
	<-slow.started // the first delivery finished the job and is replying
	go func() { errs <- b.runner.Handle(context.Background(), m) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := len(b.tg.Sent(chat)); n != 1 {
		t.Errorf("%d replies to two deliveries of job %d, want 1", n, j.ID)
	}
}

// failingFiles makes GetBlob fail with err.
type failingFiles struct {
	refine.Files
	err error
}

func (f failingFiles) GetBlob(ctx context.Context, bucket, key string) ([]byte, error) {
	return nil, f.err
}

// A permanent error outside the editor (a blob gone from storage, storage
// refusing our key) is acknowledged by the transport: the job must not stay
// running with its credits held for ever.
func TestPermanentRunErrorFailsTheJob(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		fault.AsPermanent(fmt.Errorf("storage: %w: object not found", fault.ErrNotFound)),
		fault.AsPermanent(fmt.Errorf("storage: %w: 403", fault.ErrUnauthorized)),
	} {
		t.Run(err.Error(), func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
				return refine.EditOutcome{Content: []byte("package b\n"), Diff: "d"}, nil
			})
			b.runner.Files = failingFiles{Files: b.files, err: err}
			j, m := b.job(t, db.ModeLLM, 10)
			herr := b.runner.Handle(context.Background(), m)
			if herr != nil && !fault.IsPermanent(herr) {
				t.Fatalf("Handle = %v, want nil or permanent (acked)", herr)
			}
			got, u := b.state(t, j.ID)
			if got.State != db.JobFailed || u.Held != 0 || u.Balance != 20 || got.ReplySentAt == nil {
				t.Errorf("after a permanent error: job %s, balance %d held %d, replied %v", got.State, u.Balance, u.Held, got.ReplySentAt != nil)
			}
			expectText(t, b.tg.Sent(chat), "Nothing was changed or charged")
		})
	}
}

// logBuffer collects log output across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// The editor's report quotes the file (the nearest lines to a SEARCH that
// failed) and the model's reply: users' file contents, which must not reach
// the logs.
func TestRefusedEditsKeepFileContentsOutOfLogs(t *testing.T) {
	t.Parallel()
	const secret = "const apiToken = \"hunter2-in-users-file\""
	for _, err := range []error{
		fault.AsPermanent(&refine.NoValidEditError{Reasons: []string{"no match"}, Report: "nearest lines:\n" + secret}),
		fault.AsPermanent(fmt.Errorf("%w: block 1: nearest lines:\n%s", fault.ErrInvalid, secret)),
	} {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
				return refine.EditOutcome{}, err
			})
			var logs logBuffer
			b.runner.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			_, m := b.job(t, db.ModeLLM, 10)
			if err := b.runner.Handle(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(logs.String(), "hunter2") {
				t.Errorf("the logs quote the user's file:\n%s", logs.String())
			}
			if !strings.Contains(logs.String(), "refinement failed") {
				t.Errorf("the failure is not logged at all:\n%s", logs.String())
			}
		})
	}
}

// Two instances pushed the same job message while the model works: the
// model is called once; the second delivery is asked to come back later,
// and then finds the job finished.
func TestConcurrentDeliveriesCallTheModelOnce(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	n := 0
	var mu sync.Mutex
	b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first {
			close(started)
			<-release
		}
		return refine.EditOutcome{Content: []byte("package b\n"), Diff: "d", Edits: 1}, nil
	})
	b.runner.Config.Lease = time.Minute
	j, m := b.job(t, db.ModeLLM, 10)
	first := make(chan error, 1)
	go func() { first <- b.runner.Handle(context.Background(), m) }()
	<-started
	err := b.runner.Handle(context.Background(), m)
	if !errors.Is(err, db.ErrJobBusy) || !fault.IsRetryable(err) {
		t.Fatalf("second delivery while the first runs: err = %v, want a retryable ErrJobBusy", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// The redelivery of the second finds the job done and does nothing more.
	if err := b.runner.Handle(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 1 {
		t.Errorf("the model was called %d times for one job, want 1", n)
	}
	got, u := b.state(t, j.ID)
	if got.State != db.JobSucceeded || got.ChargedCredits != 1 || u.Balance != 19 || len(b.tg.Sent(chat)) != 1 {
		t.Errorf("job %s charged %d, balance %d, %d replies; want succeeded, 1, 19, 1", got.State, got.ChargedCredits, u.Balance, len(b.tg.Sent(chat)))
	}
}

// A retryable failure hands the job back at once: the redelivery does not
// wait for the lease to run out.
func TestRetryableFailureReleasesTheLease(t *testing.T) {
	t.Parallel()
	tries := 0
	b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		tries++
		if tries == 1 {
			return refine.EditOutcome{}, fault.RetryAfter(errors.New("429 from the model"), time.Second)
		}
		return refine.EditOutcome{Content: []byte("package b\n"), Diff: "d", Edits: 1}, nil
	})
	b.runner.Config.Lease = time.Hour
	j, m := b.job(t, db.ModeLLM, 10)
	if err := b.runner.Handle(context.Background(), m); !fault.IsRetryable(err) || errors.Is(err, db.ErrJobBusy) {
		t.Fatalf("first delivery: err = %v, want the model's retryable error", err)
	}
	if err := b.runner.Handle(context.Background(), m); err != nil {
		t.Fatalf("redelivery: %v (the lease was not released)", err)
	}
	if got, _ := b.state(t, j.ID); got.State != db.JobSucceeded || got.Attempts != 2 {
		t.Errorf("job %s after %d attempts, want succeeded after 2", got.State, got.Attempts)
	}
}

// With no model key anywhere, the job is rejected in plain words, uncharged.
func TestNoModelKeyIsExplained(t *testing.T) {
	t.Parallel()
	b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		return refine.EditOutcome{}, fault.AsPermanent(fmt.Errorf("%w: %w", fault.ErrUnauthorized, llm.ErrNoKey))
	})
	j, m := b.job(t, db.ModeLLM, 10)
	if err := b.runner.Handle(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got, u := b.state(t, j.ID)
	sent := b.tg.Sent(chat)
	if got.State != db.JobRejected || u.Balance != 20 || u.Held != 0 || len(sent) != 1 ||
		!strings.Contains(sent[0].Text(), "No model is set up for this bot") {
		t.Errorf("job %s, balance %d held %d, replies %d (%q)", got.State, u.Balance, u.Held, len(sent), sent)
	}
}
