package functions

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/billing/stripetest"
	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/events/eventstest"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

// TestStripeEventsEndToEnd builds the StripeEvents function from the
// configuration, as production does, and delivers one paid session once in
// every form Google Cloud uses: one credit, one notice through the real
// Telegram client to the fake Bot API.
func TestStripeEventsEndToEnd(t *testing.T) {
	t.Parallel()
	r := newStripeRig(t, 77, "cs_test_fn", 501)
	h, pool, tg, u, ctx := r.h, r.pool, r.tg, r.user, context.Background()
	user := strconv.FormatInt(u.ID, 10)
	payload := stripetest.Event(t, "evt_fn", billing.EventCheckoutCompleted, map[string]any{
		"id": "cs_test_fn", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
		"client_reference_id": user, "metadata": map[string]string{"user_id": user, "credits": "100"},
		"amount_total": 500, "currency": "usd", "payment_intent": "pi_fn",
	})
	for i, form := range eventstest.Forms() {
		m := events.Message{ID: "m" + strconv.Itoa(i), Data: payload, DeliveryAttempt: 1,
			Attributes: map[string]string{billing.AttrEventID: "evt_fn", billing.AttrEventType: billing.EventCheckoutCompleted}}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, form.New(m))
		if w.Code/100 != 2 {
			t.Fatalf("%s: %d %s", form.Name, w.Code, w.Body.String())
		}
	}
	after, err := db.UserByID(ctx, pool.Pool, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Balance != 120 {
		t.Errorf("balance = %d, want 120", after.Balance)
	}
	sent := tg.WaitSent(t, 7700, 1, 5*time.Second)
	if len(sent) != 1 || !strings.Contains(sent[0].Text(), "100 credits added") || sent[0].Params["parse_mode"] != "HTML" {
		t.Errorf("sent %+v, want one HTML notice of 100 credits", sent)
	}
	// A GET is no delivery.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", w.Code)
	}
}

// stripeRig is the StripeEvents function built from the configuration, as
// production builds it, with a user who started a /buy of 100 credits for
// $5.00 (Checkout session session).
type stripeRig struct {
	h    http.Handler
	pool *db.DB
	tg   *telegramtest.Server
	user db.User
}

func newStripeRig(t *testing.T, telegramID int64, session string, updateID int64) stripeRig {
	t.Helper()
	tg := telegramtest.New(t)
	env := map[string]string{
		"DATABASE_URL": dbtest.URL(t), "DATABASE_EXEC_MODE": dbtest.ExecMode(), "TELEGRAM_BOT_TOKEN": tg.Token, "TELEGRAM_API_URL": tg.URL,
		"MAX_DELIVERY_ATTEMPTS": "5",
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.Database, config.TelegramAPI)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDeps(cfg, slog.New(slog.DiscardHandler))
	t.Cleanup(d.Close)
	ctx := context.Background()
	h, err := buildStripeEvents(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := d.DB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := db.EnsureUser(ctx, pool.Pool, db.TelegramUser{TelegramID: telegramID, ChatID: telegramID * 100, FirstName: "Ann"}, 20)
	if err != nil {
		t.Fatal(err)
	}
	// /buy records the payment before the user sees the Checkout link; the
	// event credits what that row says.
	if _, _, err := db.InsertPayment(ctx, pool.Pool, db.NewPayment{UserID: u.ID, Provider: db.ProviderStripe,
		CheckoutSessionID: session, Credits: 100, Amount: 500, Currency: "usd", Status: db.PaymentPending,
		SourceUpdateID: updateID}); err != nil {
		t.Fatal(err)
	}
	return stripeRig{h: h, pool: pool, tg: tg, user: u}
}
