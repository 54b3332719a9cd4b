package functions

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"

	"net/http/httptest"

	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/events/eventstest"
)

// A message pushed from the dead-letter topic makes the consumer give up
// (fail the job, release its credits, tell the user); everything else is
// handled normally.
func TestConsumerHandlerRoutesDeadLetters(t *testing.T) {
	t.Parallel()
	var handled, gaveUp atomic.Int32
	var cause error
	h := consumerHandler(&events.Consumer{
		Name:   "Test",
		Handle: func(context.Context, events.Message) error { handled.Add(1); return nil },
		GiveUp: func(_ context.Context, _ events.Message, c error) error { gaveUp.Add(1); cause = c; return nil },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	m := events.Message{ID: "1", Data: []byte(`{"job_id":7}`), Attributes: map[string]string{
		"CloudPubSubDeadLetterSourceDeliveryCount": "5"}}

	for _, path := range []string{"/", "/RefineJobs"} {
		req := eventstest.Wrapped(m)
		req.URL.Path = path
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code/100 != 2 {
			t.Errorf("POST %s answered %d", path, rec.Code)
		}
	}
	if handled.Load() != 2 || gaveUp.Load() != 0 {
		t.Fatalf("normal deliveries: handled %d, gave up %d; want 2 and 0", handled.Load(), gaveUp.Load())
	}

	for _, path := range []string{DeadLetterPath, "/RefineJobs" + DeadLetterPath} {
		req := eventstest.Wrapped(m)
		req.URL.Path = path
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("POST %s answered %d, want 200 (acked after giving up)", path, rec.Code)
		}
	}
	if gaveUp.Load() != 2 || handled.Load() != 2 || !errors.Is(cause, events.ErrDeadLettered) {
		t.Errorf("dead letters: gave up %d, handled %d, cause %v", gaveUp.Load(), handled.Load(), cause)
	}
}
