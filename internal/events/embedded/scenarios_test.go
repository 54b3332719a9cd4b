package embedded_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/events/embedded"
	"github.com/devbot-hq/devbot/internal/fault"
)

// tWriter routes logs to t.Log.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

var scenarioSeq atomic.Int64

// harness is one scenario: a database, a consumer behind an HTTP server
// (its dead-letter handler too), and topics on a backend that push to it.
type harness struct {
	t        *testing.T
	d        *db.DB
	consumer *events.Consumer
	env      env
	pub      *events.Publisher
	topic    string
	dlq      string
	url      string

	mu         sync.Mutex
	deliveries []events.Message // every delivery the handler saw, in order
	gaveUp     []events.Message
}

// handleFunc is a scenario's handler; n counts this message id's
// deliveries from 1.
type handleFunc func(ctx context.Context, h *harness, m events.Message, n int) error

func newHarness(t *testing.T, b backend, handle handleFunc, configure func(*harness, []embedded.TopicSpec) []embedded.TopicSpec) *harness {
	t.Helper()
	h := &harness{t: t, d: dbtest.New(t)}
	if _, err := h.d.Pool.Exec(context.Background(), `CREATE TABLE effects (key text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	seq := scenarioSeq.Add(1)
	h.topic = fmt.Sprintf("jobs-%d", seq)
	h.dlq = h.topic + "-dead"
	h.consumer = &events.Consumer{
		Name: "jobs", DB: h.d, Logger: testLogger(t), Timeout: 10 * time.Second,
		Handle: func(ctx context.Context, m events.Message) error {
			h.mu.Lock()
			h.deliveries = append(h.deliveries, m)
			n := 0
			for _, d := range h.deliveries {
				if d.ID == m.ID {
					n++
				}
			}
			h.mu.Unlock()
			return handle(ctx, h, m, n)
		},
		GiveUp: func(ctx context.Context, m events.Message, cause error) error {
			if err := failJob(ctx, h.d, m, cause); err != nil {
				return err
			}
			h.mu.Lock() // recorded once committed: tests read the job next
			h.gaveUp = append(h.gaveUp, m)
			h.mu.Unlock()
			return nil
		},
	}
	mux := http.NewServeMux()
	mux.Handle("/consume", h.consumer)
	mux.Handle("/dead", h.consumer.DeadLetterHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	h.url = srv.URL
	specs := []embedded.TopicSpec{
		{Topic: h.topic, Subscription: h.topic + "-push", PushEndpoint: srv.URL + "/consume",
			DeadLetterTopic: h.dlq, MaxAttempts: 5, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
		{Topic: h.dlq, Subscription: h.dlq + "-push", PushEndpoint: srv.URL + "/dead",
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
	}
	if configure != nil {
		specs = configure(h, specs)
	}
	h.env = b.start(t, specs)
	h.pub = events.NewPublisher(context.Background(), h.env.client, h.topic)
	t.Cleanup(h.pub.Stop)
	return h
}

func (h *harness) publish(o events.Outgoing) string {
	h.t.Helper()
	id, err := h.pub.Publish(context.Background(), o)
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

func (h *harness) seen() []events.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]events.Message(nil), h.deliveries...)
}

// waitFor polls cond until it holds or the deadline passes.
func (h *harness) waitFor(what string, timeout time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %s waiting for %s; deliveries: %d", timeout, what, len(h.seen()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) effects() int {
	h.t.Helper()
	var n int
	if err := h.d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM effects`).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// effect is a handler's work: an inbox-guarded insert keyed by the
// message's "event" attribute.
func effect(ctx context.Context, h *harness, m events.Message) error {
	key := m.Attributes["event"]
	_, err := events.Inbox(ctx, h.d, "jobs", key, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO effects VALUES ($1)`, key)
		return err
	})
	return err
}

// jobMessage is a refine-jobs payload.
type jobMessage struct {
	JobID int64 `json:"job_id"`
}

func failJob(ctx context.Context, d *db.DB, m events.Message, cause error) error {
	var jm jobMessage
	if err := json.Unmarshal(m.Data, &jm); err != nil || jm.JobID == 0 {
		return nil // not a job: nothing to fail
	}
	return d.InTx(ctx, func(tx pgx.Tx) error {
		_, err := db.FailJob(ctx, tx, jm.JobID, db.JobFailure{State: db.JobFailed, Kind: "gave_up",
			Message: "Sorry, this refinement failed repeatedly; your credits were released."})
		return err
	})
}

// newJob makes a user with 100 credits and a queued job holding 10.
func newJob(t *testing.T, d *db.DB) (userID, jobID int64) {
	t.Helper()
	ctx := context.Background()
	var job db.Job
	err := d.InTx(ctx, func(tx pgx.Tx) error {
		u, _, err := db.EnsureUser(ctx, tx, db.TelegramUser{TelegramID: 4242, ChatID: 4242, FirstName: "Ada"}, 100)
		if err != nil {
			return err
		}
		p, err := db.CreateProject(ctx, tx, u.ID, "demo")
		if err != nil {
			return err
		}
		job, err = db.CreateJob(ctx, tx, db.NewJob{UserID: u.ID, ProjectID: p.ID, Path: "main.go",
			Instruction: "add a comment", Mode: db.ModeLLM, ChatID: 4242, HoldCredits: 10})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return job.UserID, job.ID
}

func attemptsOf(msgs []events.Message) []int {
	var a []int
	for _, m := range msgs {
		a = append(a, m.DeliveryAttempt)
	}
	return a
}

// The scenarios of the "done" list, run against every backend.
var scenarios = []struct {
	name string
	run  func(t *testing.T, b backend)
}{
	{"every push form handled identically", scenarioForms},
	{"retryable error redelivered then succeeds", scenarioRetry},
	{"permanent error acked once and recorded", scenarioPermanent},
	{"duplicate delivery has no second effect", scenarioDuplicate},
	{"poison message dead-lettered, job failed, credits released", scenarioPoison},
}

func scenarioForms(t *testing.T, b backend) {
	h := newHarness(t, b, func(ctx context.Context, h *harness, m events.Message, n int) error { return nil },
		func(h *harness, specs []embedded.TopicSpec) []embedded.TopicSpec {
			return append(specs, embedded.TopicSpec{Topic: h.topic, Subscription: h.topic + "-unwrapped",
				PushEndpoint: h.url + "/consume", Unwrapped: true})
		})
	// A Telegram update has a top-level "message": unwrapped, it must not be
	// taken for an envelope.
	data := `{"update_id":42,"message":{"message_id":7,"chat":{"id":99},"text":"/start"}}`
	id := h.publish(events.Outgoing{Data: []byte(data), OrderingKey: "chat-99",
		Attributes: map[string]string{"kind": "telegram-update", "chat": "99"}})
	h.waitFor("both subscriptions' pushes", 20*time.Second, func() bool { return len(h.seen()) >= 2 })
	got := h.seen()
	for _, m := range got {
		if m.ID != id || string(m.Data) != data || m.Attributes["kind"] != "telegram-update" ||
			m.Attributes["chat"] != "99" || len(m.Attributes) != 2 {
			t.Errorf("delivery %+v (data %s), want id %s and the published data and attributes", m, m.Data, id)
		}
		if m.PublishTime.IsZero() || time.Since(m.PublishTime) > time.Minute {
			t.Errorf("publish time %v", m.PublishTime)
		}
	}
	if !got[0].PublishTime.Truncate(time.Millisecond).Equal(got[1].PublishTime.Truncate(time.Millisecond)) {
		t.Errorf("publish times differ between forms: %v vs %v", got[0].PublishTime, got[1].PublishTime)
	}
	if got[0].OrderingKey != got[1].OrderingKey {
		t.Logf("ordering keys differ between forms: %q vs %q", got[0].OrderingKey, got[1].OrderingKey)
		if b.sendsAttempts() { // the embedded server sends both
			t.Errorf("ordering keys differ between forms: %q vs %q", got[0].OrderingKey, got[1].OrderingKey)
		}
	}
	subs := map[string]bool{}
	for _, m := range got {
		subs[m.Subscription] = true
	}
	if !subs["projects/devbot-test/subscriptions/"+h.topic+"-push"] || !subs["projects/devbot-test/subscriptions/"+h.topic+"-unwrapped"] {
		t.Errorf("subscriptions named: %v", subs)
	}
}

func scenarioRetry(t *testing.T, b backend) {
	h := newHarness(t, b, func(ctx context.Context, h *harness, m events.Message, n int) error {
		if n < 3 {
			return fault.Retryablef("storage answered 503 (delivery %d)", n)
		}
		return effect(ctx, h, m)
	}, nil)
	h.publish(events.Outgoing{Data: []byte(`{"job_id":0}`), Attributes: map[string]string{"event": "evt-retry"}})
	h.waitFor("the effect", 30*time.Second, func() bool { return h.effects() == 1 })
	time.Sleep(300 * time.Millisecond) // nothing more may come
	got := h.seen()
	if len(got) != 3 {
		t.Errorf("%d deliveries, want 3", len(got))
	}
	if b.sendsAttempts() {
		if a := attemptsOf(got); fmt.Sprint(a) != "[1 2 3]" {
			t.Errorf("delivery attempts %v, want [1 2 3]", a)
		}
	}
	if n := h.effects(); n != 1 {
		t.Errorf("%d effects, want 1", n)
	}
}

func scenarioPermanent(t *testing.T, b backend) {
	h := newHarness(t, b, func(ctx context.Context, h *harness, m events.Message, n int) error {
		return fault.Permanentf("unknown command %q", "/frobnicate")
	}, nil)
	id := h.publish(events.Outgoing{Data: []byte(`{}`)})
	h.waitFor("the delivery", 20*time.Second, func() bool { return len(h.seen()) == 1 })
	time.Sleep(1500 * time.Millisecond) // a nack would have come back by now
	if n := len(h.seen()); n != 1 {
		t.Errorf("%d deliveries, want 1 (acked once)", n)
	}
	p, found, err := db.LookupProcessed(context.Background(), h.d.Pool, "jobs", events.MessageKey(id))
	if err != nil || !found || p.Outcome != db.OutcomeRejected || !strings.Contains(p.Detail, "/frobnicate") {
		t.Errorf("inbox %+v %v %v, want the rejection recorded", p, found, err)
	}
	if dl := h.env.deadLetters(t, h.dlq); len(dl) != 0 {
		t.Errorf("%d dead letters, want none", len(dl))
	}
}

func scenarioDuplicate(t *testing.T, b backend) {
	h := newHarness(t, b, func(ctx context.Context, h *harness, m events.Message, n int) error {
		return effect(ctx, h, m)
	}, nil)
	// The webhook published the same Stripe event twice (Stripe retried).
	for range 2 {
		h.publish(events.Outgoing{Data: []byte(`{}`), Attributes: map[string]string{"event": "evt_dup"}})
	}
	h.waitFor("both deliveries", 20*time.Second, func() bool { return len(h.seen()) == 2 })
	time.Sleep(300 * time.Millisecond)
	if n := h.effects(); n != 1 {
		t.Errorf("%d effects, want 1", n)
	}
	if n := len(h.seen()); n != 2 {
		t.Errorf("%d deliveries, want 2 (each acked once)", n)
	}
}

// A poison message: the handler panics on every delivery and the consumer
// does not know the attempt (as with the emulator), so only the
// dead-letter policy ends the loop; the dead-letter topic's push to
// DeadLetterHandler fails the job and releases its credits.
func scenarioPoison(t *testing.T, b backend) {
	h := newHarness(t, b, func(ctx context.Context, h *harness, m events.Message, n int) error {
		panic("poison: cannot parse the job")
	}, nil)
	h.consumer.MaxAttempts = 0 // never give up here: rely on the dead-letter topic
	userID, jobID := newJob(t, h.d)
	data := fmt.Sprintf(`{"job_id":%d}`, jobID)
	h.publish(events.Outgoing{Data: []byte(data), OrderingKey: "demo/main.go"})
	var dl []events.Message
	h.waitFor("the dead letter", 60*time.Second, func() bool {
		dl = h.env.deadLetters(t, h.dlq)
		return len(dl) > 0
	})
	h.waitFor("the give-up", 20*time.Second, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.gaveUp) > 0
	})
	if n := len(h.seen()); n != 5 {
		t.Errorf("%d deliveries before dead-lettering, want 5", n)
	}
	if len(dl) != 1 || string(dl[0].Data) != data {
		t.Fatalf("dead letters %+v, want the job message", dl)
	}
	if got := dl[0].Attributes["CloudPubSubDeadLetterSourceDeliveryCount"]; got != "5" {
		t.Errorf("CloudPubSubDeadLetterSourceDeliveryCount = %q, want 5", got)
	}
	ctx := context.Background()
	job, err := db.GetJob(ctx, h.d.Pool, jobID)
	if err != nil {
		t.Fatal(err)
	}
	if job.State != db.JobFailed || job.ErrorKind == nil || *job.ErrorKind != "gave_up" {
		t.Errorf("job state %s (%v), want failed/gave_up", job.State, job.ErrorKind)
	}
	u, err := db.UserByID(ctx, h.d.Pool, userID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Held != 0 || u.Balance != 100 {
		t.Errorf("balance %d held %d, want 100 and 0 (the hold released, nothing charged)", u.Balance, u.Held)
	}
}

// Embedded-only: the consumer knows the attempt and gives up on the last
// one, failing the job and acking, so nothing reaches the dead-letter topic.
func TestGiveUpOnLastAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, embeddedBackend{}, func(ctx context.Context, h *harness, m events.Message, n int) error {
		return fault.Retryablef("the model keeps timing out")
	}, nil)
	h.consumer.MaxAttempts = 5
	userID, jobID := newJob(t, h.d)
	h.publish(events.Outgoing{Data: []byte(fmt.Sprintf(`{"job_id":%d}`, jobID))})
	h.waitFor("the give-up", 20*time.Second, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.gaveUp) > 0
	})
	time.Sleep(500 * time.Millisecond)
	if a := attemptsOf(h.seen()); fmt.Sprint(a) != "[1 2 3 4 5]" {
		t.Errorf("delivery attempts %v, want [1 2 3 4 5]", a)
	}
	if dl := h.env.deadLetters(t, h.dlq); len(dl) != 0 {
		t.Errorf("%d dead letters, want none: the consumer gave up and acked", len(dl))
	}
	job, _ := db.GetJob(context.Background(), h.d.Pool, jobID)
	u, _ := db.UserByID(context.Background(), h.d.Pool, userID)
	if job.State != db.JobFailed || u.Held != 0 || u.Balance != 100 {
		t.Errorf("job %s, balance %d held %d; want failed, 100, 0", job.State, u.Balance, u.Held)
	}
}

// Embedded-only: messages with one ordering key arrive in publish order,
// and none overtakes one that is being retried.
func TestOrderingPerKey(t *testing.T) {
	t.Parallel()
	const n = 12
	h := newHarness(t, embeddedBackend{}, func(ctx context.Context, h *harness, m events.Message, deliveries int) error {
		if string(m.Data) == "3" && deliveries < 3 {
			return fault.Retryablef("not yet")
		}
		return nil
	}, func(h *harness, specs []embedded.TopicSpec) []embedded.TopicSpec {
		specs[0].Ordering = true
		return specs
	})
	for i := range n {
		// Not waiting between publishes: the client batches them in order.
		h.pub.Publish(context.Background(), events.Outgoing{Data: []byte(strconv.Itoa(i)), OrderingKey: "k"})
	}
	h.waitFor("every message", 20*time.Second, func() bool { return len(h.seen()) >= n+2 })
	time.Sleep(200 * time.Millisecond)
	var order []string
	for _, m := range h.seen() {
		order = append(order, string(m.Data))
	}
	if got, want := strings.Join(order, ","), "0,1,2,3,3,3,4,5,6,7,8,9,10,11"; got != want {
		t.Errorf("delivery order %s, want %s", got, want)
	}
}

func TestEmbedded(t *testing.T) {
	t.Parallel()
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			s.run(t, embeddedBackend{})
		})
	}
}

// TestEmulator runs the same scenarios against the Google Cloud Pub/Sub
// emulator with real push subscriptions. It fails when the emulator is not
// installed.
func TestEmulator(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts the Pub/Sub emulator (Java)")
	}
	b := startEmulator(t)
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			s.run(t, b)
		})
	}
}
