package billing_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/billing/stripetest"
	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/fault"
)

const (
	testKey       = "sk_test_devbot"
	webhookSecret = "whsec_test_secret_for_devbot"
	welcome       = 20
)

var testPacks = []config.CreditPack{{Credits: 100, Amount: 500, Currency: "usd"}, {Credits: 500, Amount: 2000, Currency: "eur"}}

// note is one message the recorder was asked to send.
type note struct {
	ChatID int64
	HTML   string
}

// recorder is the notifier of tests: it records notices and can fail.
type recorder struct {
	mu    sync.Mutex
	notes []note
	fail  []error // returned, in order, before notices succeed again
}

func (r *recorder) Notify(ctx context.Context, chatID int64, html string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.fail) > 0 {
		err := r.fail[0]
		r.fail = r.fail[1:]
		return err
	}
	r.notes = append(r.notes, note{chatID, html})
	return nil
}

func (r *recorder) failNext(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = append(r.fail, err)
}

func (r *recorder) sent() []note {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]note(nil), r.notes...)
}

type fixture struct {
	db     *db.DB
	svc    *billing.Service
	notes  *recorder
	stripe *stripetest.Server
	user   db.User
}

type options struct {
	mock bool
	// log, when set, also receives the service's log lines.
	log io.Writer
}

// tlog routes the service's logs to the test log.
type tlog struct{ t testing.TB }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func setup(t *testing.T, opts ...options) fixture {
	t.Helper()
	var o options
	if len(opts) > 0 {
		o = opts[0]
	}
	d := dbtest.New(t)
	fake := stripetest.New(t)
	notes := &recorder{}
	var out io.Writer = tlog{t}
	if o.log != nil {
		out = io.MultiWriter(out, o.log)
	}
	svc, err := billing.New(billing.Config{
		Packs: testPacks, SuccessURL: "https://t.me/devbot_test_bot?start=paid", CancelURL: "https://t.me/devbot_test_bot",
		Mock: o.mock, Logger: slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, d, fake.Client(testKey), notes)
	if err != nil {
		t.Fatal(err)
	}
	if o.mock {
		fake.ForbidRequests()
	}
	u := newUser(t, d, 1001)
	return fixture{db: d, svc: svc, notes: notes, stripe: fake, user: u}
}

func newUser(t *testing.T, d *db.DB, telegramID int64) db.User {
	t.Helper()
	u, _, err := db.EnsureUser(context.Background(), d.Pool, db.TelegramUser{
		TelegramID: telegramID, ChatID: telegramID + 5000, FirstName: "Ann"}, welcome)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (f fixture) balance(t *testing.T, userID int64) db.User {
	t.Helper()
	u, err := db.UserByID(context.Background(), f.db.Pool, userID)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (f fixture) ledger(t *testing.T, userID int64) []db.LedgerEntry {
	t.Helper()
	es, err := db.RecentLedger(context.Background(), f.db.Pool, userID, 100)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// buy runs /buy through the fake Stripe and returns the session it created.
func (f fixture) buy(t *testing.T, updateID int64, pack int) stripetest.Session {
	t.Helper()
	res, err := f.svc.Buy(context.Background(), billing.BuyRequest{UserID: f.user.ID, ChatID: f.user.ChatID, UpdateID: updateID, Pack: pack})
	if err != nil {
		t.Fatal(err)
	}
	id := res.CheckoutURL[strings.LastIndex(res.CheckoutURL, "/")+1:]
	cs, ok := f.stripe.Session(id)
	if !ok {
		t.Fatalf("Buy returned %q, which the fake did not create", res.CheckoutURL)
	}
	return cs
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var errTelegramDown = fault.AsRetryable(errors.New("telegram: 502 bad gateway"))
