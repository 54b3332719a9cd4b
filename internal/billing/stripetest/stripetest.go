// Package stripetest is a fake Stripe API for tests: an httptest server that
// answers POST /v1/checkout/sessions as Stripe does (form-encoded request,
// JSON response, Stripe's error shape), keeps the sessions it created,
// replays the first response for a repeated Idempotency-Key, and records
// every request. It also builds the events Stripe would send about those
// sessions, so tests can run the whole purchase through the real stripe-go
// client and webhook verification.
package stripetest

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82"
)

// APIVersion is the API version the fake's objects and events carry.
const APIVersion = "2025-08-27.basil"

// Request is one request the fake received.
type Request struct {
	Method         string
	Path           string
	IdempotencyKey string
	Authorization  string
	Form           url.Values
}

// Session is a Checkout Session the fake created.
type Session struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"`
	Mode              string            `json:"mode"`
	Status            string            `json:"status"`
	PaymentStatus     string            `json:"payment_status"`
	URL               string            `json:"url"`
	ClientReferenceID string            `json:"client_reference_id,omitempty"`
	Metadata          map[string]string `json:"metadata"`
	AmountTotal       int64             `json:"amount_total"`
	Currency          string            `json:"currency"`
	SuccessURL        string            `json:"success_url"`
	CancelURL         string            `json:"cancel_url"`
	PaymentIntent     *string           `json:"payment_intent"`
	Livemode          bool              `json:"livemode"`
	Created           int64             `json:"created"`
}

type replay struct {
	bodyHash [32]byte
	status   int
	body     []byte
}

type failure struct {
	status  int
	errType string
	message string
}

// Server is the fake. Its zero value is not usable: call New.
type Server struct {
	*httptest.Server
	tb testing.TB

	mu         sync.Mutex
	requests   []Request
	sessions   map[string]*Session
	replays    map[string]replay
	failures   []failure
	forbidding bool
	next       int
}

// New starts a fake and stops it at the end of the test.
func New(tb testing.TB) *Server {
	s := &Server{tb: tb, sessions: map[string]*Session{}, replays: map[string]replay{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.Close)
	return s
}

// Client is a stripe-go client whose every call goes to the fake.
func (s *Server) Client(key string) *stripe.Client {
	return stripe.NewClient(key, stripe.WithBackends(stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		URL:               stripe.String(s.URL),
		HTTPClient:        s.Server.Client(),
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})))
}

// ForbidRequests makes any request fail the test: mock payments must never
// reach Stripe.
func (s *Server) ForbidRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forbidding = true
}

// FailNext makes the next request answer status with a Stripe error body.
func (s *Server) FailNext(status int, errType, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, failure{status, errType, message})
}

// Requests returns what the fake received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Sessions returns the number of sessions created.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Session returns a created session by id.
func (s *Server) Session(id string) (Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.sessions[id]
	if !ok {
		return Session{}, false
	}
	return *cs, true
}

