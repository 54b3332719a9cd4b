package devstack_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/devstack"
)

// sqlLog is a pgx.QueryTracer that keeps the SQL it sees.
type sqlLog struct {
	mu  sync.Mutex
	sql []string
}

func (l *sqlLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	l.mu.Lock()
	l.sql = append(l.sql, d.SQL)
	l.mu.Unlock()
	return ctx
}

func (l *sqlLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (l *sqlLog) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.sql, "\n")
}

// Options.DBTracer sees the functions' own queries: an update through the
// webhook reaches it, as does a query on Stack.DB.
func TestStackDBTracer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t), "DATABASE_EXEC_MODE": dbtest.ExecMode()}
	var console bytes.Buffer
	tracer := &sqlLog{}
	s, err := devstack.Start(ctx, devstack.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), DBTracer: tracer,
		Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Console: &console})
	if err != nil {
		t.Fatalf("Start: %v\n%s", err, console.String())
	}
	defer s.Close()
	if _, err := s.DB.Pool.Exec(ctx, "SELECT 'traced' AS probe"); err != nil {
		t.Fatal(err)
	}
	c := devstack.NewClient(s.URL, s.WebhookSecret)
	if _, err := c.SendText(ctx, devstack.User{ID: 781, FirstName: "Ann"}, "/new traced"); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(strings.ToLower(tracer.all()), "insert into projects") {
		select {
		case <-ctx.Done():
			t.Fatalf("the tracer never saw the project's INSERT; it saw:\n%s", tracer.all())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if !strings.Contains(tracer.all(), "'traced' AS probe") {
		t.Errorf("the tracer did not see a query on Stack.DB:\n%s", tracer.all())
	}
}
