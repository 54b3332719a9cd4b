package events_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/events/eventstest"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/logging"
)

// syncBuffer is a log sink safe for the handler's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// recorder records what a consumer's callbacks saw.
type recorder struct {
	mu      sync.Mutex
	handled []events.Message
	gaveUp  []error
}

func (r *recorder) handle(m events.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handled = append(r.handled, m)
}

func (r *recorder) giveUp(cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gaveUp = append(r.gaveUp, cause)
}

func (r *recorder) counts() (handled, gaveUp int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.handled), len(r.gaveUp)
}

type bundle struct {
	logs *syncBuffer
	rec  *recorder
	c    *events.Consumer
}

// setup returns a consumer whose handler returns result (or panics with it
// when it is a string) and whose GiveUp returns giveUpErr.
func setup(t *testing.T, result any, giveUpErr error) *bundle {
	t.Helper()
	b := &bundle{logs: &syncBuffer{}, rec: &recorder{}}
	b.c = &events.Consumer{
		Name: "test",
		Handle: func(ctx context.Context, m events.Message) error {
			b.rec.handle(m)
			switch v := result.(type) {
			case string:
				panic(v)
			case error:
				return v
			case func(context.Context) error:
				return v(ctx)
			}
			return nil
		},
		GiveUp: func(ctx context.Context, m events.Message, cause error) error {
			b.rec.giveUp(cause)
			if err := ctx.Err(); err != nil {
				return err // GiveUp must get a live context
			}
			return giveUpErr
		},
		MaxAttempts: 5,
		Logger:      logging.New(b.logs, "json", "debug"),
	}
	return b
}

func serve(c http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	return w
}

func TestConsumerFormsHandledIdentically(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, nil)
	want := sample()
	for _, f := range eventstest.Forms() {
		if w := serve(b.c, f.New(want)); w.Code != http.StatusNoContent {
			t.Errorf("%s: status %d, want 204", f.Name, w.Code)
		}
	}
	if len(b.rec.handled) != 4 {
		t.Fatalf("handled %d messages, want 4", len(b.rec.handled))
	}
	for i, got := range b.rec.handled {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: handler saw %+v, want %+v", eventstest.Forms()[i].Name, got, want)
		}
	}
}

func TestConsumerAckRetryRule(t *testing.T) {
	t.Parallel()
	retryable := fault.Retryablef("storage 503")
	tests := []struct {
		name        string
		result      any
		giveUpErr   error
		attempt     int
		wantCode    int
		wantRetryIn string
		wantGiveUp  int
		wantLog     string
	}{
		{name: "nil acks", wantCode: 204, wantLog: `"result":"acked"`},
		{name: "permanent acks", result: fault.Permanentf("unknown command"), wantCode: 200, wantLog: `"result":"rejected"`},
		{name: "retryable nacks", result: retryable, attempt: 2, wantCode: 503, wantLog: `"result":"retry"`},
		{name: "unclassified nacks", result: errors.New("boom"), wantCode: 503},
		{name: "retry after", result: fault.RetryAfter(errors.New("429"), 2500*time.Millisecond), wantCode: 503, wantRetryIn: "3"},
		{name: "panic is retryable", result: "kaboom", wantCode: 503, wantLog: `"stack":"goroutine`},
		{name: "deadline is retryable", result: func(ctx context.Context) error {
			<-ctx.Done()
			return fault.AsRetryable(ctx.Err())
		}, wantCode: 503, wantLog: "deadline exceeded"},
		{name: "last attempt gives up and acks", result: retryable, attempt: 5, wantCode: 200, wantGiveUp: 1, wantLog: `"result":"gave-up"`},
		{name: "beyond the last attempt gives up", result: retryable, attempt: 7, wantCode: 200, wantGiveUp: 1},
		{name: "panic on the last attempt gives up", result: "kaboom", attempt: 5, wantCode: 200, wantGiveUp: 1},
		{name: "deadline on the last attempt gives up", result: func(ctx context.Context) error {
			<-ctx.Done()
			return fault.AsRetryable(ctx.Err())
		}, attempt: 5, wantCode: 200, wantGiveUp: 1},
		{name: "failed give-up nacks", result: retryable, attempt: 5, giveUpErr: errors.New("db down"), wantCode: 503, wantGiveUp: 1},
		{name: "unknown attempt never gives up", result: retryable, attempt: 0, wantCode: 503},
		{name: "permanent on the last attempt does not give up", result: fault.Permanentf("bad"), attempt: 5, wantCode: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.result, tt.giveUpErr)
			b.c.Timeout = 50 * time.Millisecond
			m := sample()
			m.DeliveryAttempt = tt.attempt
			w := serve(b.c, eventstest.Wrapped(m))
			if w.Code != tt.wantCode {
				t.Errorf("status %d, want %d", w.Code, tt.wantCode)
			}
			if got := w.Header().Get("Retry-After"); got != tt.wantRetryIn {
				t.Errorf("Retry-After %q, want %q", got, tt.wantRetryIn)
			}
			if _, n := b.rec.counts(); n != tt.wantGiveUp {
				t.Errorf("GiveUp ran %d times, want %d", n, tt.wantGiveUp)
			}
			logs := b.logs.String()
			if !strings.Contains(logs, tt.wantLog) {
				t.Errorf("logs lack %q:\n%s", tt.wantLog, logs)
			}
			for _, attr := range []string{`"message_id":"1234567890123456"`, `"subscription":"projects/`, `"delivery_attempt":`, `"consumer":"test"`} {
				if !strings.Contains(logs, attr) {
					t.Errorf("logs lack %s:\n%s", attr, logs)
				}
			}
		})
	}
}

func TestConsumerRefusesBadRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, nil)
	get := httptest.NewRequest(http.MethodGet, "/", nil)
	if w := serve(b.c, get); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", w.Code)
	}
	bad := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"update_id":1,"message":{"message_id":1}}`))
	if w := serve(b.c, bad); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "malformed") {
		t.Errorf("garbage: status %d %q, want 400 naming the problem", w.Code, w.Body.String())
	}
	huge := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(make([]byte, events.MaxBodyBytes+1)))
	if w := serve(b.c, huge); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("huge: status %d, want 413", w.Code)
	}
	if n, _ := b.rec.counts(); n != 0 {
		t.Errorf("handler ran %d times for refused requests", n)
	}
	if !strings.Contains(b.logs.String(), `"result":"malformed"`) {
		t.Errorf("malformed request not logged:\n%s", b.logs)
	}
}

func TestDeadLetterHandlerGivesUp(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, nil)
	m := sample()
	m.Attributes = map[string]string{"CloudPubSubDeadLetterSourceDeliveryCount": "5",
		"CloudPubSubDeadLetterSourceSubscription": "refine-jobs-push"}
	if w := serve(b.c.DeadLetterHandler(), eventstest.Wrapped(m)); w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", w.Code)
	}
	if n, _ := b.rec.counts(); n != 0 {
		t.Errorf("Handle ran for a dead letter")
	}
	if len(b.rec.gaveUp) != 1 || !errors.Is(b.rec.gaveUp[0], events.ErrDeadLettered) ||
		!strings.Contains(b.rec.gaveUp[0].Error(), "after 5 delivery attempts on refine-jobs-push") {
		t.Errorf("GiveUp causes = %v", b.rec.gaveUp)
	}
	failing := setup(t, nil, errors.New("db down"))
	if w := serve(failing.c.DeadLetterHandler(), eventstest.Wrapped(m)); w.Code != http.StatusServiceUnavailable {
		t.Errorf("failing GiveUp: status %d, want 503", w.Code)
	}
}

// A permanent error is recorded in the inbox under the message id, once,
// and a give-up likewise.
func TestConsumerRecordsOutcomes(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	ctx := context.Background()
	b := setup(t, fault.Permanentf("no such project %q", "x"), nil)
	b.c.DB = d
	m := sample()
	for range 2 {
		if w := serve(b.c, eventstest.Wrapped(m)); w.Code != http.StatusOK {
			t.Fatalf("status %d, want 200", w.Code)
		}
	}
	p, found, err := db.LookupProcessed(ctx, d.Pool, "test", events.MessageKey(m.ID))
	if err != nil || !found || p.Outcome != db.OutcomeRejected || !strings.Contains(p.Detail, `no such project "x"`) {
		t.Errorf("inbox = %+v %v %v, want the rejection", p, found, err)
	}

	g := setup(t, fault.Retryablef("llm 503"), nil)
	g.c.DB = d
	m.ID = "777"
	m.DeliveryAttempt = 5
	if w := serve(g.c, eventstest.Wrapped(m)); w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", w.Code)
	}
	p, found, err = db.LookupProcessed(ctx, d.Pool, "test", events.MessageKey("777"))
	if err != nil || !found || p.Outcome != db.OutcomeGaveUp || !strings.Contains(p.Detail, "gave up after 5 delivery attempts: llm 503") {
		t.Errorf("inbox = %+v %v %v, want the give-up", p, found, err)
	}
}
