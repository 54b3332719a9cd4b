package functions

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/billing/stripetest"
	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
)

// Deps.Billing sends Checkout to STRIPE_API_URL with STRIPE_SECRET_KEY, and
// with MOCK_STRIPE_PAYMENTS never calls Stripe at all.
func TestDepsBilling(t *testing.T) {
	t.Parallel()
	for _, mock := range []bool{false, true} {
		t.Run(map[bool]string{false: "stripe", true: "mock"}[mock], func(t *testing.T) {
			t.Parallel()
			fake := stripetest.New(t)
			if mock {
				fake.ForbidRequests()
			}
			env := map[string]string{"DATABASE_URL": dbtest.URL(t), "DATABASE_EXEC_MODE": dbtest.ExecMode(), "STRIPE_SECRET_KEY": "sk_test_deps",
				"STRIPE_API_URL": fake.URL, "CREDIT_PACKS": "50:300:usd"}
			if mock {
				env["MOCK_STRIPE_PAYMENTS"] = "true"
			}
			cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.Database, config.StripeAPI)
			if err != nil {
				t.Fatal(err)
			}
			d := NewDeps(cfg, slog.New(slog.DiscardHandler))
			t.Cleanup(d.Close)
			ctx := context.Background()
			svc, err := d.Billing(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pool, _ := d.DB(ctx)
			u, _, err := db.EnsureUser(ctx, pool.Pool, db.TelegramUser{TelegramID: 5, ChatID: 5}, 0)
			if err != nil {
				t.Fatal(err)
			}
			res, err := svc.Buy(ctx, billing.BuyRequest{UserID: u.ID, ChatID: 5, UpdateID: 1, Pack: 0})
			if err != nil {
				t.Fatal(err)
			}
			if mock {
				if !res.Mock || res.Credited != 50 || len(fake.Requests()) != 0 {
					t.Errorf("mock: %+v, %d Stripe requests", res, len(fake.Requests()))
				}
				return
			}
			reqs := fake.Requests()
			if len(reqs) != 1 || reqs[0].Authorization != "Bearer sk_test_deps" || !strings.HasPrefix(res.CheckoutURL, "https://checkout.stripe.com/") {
				t.Errorf("stripe: %+v, requests %+v", res, reqs)
			}
		})
	}
}
