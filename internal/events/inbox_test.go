package events_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/events/eventstest"
	"github.com/devbot-hq/devbot/internal/fault"
)

// effectsDB is a test database with a table of effects that are NOT
// idempotent, so a second run would show.
func effectsDB(t *testing.T) *db.DB {
	t.Helper()
	d := dbtest.New(t)
	if _, err := d.Pool.Exec(context.Background(), `CREATE TABLE effects (key text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return d
}

func countEffects(t *testing.T, d *db.DB) int {
	t.Helper()
	var n int
	if err := d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM effects`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func effect(key string, result error) func(context.Context, pgx.Tx) error {
	return func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO effects VALUES ($1)`, key); err != nil {
			return err
		}
		return result
	}
}

func TestInbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name        string
		results     []error // one per delivery
		wantDup     []bool
		wantEffects int
		wantOutcome string // "" = no record
	}{
		{name: "once", results: []error{nil}, wantDup: []bool{false}, wantEffects: 1, wantOutcome: db.OutcomeDone},
		{name: "duplicate has no second effect", results: []error{nil, nil, nil}, wantDup: []bool{false, true, true},
			wantEffects: 1, wantOutcome: db.OutcomeDone},
		{name: "retryable rolls back and runs again", results: []error{fault.Retryablef("503"), nil},
			wantDup: []bool{false, false}, wantEffects: 1, wantOutcome: db.OutcomeDone},
		{name: "retryable leaves no record", results: []error{errors.New("boom")}, wantDup: []bool{false}},
		{name: "permanent rolls back and is recorded", results: []error{fault.Permanentf("bad input"), nil},
			wantDup: []bool{false, true}, wantOutcome: db.OutcomeRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := effectsDB(t)
			for i, res := range tt.results {
				dup, err := events.Inbox(ctx, d, "c", "update-1", effect("update-1", res))
				if dup != tt.wantDup[i] {
					t.Errorf("delivery %d: duplicate = %v, want %v", i+1, dup, tt.wantDup[i])
				}
				if (err != nil) != (res != nil && !dup) {
					t.Errorf("delivery %d: err = %v (handler returned %v)", i+1, err, res)
				}
				if err != nil && fault.KindOf(err) != fault.KindOf(res) {
					t.Errorf("delivery %d: classification lost: %v", i+1, err)
				}
			}
			if n := countEffects(t, d); n != tt.wantEffects {
				t.Errorf("%d effects, want %d", n, tt.wantEffects)
			}
			p, found, err := db.LookupProcessed(ctx, d.Pool, "c", "update-1")
			if err != nil {
				t.Fatal(err)
			}
			if found != (tt.wantOutcome != "") || p.Outcome != tt.wantOutcome {
				t.Errorf("inbox record %+v found=%v, want outcome %q", p, found, tt.wantOutcome)
			}
		})
	}
}

// Concurrent deliveries of one message (Pub/Sub may push it twice at
// once) commit one effect.
func TestInboxConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	d := effectsDB(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	dups := 0
	for range 8 {
		wg.Go(func() {
			dup, err := events.Inbox(context.Background(), d, "c", "k", effect("k", nil))
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			if dup {
				dups++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if n := countEffects(t, d); n != 1 || dups != 7 {
		t.Errorf("%d effects and %d duplicates, want 1 and 7", n, dups)
	}
}

// Through a Consumer: a duplicate delivery acks with no second effect, and
// a rejection the Inbox recorded is not recorded again by the Consumer.
func TestConsumerWithInbox(t *testing.T) {
	t.Parallel()
	d := effectsDB(t)
	c := &events.Consumer{Name: "stripe", DB: d, MaxAttempts: 5, Logger: setup(t, nil, nil).c.Logger,
		Handle: func(ctx context.Context, m events.Message) error {
			key := m.Attributes["event"]
			_, err := events.Inbox(ctx, d, "stripe", key, func(ctx context.Context, tx pgx.Tx) error {
				if strings.HasPrefix(key, "bad") {
					return fault.Permanentf("unknown event type")
				}
				return effect(key, nil)(ctx, tx)
			})
			return err
		}}
	m := sample()
	m.Attributes = map[string]string{"event": "evt_1"}
	for i, f := range eventstest.Forms() { // the same event, redelivered in every form
		m.ID = "m" + string(rune('0'+i))
		if w := serve(c, f.New(m)); w.Code != http.StatusNoContent {
			t.Errorf("%s: status %d, want 204", f.Name, w.Code)
		}
	}
	if n := countEffects(t, d); n != 1 {
		t.Errorf("%d effects, want 1", n)
	}
	m.Attributes = map[string]string{"event": "bad_1"}
	m.ID = "m9"
	if w := serve(c, eventstest.Wrapped(m)); w.Code != http.StatusOK {
		t.Errorf("rejected: status %d, want 200", w.Code)
	}
	if _, found, _ := db.LookupProcessed(context.Background(), d.Pool, "stripe", "bad_1"); !found {
		t.Error("the Inbox did not record the rejection")
	}
	if _, found, _ := db.LookupProcessed(context.Background(), d.Pool, "stripe", events.MessageKey("m9")); found {
		t.Error("the Consumer recorded a rejection the Inbox had recorded")
	}
}
