package billing_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/billing/stripetest"
	"github.com/devbot-hq/devbot/internal/events"
)

// pubRecorder is a publisher that records, optionally forwards each message
// to a consumer (the whole pipeline in one process), or fails.
type pubRecorder struct {
	mu      sync.Mutex
	msgs    []events.Outgoing
	fail    error
	forward func(ctx context.Context, m events.Outgoing) error
}

func (p *pubRecorder) Publish(ctx context.Context, m events.Outgoing) (string, error) {
	p.mu.Lock()
	if p.fail != nil {
		p.mu.Unlock()
		return "", p.fail
	}
	p.msgs = append(p.msgs, m)
	n := len(p.msgs)
	fwd := p.forward
	p.mu.Unlock()
	if fwd != nil {
		if err := fwd(ctx, m); err != nil {
			return "", err
		}
	}
	return "msg-" + strings.Repeat("1", n), nil
}

// discardPub confirms every publish and keeps nothing.
type discardPub struct{}

func (discardPub) Publish(context.Context, events.Outgoing) (string, error) { return "1", nil }

func (p *pubRecorder) published() []events.Outgoing {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]events.Outgoing(nil), p.msgs...)
}

func sign(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}

func post(h http.Handler, body []byte, header string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	if header != "" {
		r.Header.Set("Stripe-Signature", header)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestWebhookVerifiesBeforePublishing(t *testing.T) {
	t.Parallel()
	payload := stripetest.Event(t, "evt_wh", billing.EventCheckoutCompleted, map[string]any{"id": "cs_1", "object": "checkout.session"})
	now := time.Now()
	// A valid header carrying a second v1 (a secret being rolled) and a v0.
	rolled := sign(payload, "whsec_old", now) + ",v1=" + strings.TrimPrefix(strings.Split(sign(payload, webhookSecret, now), ",")[1], "v1=") + ",v0=abcd"
	cases := []struct {
		name       string
		body       []byte
		header     string
		wantStatus int
		wantReason string
	}{
		{"valid", payload, sign(payload, webhookSecret, now), 200, ""},
		{"valid during a secret roll", payload, rolled, 200, ""},
		// Stripe's library refuses only old timestamps; one from far ahead
		// would stay valid (and replayable) until long after it was sent.
		{"an hour in the future", payload, sign(payload, webhookSecret, now.Add(time.Hour)), 400, "future timestamp"},
		{"4 minutes ahead (clock skew)", payload, sign(payload, webhookSecret, now.Add(4*time.Minute)), 200, ""},
		{"4 minutes old", payload, sign(payload, webhookSecret, now.Add(-4*time.Minute)), 200, ""},
		{"future, but the latest t= is now", payload, "t=" + itoa(now.Add(time.Hour).Unix()) + "," + sign(payload, webhookSecret, now), 200, ""},
		{"now, but the latest t= is in the future", payload, sign(payload, webhookSecret, now) + ",t=" + itoa(now.Add(time.Hour).Unix()), 400, "no v1 signature matches"},
		{"other API version", bytes.Replace(payload, []byte(stripetest.APIVersion), []byte("2020-08-27"), 1),
			sign(bytes.Replace(payload, []byte(stripetest.APIVersion), []byte("2020-08-27"), 1), webhookSecret, now), 200, ""},
		{"tampered body", bytes.Replace(payload, []byte("cs_1"), []byte("cs_2"), 1), sign(payload, webhookSecret, now), 400, "no v1 signature matches"},
		{"re-encoded body", append(payload, '\n'), sign(payload, webhookSecret, now), 400, "no v1 signature matches"},
		{"wrong secret", payload, sign(payload, "whsec_cli_secret", now), 400, "STRIPE_WEBHOOK_SECRET"},
		{"stale timestamp", payload, sign(payload, webhookSecret, now.Add(-6*time.Minute)), 400, "stale timestamp"},
		{"missing header", payload, "", 400, "missing Stripe-Signature"},
		{"malformed header", payload, "t=yesterday,v1=00", 400, "malformed Stripe-Signature"},
		{"no v1 signature", payload, "t=" + itoa(now.Unix()) + ",v0=abcd", 400, "no v1 signature matches"},
		{"signed garbage", []byte("not json"), sign([]byte("not json"), webhookSecret, now), 400, "not a Stripe event"},
		{"signed JSON without id", []byte(`{"type":"x"}`), sign([]byte(`{"type":"x"}`), webhookSecret, now), 400, "no id or type"},
		{"too large", bytes.Repeat([]byte(" "), billing.MaxWebhookBody+1), "t=1,v1=00", 413, "larger than 1 MiB"},
	}
	// Not parallel: the timestamps are relative to now, and a parallel
	// subtest can wait minutes for a free slot behind the package's
	// database tests, long enough to make "4 minutes old" stale.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pub := &pubRecorder{}
			w := post(billing.WebhookHandler(webhookSecret, pub, nil), tc.body, tc.header)
			if w.Code != tc.wantStatus || !strings.Contains(w.Body.String(), tc.wantReason) {
				t.Errorf("got %d %q, want %d containing %q", w.Code, w.Body.String(), tc.wantStatus, tc.wantReason)
			}
			if strings.Contains(w.Body.String(), webhookSecret) {
				t.Errorf("the answer prints the secret: %q", w.Body.String())
			}
			msgs := pub.published()
			if tc.wantStatus != 200 {
				if len(msgs) != 0 {
					t.Errorf("published %d messages for a refused request", len(msgs))
				}
				return
			}
			if len(msgs) != 1 {
				t.Fatalf("published %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if !bytes.Equal(m.Data, tc.body) || m.Attributes[billing.AttrEventID] != "evt_wh" ||
				m.Attributes[billing.AttrEventType] != billing.EventCheckoutCompleted || m.OrderingKey != "" {
				t.Errorf("published %+v, want the raw body with event_id and event_type", m)
			}
		})
	}
}

func TestWebhookAnswers503WhenThePublishFails(t *testing.T) {
	t.Parallel()
	payload := stripetest.Event(t, "evt_pf", "customer.created", map[string]any{"id": "cus_1"})
	pub := &pubRecorder{fail: errors.New("pubsub: deadline exceeded")}
	w := post(billing.WebhookHandler(webhookSecret, pub, nil), payload, sign(payload, webhookSecret, time.Now()))
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503 so Stripe retries", w.Code)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	w = httptest.NewRecorder()
	billing.WebhookHandler(webhookSecret, pub, nil).ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", w.Code)
	}
}

