package functions

import (
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/billing/stripetest"
	"github.com/devbot-hq/devbot/internal/llm/llmtest"
)

// /buy through the bot, from the webhook on: in mock mode a pack button
// credits at once; with Stripe (the fake) it answers with a Pay button whose
// Checkout Session was created under the update's idempotency key. A
// redelivered tap buys nothing more and is not answered twice.
func TestTelegramEndToEndBuy(t *testing.T) {
	t.Parallel()
	for _, mock := range []bool{true, false} {
		t.Run(map[bool]string{true: "mock", false: "stripe"}[mock], func(t *testing.T) {
			t.Parallel()
			fake := stripetest.New(t)
			extra := map[string]string{"CREDIT_PACKS": "100:500:usd,500:2000:usd"}
			if mock {
				fake.ForbidRequests()
			} else {
				extra["MOCK_STRIPE_PAYMENTS"] = "false"
				extra["STRIPE_SECRET_KEY"] = "sk_test_e2e"
				extra["STRIPE_API_URL"] = fake.URL
			}
			w := newTGWorld(t, "local", llmtest.New(t).URL, extra)
			w.want(w.post(w.msg("/start"), 1), "You have 20 free credits.")

			w.want(w.post(w.msg("/buy"), 1), "Pick a credit pack.")
			offer := w.tg.Sent(ann)[len(w.tg.Sent(ann))-1].Params["reply_markup"]
			if !strings.Contains(offer, `"callback_data":"buy:0"`) || !strings.Contains(offer, `"callback_data":"buy:1"`) ||
				!strings.Contains(offer, "100 credits · $5.00") {
				t.Errorf("/buy buttons = %s", offer)
			}

			tap := w.tap("buy:0")
			got := w.post(tap, 1)
			if cb := w.tg.Calls("answerCallbackQuery"); len(cb) != 1 {
				t.Errorf("%d callback answers, want 1", len(cb))
			}
			var userID, balance, mockEntries, payments int64
			w.scan(`SELECT id, balance, (SELECT count(*) FROM credit_ledger WHERE mock AND amount = 100), (SELECT count(*) FROM payments) FROM users`,
				&userID, &balance, &mockEntries, &payments)
			if mock {
				w.want(got, "✅ 100 credits added (test mode: no money moved). Balance: 120 credits.")
				if balance != 120 || mockEntries != 1 || payments != 1 {
					t.Errorf("balance %d, %d mock ledger entries, %d payments; want 120, 1, 1", balance, mockEntries, payments)
				}
				w.want(w.post(w.msg("/balance"), 1), "120 credits")
			} else {
				w.want(got, "100 credits for $5.00. Pay on Stripe's page")
				kb := w.tg.Sent(ann)[len(w.tg.Sent(ann))-1].Params["reply_markup"]
				if !strings.Contains(kb, `"text":"Pay $5.00"`) || !strings.Contains(kb, `"url":"https://checkout.stripe.com/`) {
					t.Errorf("pay button = %s", kb)
				}
				reqs := fake.Requests()
				key := billing.IdempotencyKey(billing.BuyRequest{UserID: userID, ChatID: ann, UpdateID: tap["update_id"].(int64), Pack: 0})
				if len(reqs) != 1 || reqs[0].Path != "/v1/checkout/sessions" || reqs[0].IdempotencyKey != key {
					t.Errorf("Stripe requests = %+v, want one Checkout Session under %q", reqs, key)
				}
				if balance != 20 || mockEntries != 0 || fake.Sessions() != 1 {
					t.Errorf("balance %d, %d mock entries, %d sessions; want 20, 0, 1", balance, mockEntries, fake.Sessions())
				}
			}

			// Telegram delivers the same tap again: no second purchase, no
			// second answer.
			before := len(w.tg.Sent(ann))
			if err := w.send(tap); err != nil {
				t.Fatal(err)
			}
			w.want(w.post(w.msg("/help"), 1), "What I can do") // ordered after the redelivery
			if n := len(w.tg.Sent(ann)) - before; n != 1 {
				t.Errorf("%d replies after a redelivered tap and /help, want 1", n)
			}
			time.Sleep(100 * time.Millisecond)
			w.scan(`SELECT balance, (SELECT count(*) FROM credit_ledger WHERE mock), (SELECT count(*) FROM payments) FROM users`,
				&balance, &mockEntries, &payments)
			if mock && (balance != 120 || mockEntries != 1 || payments != 1) {
				t.Errorf("after a redelivered tap: balance %d, %d mock entries, %d payments", balance, mockEntries, payments)
			}
			if !mock && (fake.Sessions() != 1 || payments != 1 || len(fake.Requests()) != 1) {
				t.Errorf("after a redelivered tap: %d sessions, %d payments, %d Stripe requests", fake.Sessions(), payments, len(fake.Requests()))
			}
		})
	}
}