func writeError(w http.ResponseWriter, status int, errType, message, param string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_fake")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"type": errType, "message": message, "param": param,
	}})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "Invalid request body.", "")
		return
	}
	req := Request{Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key"),
		Authorization: r.Header.Get("Authorization"), Form: form}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	if s.forbidding {
		s.tb.Errorf("stripetest: unexpected request %s %s (Stripe must not be called)", r.Method, r.URL.Path)
		writeError(w, http.StatusForbidden, "invalid_request_error", "this test forbids calls to Stripe", "")
		return
	}
	if !strings.HasPrefix(req.Authorization, "Bearer sk_") {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "Invalid API Key provided.", "")
		return
	}
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		writeError(w, f.status, f.errType, f.message, "")
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/checkout/sessions" {
		writeError(w, http.StatusNotFound, "invalid_request_error", "Unrecognized request URL ("+r.Method+": "+r.URL.Path+").", "")
		return
	}
	// Stripe replays the first response to a key, and refuses the key with
	// different parameters.
	hash := sha256.Sum256(body)
	if req.IdempotencyKey != "" {
		if prev, ok := s.replays[req.IdempotencyKey]; ok {
			if prev.bodyHash != hash {
				writeError(w, http.StatusBadRequest, "idempotency_error",
					"Keys for idempotent requests can only be used with the same parameters they were first used with.", "")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(prev.status)
			w.Write(prev.body)
			return
		}
	}
	status, out := s.createSession(form)
	if req.IdempotencyKey != "" {
		s.replays[req.IdempotencyKey] = replay{bodyHash: hash, status: status, body: out}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_fake")
	w.WriteHeader(status)
	w.Write(out)
}

// createSession validates a create request as Stripe does (the parts devbot
// uses) and creates the session. Called with s.mu held.
func (s *Server) createSession(f url.Values) (int, []byte) {
	fail := func(msg, param string) (int, []byte) {
		b, _ := json.Marshal(map[string]any{"error": map[string]any{
			"type": "invalid_request_error", "message": msg, "param": param}})
		return http.StatusBadRequest, b
	}
	mode := f.Get("mode")
	switch mode {
	case "":
		return fail("Missing required param: mode.", "mode")
	case "payment", "setup", "subscription":
	default:
		return fail("Invalid mode: must be one of payment, setup, or subscription", "mode")
	}
	var total int64
	var currency string
	for i := 0; ; i++ {
		p := fmt.Sprintf("line_items[%d]", i)
		if f.Get(p+"[quantity]") == "" && f.Get(p+"[price_data][unit_amount]") == "" {
			if i == 0 && mode == "payment" {
				return fail("You must provide at least one line item for payment mode.", "line_items")
			}
			break
		}
		qty, err := strconv.ParseInt(f.Get(p+"[quantity]"), 10, 64)
		if err != nil || qty < 1 {
			return fail("Invalid integer: quantity", p+"[quantity]")
		}
		unit, err := strconv.ParseInt(f.Get(p+"[price_data][unit_amount]"), 10, 64)
		if err != nil || unit < 0 {
			return fail("Invalid integer: unit_amount", p+"[price_data][unit_amount]")
		}
		cur := f.Get(p + "[price_data][currency]")
		if len(cur) != 3 {
			return fail("Invalid currency", p+"[price_data][currency]")
		}
		if f.Get(p+"[price_data][product_data][name]") == "" {
			return fail("Missing required param: line_items[0][price_data][product_data][name].", p+"[price_data][product_data][name]")
		}
		total += qty * unit
		currency = cur
	}
	for _, u := range []string{"success_url", "cancel_url"} {
		if v := f.Get(u); v != "" {
			if pu, err := url.Parse(v); err != nil || pu.Scheme == "" || pu.Host == "" {
				return fail("Not a valid URL", u)
			}
		}
	}
	meta := map[string]string{}
	for k, v := range f {
		if name, ok := strings.CutPrefix(k, "metadata["); ok && strings.HasSuffix(name, "]") {
			meta[strings.TrimSuffix(name, "]")] = v[0]
		}
	}
	s.next++
	id := fmt.Sprintf("cs_test_fake%04d", s.next)
	cs := &Session{ID: id, Object: "checkout.session", Mode: mode, Status: "open", PaymentStatus: "unpaid",
		URL: "https://checkout.stripe.com/c/pay/" + id, ClientReferenceID: f.Get("client_reference_id"),
		Metadata: meta, AmountTotal: total, Currency: currency, SuccessURL: f.Get("success_url"),
		CancelURL: f.Get("cancel_url"), Created: time.Now().Unix()}
	s.sessions[id] = cs
	b, _ := json.Marshal(cs)
	return http.StatusOK, b
}

// Pay marks a created session complete and paid through payment intent pi
// (payment_status "unpaid" for a delayed payment method when paid is false),
// and returns the session as the event will carry it.
func (s *Server) Pay(id, pi string, paid bool) Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.sessions[id]
	if !ok {
		s.tb.Fatalf("stripetest: no session %s", id)
	}
	cs.Status = "complete"
	cs.PaymentIntent = &pi
	cs.PaymentStatus = "unpaid"
	if paid {
		cs.PaymentStatus = "paid"
	}
	return *cs
}

// Event is the JSON of a Stripe event of type typ about object, as the
// webhook receives it.
func Event(tb testing.TB, id, typ string, object any) []byte {
	tb.Helper()
	b, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": APIVersion, "created": time.Now().Unix(),
		"livemode": false, "pending_webhooks": 1, "type": typ,
		"request": map[string]any{"id": nil, "idempotency_key": nil},
		"data":    map[string]any{"object": object},
	})
	if err != nil {
		tb.Fatalf("stripetest: event: %v", err)
	}
	return b
}

// Charge is the charge object of a charge.refunded event.
func Charge(id, paymentIntent string, amount, refunded int64, currency string) map[string]any {
	return map[string]any{
		"id": id, "object": "charge", "amount": amount, "amount_captured": amount, "amount_refunded": refunded,
		"currency": currency, "paid": true, "captured": true, "refunded": refunded >= amount,
		"payment_intent": paymentIntent, "status": "succeeded",
	}
}
