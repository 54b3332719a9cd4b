package embedded

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/devbot-hq/devbot/internal/events"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	p := &pushSub{spec: withDefaults(TopicSpec{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})}
	tests := []struct {
		attempt    int
		retryAfter time.Duration
		want       time.Duration
	}{
		{1, 0, 100 * time.Millisecond},
		{2, 0, 200 * time.Millisecond},
		{4, 0, 800 * time.Millisecond},
		{5, 0, time.Second},
		{50, 0, time.Second},
		{1, 500 * time.Millisecond, 500 * time.Millisecond}, // Retry-After lengthens
		{1, time.Hour, time.Second},                         // but never past MaxBackoff
	}
	for _, tt := range tests {
		if got := p.backoff(tt.attempt, tt.retryAfter); got != tt.want {
			t.Errorf("backoff(%d, %s) = %s, want %s", tt.attempt, tt.retryAfter, got, tt.want)
		}
	}
}

func TestAcks(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]bool{102: true, 200: true, 201: true, 202: true, 204: true,
		203: false, 206: false, 302: false, 400: false, 429: false, 500: false, 503: false} {
		if acks(code) != want {
			t.Errorf("acks(%d) = %v, want %v (%s)", code, !want, want, http.StatusText(code))
		}
	}
}

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	got := withDefaults(TopicSpec{AckDeadline: time.Second, MinBackoff: time.Minute, MaxBackoff: time.Second})
	if got.MaxAttempts != 5 || got.AckDeadline != 10*time.Second || got.MaxBackoff != time.Minute {
		t.Errorf("withDefaults = %+v", got)
	}
}

// pushCounter is a push endpoint that counts the pushes it acks and the
// connections they came on.
type pushCounter struct {
	srv          *httptest.Server
	pushes, conn atomic.Int64
}

func newPushCounter(t *testing.T) *pushCounter {
	t.Helper()
	c := &pushCounter{}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		c.pushes.Add(1)
	}))
	c.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.conn.Add(1)
		}
	}
	c.srv.Start()
	t.Cleanup(c.srv.Close)
	return c
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
	}
}

// An idle loop must not wait for its next poll to deliver a new message:
// with every idle poll an hour long, only the publish can wake it.
func TestPublishWakesIdleLoop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newPushCounter(t)
	s, err := Start(ctx, Config{Project: "wake", poll: time.Hour,
		Topics: []TopicSpec{{Topic: "t", Subscription: "t-push", PushEndpoint: c.srv.URL, Ordering: true}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p := events.NewPublisher(ctx, s.Client, "t")
	t.Cleanup(p.Stop)
	for i := range 3 {
		// Long enough for the loop to be idle, waiting for its next poll.
		time.Sleep(100 * time.Millisecond)
		if _, err := p.Publish(ctx, events.Outgoing{Data: []byte("x"), OrderingKey: "k"}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 5*time.Second, fmt.Sprintf("push %d", i+1), func() bool { return c.pushes.Load() == int64(i+1) })
	}
}

// The workers' pushes reuse their connections: the default client must
// keep one idle connection per worker, not net/http's two per host.
func TestPushesReuseConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newPushCounter(t)
	const workers, n = 8, 400
	s, err := Start(ctx, Config{Project: "conns", MaxOutstanding: workers,
		Topics: []TopicSpec{{Topic: "t", Subscription: "t-push", PushEndpoint: c.srv.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p := events.NewPublisher(ctx, s.Client, "t")
	t.Cleanup(p.Stop)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := p.Publish(ctx, events.Outgoing{Data: []byte("x")}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	waitUntil(t, 30*time.Second, "every push acked", func() bool { return s.Stats("t-push").Acked == n })
	if got := c.conn.Load(); got > workers {
		t.Errorf("%d pushes came on %d connections; want at most %d (one per worker)", n, got, workers)
	}
}

// reactorFunc watches pstest calls without handling them.
type reactorFunc func(req any)

func (f reactorFunc) React(req any) (bool, any, error) { f(req); return false, nil, nil }

// Acks that come while an Acknowledge is under way share the next one,
// rather than one gRPC call each.
func TestAcksShareCalls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 8
	var arrived, returned atomic.Int64
	all := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if arrived.Add(1) == n {
			close(all)
		}
		<-all // every push answers at once
		returned.Add(1)
	}))
	t.Cleanup(srv.Close)
	var calls, ids atomic.Int64
	first := make(chan struct{})
	var once sync.Once
	watch := reactorFunc(func(req any) {
		r := req.(*pb.AcknowledgeRequest)
		calls.Add(1)
		ids.Add(int64(len(r.AckIds)))
		// Hold the first Acknowledge until the other acks are waiting.
		once.Do(func() { <-first })
	})
	s, err := Start(ctx, Config{Project: "acks", MaxOutstanding: n,
		reactors: []pstest.ServerReactorOption{{FuncName: "Acknowledge", Reactor: watch}},
		Topics:   []TopicSpec{{Topic: "t", Subscription: "t-push", PushEndpoint: srv.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p := events.NewPublisher(ctx, s.Client, "t")
	t.Cleanup(p.Stop)
	for range n {
		if _, err := p.Publish(ctx, events.Outgoing{Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 10*time.Second, "every push answered", func() bool { return returned.Load() == n })
	time.Sleep(200 * time.Millisecond) // the workers queue their acks
	close(first)
	waitUntil(t, 10*time.Second, "every push acked", func() bool { return s.Stats("t-push").Acked == n })
	if ids.Load() != n || calls.Load() > 2 {
		t.Errorf("%d acks took %d Acknowledge calls (%d ids); want at most 2 calls", n, calls.Load(), ids.Load())
	}
}
