package devstack_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/demo"
	"github.com/devbot-hq/devbot/internal/devstack"
)

// The demo conversation through both Pub/Sub backends: the embedded push
// loop and the real emulator with real push subscriptions.
func TestStackRunsTheDemo(t *testing.T) {
	t.Parallel()
	for _, ps := range []string{"embedded", "emulator"} {
		t.Run(ps, func(t *testing.T) {
			t.Parallel()
			if ps == "emulator" && testing.Short() {
				t.Skip("starts the Pub/Sub emulator (Java); -short skips it")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			env := map[string]string{"DATABASE_URL": dbtest.URL(t), "DATABASE_EXEC_MODE": dbtest.ExecMode()}
			var console bytes.Buffer
			s, err := devstack.Start(ctx, devstack.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), PubSub: ps,
				Lookup:  func(k string) (string, bool) { v, ok := env[k]; return v, ok },
				Console: &console, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatalf("Start: %v\n%s", err, console.String())
			}
			defer s.Close()
			if !strings.Contains(console.String(), "pubsub: ") || !strings.Contains(console.String(), "ready: ") {
				t.Errorf("start-up output:\n%s", console.String())
			}
			var transcript bytes.Buffer
			c := devstack.NewClient(s.URL, s.WebhookSecret)
			if err := demo.Run(ctx, c, devstack.User{ID: 777, FirstName: "Ann"}, &transcript); err != nil {
				t.Fatalf("demo: %v\n%s", err, transcript.String())
			}
			// A wrong secret is refused at the webhook and publishes nothing.
			bad := devstack.NewClient(s.URL, "wrong")
			if _, err := bad.SendText(ctx, devstack.User{ID: 778}, "/start"); err == nil || !strings.Contains(err.Error(), "401") {
				t.Errorf("wrong secret: err = %v, want a 401", err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := c.Ping(ctx); err == nil {
				t.Error("the stack still answers after Close")
			}
		})
	}
}