// TestSignedDeliveriesEndToEnd runs the purchase through the real pieces:
// /buy against the fake Stripe, the event signed as Stripe signs it, the
// webhook, a publisher that hands the message to the consumer, the ledger.
func TestSignedDeliveriesEndToEnd(t *testing.T) {
	t.Parallel()
	f := setup(t)
	pub := &pubRecorder{forward: func(ctx context.Context, m events.Outgoing) error { return f.svc.HandleEvent(ctx, m.Data) }}
	h := billing.WebhookHandler(webhookSecret, pub, nil)
	cs := f.stripe.Pay(f.buy(t, 8001, 0).ID, "pi_e2e", true)

	completed := stripetest.Event(t, "evt_e1", billing.EventCheckoutCompleted, cs)
	sibling := stripetest.Event(t, "evt_e2", billing.EventAsyncPaymentSucceeded, cs)
	for i, body := range [][]byte{completed, completed, completed, sibling} {
		// Stripe signs each delivery afresh.
		if w := post(h, body, sign(body, webhookSecret, time.Now())); w.Code != 200 {
			t.Fatalf("delivery %d: %d %s", i+1, w.Code, w.Body.String())
		}
	}
	if got := f.balance(t, f.user.ID).Balance; got != welcome+100 {
		t.Errorf("balance = %d after 3 deliveries and a sibling, want %d", got, welcome+100)
	}
	// Refused deliveries change nothing.
	forged := stripetest.Event(t, "evt_forged", billing.EventCheckoutCompleted, f.stripe.Pay(f.buy(t, 8002, 1).ID, "pi_forged", true))
	for _, header := range []string{sign(forged, "whsec_wrong", time.Now()), sign(forged, webhookSecret, time.Now().Add(-time.Hour))} {
		if w := post(h, forged, header); w.Code != 400 {
			t.Errorf("forged delivery: %d", w.Code)
		}
	}
	if got := f.balance(t, f.user.ID).Balance; got != welcome+100 {
		t.Errorf("balance = %d after forged deliveries, want %d", got, welcome+100)
	}
	refund := stripetest.Event(t, "evt_e3", billing.EventChargeRefunded, stripetest.Charge("ch_e2e", "pi_e2e", 500, 500, "usd"))
	if w := post(h, refund, sign(refund, webhookSecret, time.Now())); w.Code != 200 {
		t.Fatalf("refund: %d %s", w.Code, w.Body.String())
	}
	if got := f.balance(t, f.user.ID).Balance; got != welcome {
		t.Errorf("balance = %d after the refund, want %d", got, welcome)
	}
	if n := len(pub.published()); n != 5 {
		t.Errorf("published %d, want 5 (4 credits + 1 refund)", n)
	}
}

// FuzzWebhook throws arbitrary bodies and headers at the webhook: it must
// never panic, answer only 200, 400 or 413, and publish only what verifies.
func FuzzWebhook(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/webhook/*.json")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, sign(b, webhookSecret, time.Now()), true)
	}
	f.Add([]byte(`{"id":"evt_1","type":"x"}`), "t=1,v1=zz", false)
	f.Add([]byte{}, "", false)
	f.Add([]byte(`{}`), "t=,v1=,v1", false)
	f.Fuzz(func(t *testing.T, body []byte, header string, resign bool) {
		if resign {
			header = sign(body, webhookSecret, time.Now())
		}
		pub := &pubRecorder{}
		w := post(billing.WebhookHandler(webhookSecret, pub, nil), body, header)
		switch w.Code {
		case 200:
			if len(pub.published()) != 1 {
				t.Fatalf("200 but published %d", len(pub.published()))
			}
			if err := webhook.ValidatePayload(body, header, webhookSecret); err != nil {
				t.Fatalf("200 but the payload does not validate: %v", err)
			}
		case 400, 413:
			if len(pub.published()) != 0 {
				t.Fatal("published a refused body")
			}
		default:
			t.Fatalf("status %d", w.Code)
		}
		if strings.Contains(w.Body.String(), webhookSecret) {
			t.Fatal("the answer prints the secret")
		}
	})
}

// BenchmarkWebhookVerify measures what every delivery pays before the
// publish: reading, verifying and parsing a typical event.
func BenchmarkWebhookVerify(b *testing.B) {
	payload, err := os.ReadFile("testdata/webhook/checkout_session_completed.json")
	if err != nil {
		b.Fatal(err)
	}
	header := sign(payload, webhookSecret, time.Now())
	h := billing.WebhookHandler(webhookSecret, discardPub{}, nil)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(payload))
		r.Header.Set("Stripe-Signature", header)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
