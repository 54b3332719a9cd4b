package billing_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/billing/stripetest"
	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
)

func TestBuyCreatesACheckoutSession(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := ctxT(t)
	req := billing.BuyRequest{UserID: f.user.ID, ChatID: f.user.ChatID, UpdateID: 9001, Pack: 1}
	res, err := f.svc.Buy(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mock || res.Credited != 0 || !strings.HasPrefix(res.CheckoutURL, "https://checkout.stripe.com/") {
		t.Errorf("result %+v, want a Checkout URL and no credit", res)
	}
	reqs := f.stripe.Requests()
	if len(reqs) != 1 {
		t.Fatalf("Stripe got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	user := strconv.FormatInt(f.user.ID, 10)
	want := map[string]string{
		"mode":                                   "payment",
		"client_reference_id":                    user,
		"metadata[user_id]":                      user,
		"metadata[credits]":                      "500",
		"success_url":                            "https://t.me/devbot_test_bot?start=paid",
		"cancel_url":                             "https://t.me/devbot_test_bot",
		"line_items[0][quantity]":                "1",
		"line_items[0][price_data][currency]":    "eur",
		"line_items[0][price_data][unit_amount]": "2000",
		"line_items[0][price_data][product_data][name]": "500 devbot credits",
		"payment_intent_data[metadata][user_id]":        user,
		"metadata[telegram_update_id]":                  "9001",
	}
	for k, v := range want {
		if got := r.Form.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if r.Method != http.MethodPost || r.Path != "/v1/checkout/sessions" || r.Authorization != "Bearer "+testKey {
		t.Errorf("request %s %s auth %q", r.Method, r.Path, r.Authorization)
	}
	if r.IdempotencyKey != billing.IdempotencyKey(req) || r.IdempotencyKey == "" {
		t.Errorf("Idempotency-Key = %q, want %q", r.IdempotencyKey, billing.IdempotencyKey(req))
	}
	var status string
	var credits int64
	if err := f.db.Pool.QueryRow(ctx, `SELECT status, credits FROM payments WHERE source_update_id = 9001`).Scan(&status, &credits); err != nil {
		t.Fatal(err)
	}
	if status != db.PaymentPending || credits != 500 {
		t.Errorf("payment recorded as %s for %d credits, want pending for 500", status, credits)
	}
	text, buttons := billing.BuyReply(res)
	if !strings.Contains(text, "500 credits for €20.00") || len(buttons) != 1 || buttons[0][0].URL != res.CheckoutURL {
		t.Errorf("reply %q %+v", text, buttons)
	}
}

func TestRedeliveredUpdateGetsTheSameSession(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := ctxT(t)
	req := billing.BuyRequest{UserID: f.user.ID, ChatID: f.user.ChatID, UpdateID: 9002, Pack: 0}
	first, err := f.svc.Buy(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.svc.Buy(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if first.CheckoutURL != again.CheckoutURL || f.stripe.Sessions() != 1 {
		t.Errorf("URLs %q and %q, %d sessions: want one session", first.CheckoutURL, again.CheckoutURL, f.stripe.Sessions())
	}
	reqs := f.stripe.Requests()
	if len(reqs) != 2 || reqs[0].IdempotencyKey != reqs[1].IdempotencyKey {
		t.Errorf("requests %+v, want two with one key", reqs)
	}
	// Another update is another purchase.
	other, err := f.svc.Buy(ctx, billing.BuyRequest{UserID: f.user.ID, ChatID: f.user.ChatID, UpdateID: 9003, Pack: 0})
	if err != nil {
		t.Fatal(err)
	}
	if other.CheckoutURL == first.CheckoutURL {
		t.Error("a new update reused the old session")
	}
	var n int
	if err := f.db.Pool.QueryRow(ctx, `SELECT count(*) FROM payments WHERE user_id = $1`, f.user.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d payments recorded, want 2", n)
	}
}

func TestBuyClassifiesStripeErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status    int
		errType   string
		retryable bool
		sentinel  error
	}{
		{500, "api_error", true, fault.ErrUnavailable},
		{409, "idempotency_error", true, fault.ErrUnavailable},
		{429, "rate_limit_error", true, fault.ErrRateLimited},
		{400, "invalid_request_error", false, fault.ErrInvalid},
		{401, "invalid_request_error", false, fault.ErrUnauthorized},
	}
	f := setup(t)
	for i, tc := range cases {
		f.stripe.FailNext(tc.status, tc.errType, "injected")
		_, err := f.svc.Buy(ctxT(t), billing.BuyRequest{UserID: f.user.ID, UpdateID: int64(9100 + i), Pack: 0})
		if err == nil || fault.IsRetryable(err) != tc.retryable || !errors.Is(err, tc.sentinel) {
			t.Errorf("%d %s: err = %v, want retryable=%v and %v", tc.status, tc.errType, err, tc.retryable, tc.sentinel)
		}
		if err != nil && strings.Contains(err.Error(), testKey) {
			t.Errorf("error prints the key: %v", err)
		}
	}
	if _, err := f.svc.Buy(ctxT(t), billing.BuyRequest{UserID: f.user.ID, UpdateID: 9200, Pack: 7}); !errors.Is(err, fault.ErrInvalid) || !fault.IsPermanent(err) {
		t.Errorf("unknown pack: err = %v, want permanent invalid", err)
	}
	if _, err := f.svc.Buy(ctxT(t), billing.BuyRequest{UserID: f.user.ID, Pack: 0}); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("no update id: err = %v, want invalid", err)
	}
}

func TestMockPaymentsCreditWithoutStripe(t *testing.T) {
	t.Parallel()
	f := setup(t, options{mock: true}) // the fake fails the test on any request
	ctx := ctxT(t)
	req := billing.BuyRequest{UserID: f.user.ID, ChatID: f.user.ChatID, UpdateID: 9300, Pack: 0}
	for range 2 { // a redelivered update credits once
		res, err := f.svc.Buy(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Mock || res.Credited != 100 || res.CheckoutURL != "" || res.Balance != welcome+100 {
			t.Errorf("result %+v, want a mock credit of 100 and balance %d", res, welcome+100)
		}
	}
	es := f.ledger(t, f.user.ID)
	if len(es) != 2 || es[0].Kind != db.KindPurchase || !es[0].Mock || es[0].Amount != 100 || es[0].Cause != "mock:9300" || es[0].PaymentID == nil {
		t.Errorf("ledger %+v, want one mock purchase of 100 over the welcome", es)
	}
	if n := len(f.stripe.Requests()); n != 0 {
		t.Errorf("Stripe got %d requests in mock mode", n)
	}
	text, buttons := billing.BuyReply(billing.BuyResult{Credited: 100, Mock: true, Balance: 120})
	if !strings.Contains(text, "100 credits added (test mode") || buttons != nil {
		t.Errorf("mock reply %q %+v", text, buttons)
	}
}

func TestMockPaymentsRefusedInProduction(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, err := billing.New(billing.Config{Packs: testPacks, Mock: true, Production: true}, f.db, nil, nil)
	if !errors.Is(err, billing.ErrMockInProduction) {
		t.Errorf("New: err = %v, want ErrMockInProduction", err)
	}
	env := map[string]string{"ENVIRONMENT": "production", "MOCK_STRIPE_PAYMENTS": "true"}
	_, err = config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil || !strings.Contains(err.Error(), "MOCK_STRIPE_PAYMENTS") {
		t.Errorf("config.Load: err = %v, want a refusal naming MOCK_STRIPE_PAYMENTS", err)
	}
	env["ENVIRONMENT"] = "development"
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := billing.New(billing.ConfigFrom(cfg, nil), f.db, nil, nil); err != nil {
		t.Errorf("mock payments in development: %v", err)
	}
}

func TestPacksText(t *testing.T) {
	t.Parallel()
	f := setup(t)
	text, buttons := f.svc.PacksText()
	if !strings.Contains(text, "Pick a credit pack") || len(buttons) != len(testPacks) {
		t.Fatalf("%q %+v", text, buttons)
	}
	wantText := []string{"100 credits · $5.00", "500 credits · €20.00"}
	for i, row := range buttons {
		b := row[0]
		if b.Text != wantText[i] || b.URL != "" {
			t.Errorf("button %d = %+v, want %q", i, b, wantText[i])
		}
		if n := len(b.CallbackData); n < 1 || n > 64 {
			t.Errorf("callback data %q is %d bytes; Telegram allows 1-64", b.CallbackData, n)
		}
		if pack, ok := billing.ParseCallback(b.CallbackData); !ok || pack != i {
			t.Errorf("ParseCallback(%q) = %d, %v", b.CallbackData, pack, ok)
		}
	}
	if got := f.svc.Packs(); len(got) != 2 || got[1].Credits != 500 {
		t.Errorf("Packs() = %+v", got)
	}
}

func TestFormatMoney(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		amount   int64
		currency string
		want     string
	}{
		{500, "usd", "$5.00"}, {2005, "EUR", "€20.05"}, {99, "gbp", "£0.99"}, {500, "jpy", "¥500"},
		{1234, "chf", "12.34 CHF"}, {3000, "krw", "3000 KRW"}, {-250, "usd", "-$2.50"}, {5, "x<y", "0.05 X&lt;Y"},
	} {
		if got := billing.FormatMoney(tc.amount, tc.currency); got != tc.want {
			t.Errorf("FormatMoney(%d, %q) = %q, want %q", tc.amount, tc.currency, got, tc.want)
		}
	}
}

func TestParseCallback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		data string
		pack int
		ok   bool
	}{
		{"buy:0", 0, true}, {"buy:12", 12, true}, {"buy:", 0, false}, {"buy:-1", 0, false}, {"buy:01", 0, false},
		{"buy:+1", 0, false}, {"buy:99999", 0, false}, {"undo:1", 0, false}, {"buy:1x", 0, false},
	} {
		pack, ok := billing.ParseCallback(tc.data)
		if pack != tc.pack || ok != tc.ok {
			t.Errorf("ParseCallback(%q) = %d, %v; want %d, %v", tc.data, pack, ok, tc.pack, tc.ok)
		}
	}
}

func FuzzParseCallback(f *testing.F) {
	for _, s := range []string{"buy:0", "buy:12", "buy:", "buy:-0", "buy:1e3", "buy:٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		pack, ok := billing.ParseCallback(data)
		if !ok {
			return
		}
		if pack < 0 || billing.CallbackPrefix+strconv.Itoa(pack) != data || !utf8.ValidString(data) {
			t.Fatalf("ParseCallback(%q) = %d accepted a non-canonical form", data, pack)
		}
	})
}

