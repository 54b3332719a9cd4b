package functions

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/billing/stripetest"
	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/events/embedded"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

// outage takes a test database away from every client and brings it back:
// connections are refused (not accepting connections) and the open ones are
// terminated, as when the server restarts or Supabase is down.
type outage struct {
	t    *testing.T
	name string
}

func newOutage(t *testing.T, dbURL string) *outage {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	o := &outage{t: t, name: strings.TrimPrefix(u.Path, "/")}
	t.Cleanup(func() { o.set(true) }) // so that the cleanup can drop it
	return o
}

func (o *outage) set(up bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbtest.AdminURL())
	if err != nil {
		o.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s WITH ALLOW_CONNECTIONS %t", pgx.Identifier{o.name}.Sanitize(), up)); err != nil {
		o.t.Fatal(err)
	}
	if !up {
		if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, o.name); err != nil {
			o.t.Fatal(err)
		}
	}
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s; state: %s", timeout, what, state())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPaidEventSurvivesADatabaseOutage runs StripeEvents behind the
// embedded Pub/Sub with the production topology (a push subscription with
// a dead-letter policy of 5 attempts, the dead-letter topic pushed to
// /dead-letter, and a pull copy kept for the sweeper and devbot replay)
// while the database is down for longer than every attempt: the paid event
// must not be acknowledged until it is credited, it must reach dead-letter
// handling, and once the database is back it is credited exactly once with
// one notice; later duplicates (a replay, the sweeper reading the pull
// copy) credit nothing.
func TestPaidEventSurvivesADatabaseOutage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tg := telegramtest.New(t)
	dbURL := dbtest.URL(t)
	env := map[string]string{
		"DATABASE_URL": dbURL, "DATABASE_EXEC_MODE": dbtest.ExecMode(), "TELEGRAM_BOT_TOKEN": tg.Token, "TELEGRAM_API_URL": tg.URL,
		"MAX_DELIVERY_ATTEMPTS": "5", "HANDLER_TIMEOUT": "5s",
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.Database, config.TelegramAPI)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDeps(cfg, slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})))
	t.Cleanup(d.Close)
	h, err := buildStripeEvents(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := d.DB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := db.EnsureUser(ctx, pool.Pool, db.TelegramUser{TelegramID: 78, ChatID: 7800, FirstName: "Ann"}, 20)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.InsertPayment(ctx, pool.Pool, db.NewPayment{UserID: u.ID, Provider: db.ProviderStripe,
		CheckoutSessionID: "cs_test_outage", Credits: 100, Amount: 500, Currency: "usd", Status: db.PaymentPending,
		SourceUpdateID: 502}); err != nil {
		t.Fatal(err)
	}
	user := strconv.FormatInt(u.ID, 10)
	payload := stripetest.Event(t, "evt_outage", billing.EventCheckoutCompleted, map[string]any{
		"id": "cs_test_outage", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
		"client_reference_id": user, "metadata": map[string]string{"user_id": user, "credits": "100"},
		"amount_total": 500, "currency": "usd", "payment_intent": "pi_outage",
	})

	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	const topic, deadTopic = "stripe-events", "stripe-events-dead-letter"
	const sub, deadSub = topic + "-push", deadTopic + "-push"
	ps, err := embedded.Start(ctx, embedded.Config{Topics: []embedded.TopicSpec{
		{Topic: topic, Subscription: sub, PushEndpoint: hs.URL + "/", DeadLetterTopic: deadTopic, MaxAttempts: 5,
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
		{Topic: deadTopic, Subscription: deadSub, PushEndpoint: hs.URL + DeadLetterPath,
			MinBackoff: 100 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	pub := events.NewPublisher(ctx, ps.Client, topic)
	t.Cleanup(pub.Stop)
	publish := func() {
		t.Helper()
		if _, err := pub.Publish(ctx, events.Outgoing{Data: payload, Attributes: map[string]string{
			billing.AttrEventID: "evt_outage", billing.AttrEventType: billing.EventCheckoutCompleted}}); err != nil {
			t.Fatal(err)
		}
	}
	stats := func() string {
		return fmt.Sprintf("%s %+v, %s %+v", sub, ps.Stats(sub), deadSub, ps.Stats(deadSub))
	}

	down := newOutage(t, dbURL)
	down.set(false)
	publish()
	// Every attempt fails; the last one must not acknowledge: the message
	// goes to the dead-letter topic, whose push is refused while the
	// database is still down.
	waitFor(t, "the paid event never reached the dead-letter topic", 30*time.Second,
		func() bool { return ps.Stats(sub).DeadLettered == 1 || ps.Stats(sub).Acked > 0 }, stats)
	if s := ps.Stats(sub); s.Acked != 0 || s.DeadLettered != 1 {
		t.Fatalf("with the database down the event was acknowledged, not dead-lettered: %s", stats())
	}
	waitFor(t, "dead-letter handling was not retried while the database was down", 30*time.Second,
		func() bool { return ps.Stats(deadSub).Nacked >= 2 || ps.Stats(deadSub).Acked > 0 }, stats)
	if s := ps.Stats(deadSub); s.Acked != 0 {
		t.Fatalf("dead-letter handling acknowledged the event while the database was down: %s", stats())
	}

	down.set(true)
	waitFor(t, "the dead-lettered event was not applied once the database was back", 30*time.Second,
		func() bool { return ps.Stats(deadSub).Acked == 1 }, stats)
	balance := func() int64 {
		t.Helper()
		after, err := db.UserByID(ctx, pool.Pool, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return after.Balance
	}
	if b := balance(); b != 120 {
		t.Errorf("balance after the outage = %d, want 120", b)
	}
	tg.WaitSent(t, 7800, 1, 5*time.Second)

	// Duplicates: a replay through the topic, and the sweeper applying the
	// copy the dead-letter pull subscription keeps.
	publish()
	waitFor(t, "the replayed duplicate was not acknowledged", 30*time.Second,
		func() bool { return ps.Stats(sub).Acked == 1 }, stats)
	copies, err := ps.DeadLetters(ctx, deadTopic)
	if err != nil || len(copies) != 1 {
		t.Fatalf("dead-letter copies = %d, %v; want the one", len(copies), err)
	}
	svc, err := d.Billing(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.HandleDeadLettered(ctx, copies[0].Data); err != nil {
		t.Errorf("the sweeper's re-application of the copy: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // room for a second notice, if one were coming
	if b := balance(); b != 120 {
		t.Errorf("balance after the duplicates = %d, want 120 (credited once)", b)
	}
	var entries int
	if err := pool.Pool.QueryRow(ctx, `SELECT count(*) FROM credit_ledger WHERE cause = 'payment:cs_test_outage'`).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	sent := tg.Sent(7800)
	if entries != 1 || len(sent) != 1 || !strings.Contains(sent[0].Text(), "100 credits added") {
		t.Errorf("%d ledger entries and notices %d, want 1 credit and 1 notice of 100 credits", entries, len(sent))
	}
}

// tlogWriter routes log lines to the test log.
type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
