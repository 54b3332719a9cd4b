package bot_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/events"
)

// slowJobs is a publisher whose first publish signals started and then
// takes a while, so that a second delivery of the same update arrives while
// the first is between its commit and its reply.
type slowJobs struct {
	*jobs
	once    sync.Once
	started chan struct{}
}

func (s *slowJobs) Publish(ctx context.Context, m events.Outgoing) (string, error) {
	first := false
	s.once.Do(func() { first = true })
	if first {
		close(s.started)
		time.Sleep(300 * time.Millisecond)
	}
	return s.jobs.Publish(ctx, m)
}

// Pub/Sub can push one message to two instances at once: the second must
// neither publish the job again nor answer again while the first is still
// finishing the stored plan.
func TestConcurrentDeliveriesPublishAndAnswerOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 31
	f.say(u, "/new api")
	f.do(u, f.document(u, "a.go", "", []byte("package a\n")))
	slow := &slowJobs{jobs: f.jobs, started: make(chan struct{})}
	f.bot.Jobs = slow
	upd := f.message(u, "/refine a.go add a comment")
	before := len(f.tg.Sent(u))
	errs := make(chan error, 2)
	go func() { errs <- f.deliver(upd) }()
	<-slow.started // the first delivery committed and is publishing
	go func() { errs <- f.deliver(upd) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.tg.Sent(u)) - before; n != 1 {
		t.Errorf("%d replies to two concurrent deliveries of one update, want 1", n)
	}
	if n := f.jobs.count(); n != 1 {
		t.Errorf("the job was published %d times, want 1", n)
	}
}

// An update whose job was committed but whose publish kept failing until
// the subscription gave up: the job must not stay queued with its credits
// held for ever, and the user hears once that it failed.
func TestGiveUpReleasesAnUnpublishedJob(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 32
	data := f.unpublished(u)
	before := len(f.tg.Calls("sendMessage", "editMessageText"))
	for range 2 { // the dead-letter delivery can come twice
		if err := f.bot.GiveUp(context.Background(), events.Message{ID: "m", Data: data}, errors.New("exhausted")); err != nil {
			t.Fatal(err)
		}
	}
	var state string
	var held int64
	f.db.Pool.QueryRow(context.Background(), `SELECT state FROM refine_jobs`).Scan(&state)
	f.db.Pool.QueryRow(context.Background(), `SELECT held FROM users WHERE telegram_id = $1`, u).Scan(&held)
	if state != db.JobFailed || held != 0 {
		t.Errorf("after GiveUp: job %s, %d credits held", state, held)
	}
	if n := len(f.tg.Calls("sendMessage", "editMessageText")) - before; n != 1 {
		t.Errorf("%d messages sent or edited by GiveUp, want 1 (the Working message edited)", n)
	}
	if n := f.jobs.count(); n != 0 {
		t.Errorf("published %d", n)
	}
}

// A /setkey whose update is given up on still has its message, which holds
// the key, deleted.
func TestGiveUpDeletesAKeyMessage(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 33
	upd := f.message(u, "/setkey sk-secret-12345")
	data, _ := json.Marshal(upd)
	if err := f.bot.GiveUp(context.Background(), events.Message{ID: "m", Data: data}, errors.New("exhausted")); err != nil {
		t.Fatal(err)
	}
	if n := len(f.tg.Calls("deleteMessage")); n != 1 {
		t.Errorf("%d deleteMessage calls, want 1", n)
	}
}

// A 429 on the reply after the job was published: the redelivery answers,
// and does not publish the job a second time.
func TestReplyRetryDoesNotRepublish(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const u = 34
	f.say(u, "/new api")
	f.do(u, f.document(u, "a.go", "", []byte("package a\n")))
	upd := f.message(u, "/refine a.go add a comment")
	f.tg.Fail("sendMessage", 429, "Too Many Requests: retry after 1", 1)
	if err := f.deliver(upd); err == nil {
		t.Fatal("429 not returned")
	}
	before := len(f.tg.Sent(u))
	if err := f.deliver(upd); err != nil {
		t.Fatal(err)
	}
	if n := len(f.tg.Sent(u)) - before; n != 1 {
		t.Errorf("%d replies on the redelivery, want 1", n)
	}
	if n := f.jobs.count(); n != 1 {
		t.Errorf("the job was published %d times, want 1", n)
	}
}

// unpublished has user u refine a new file in a new project while every
// publish fails: the update's job is committed but never queued. It
// returns the update, as GiveUp receives it.
func (f *fixture) unpublished(u int64) []byte {
	f.t.Helper()
	f.say(u, "/new api")
	f.do(u, f.document(u, "a.go", "", []byte("package a\n")))
	upd := f.message(u, "/refine a.go add a comment")
	f.jobs.fail.Store(true)
	if err := f.deliver(upd); err == nil {
		f.t.Fatal("publish failure not returned")
	}
	data, _ := json.Marshal(upd)
	return data
}