// A sample event from testdata (a real event's shape) credits the user it
// names the payment /buy recorded, and the sample refund takes back half.
func TestSampleEvents(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := ctxT(t)
	// What /buy records before it hands out the session's link.
	if _, _, err := db.InsertPayment(ctx, f.db.Pool, db.NewPayment{UserID: f.user.ID, Provider: db.ProviderStripe,
		CheckoutSessionID: "cs_test_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ", Credits: 100, Amount: 500, Currency: "usd",
		Status: db.PaymentPending, SourceUpdateID: 9901}); err != nil {
		t.Fatal(err)
	}
	user := strconv.FormatInt(f.user.ID, 10)
	load := func(name string) []byte {
		b := readTestdata(t, name)
		b = []byte(strings.ReplaceAll(string(b), `"42"`, `"`+user+`"`))
		return b
	}
	if err := f.svc.HandleEvent(ctx, load("checkout_session_completed.json")); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.HandleEvent(ctx, load("charge_refunded.json")); err != nil {
		t.Fatal(err)
	}
	if got := f.balance(t, f.user.ID).Balance; got != welcome+50 {
		t.Errorf("balance = %d, want %d (100 bought, half refunded)", got, welcome+50)
	}
}

var _ = context.Background
var _ = stripetest.APIVersion
