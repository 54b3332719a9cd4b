package embedded_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/events/embedded"
)

// BenchmarkPushLoop measures end-to-end throughput on pstest: publish,
// pull, POST to a Consumer (decode, handle, ack), acknowledge.
func BenchmarkPushLoop(b *testing.B) {
	for _, ordering := range []bool{false, true} {
		b.Run("ordering="+strconv.FormatBool(ordering), func(b *testing.B) {
			c := &events.Consumer{Name: "bench", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Handle: func(context.Context, events.Message) error { return nil }}
			srv := httptest.NewServer(c)
			defer srv.Close()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			ctx := context.Background()
			s, err := embedded.Start(ctx, embedded.Config{Project: "bench", HTTPClient: hc,
				Topics: []embedded.TopicSpec{{Topic: "t", Subscription: "t-push", PushEndpoint: srv.URL,
					DeadLetterTopic: "t-dead", Ordering: ordering}}})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			p := s.Client.Publisher("t")
			p.EnableMessageOrdering = ordering
			defer p.Stop()
			b.ResetTimer()
			start := time.Now()
			var results []*pubsub.PublishResult
			for i := range b.N {
				key := ""
				if ordering {
					key = "k" + strconv.Itoa(i%16) // 16 keys delivered in parallel
				}
				results = append(results, p.Publish(ctx, &pubsub.Message{Data: []byte(`{"job_id":1}`), OrderingKey: key}))
			}
			for _, r := range results {
				if _, err := r.Get(ctx); err != nil {
					b.Fatal(err)
				}
			}
			for s.Stats("t-push").Acked < int64(b.N) {
				if time.Since(start) > 5*time.Minute {
					b.Fatalf("only %d of %d acked", s.Stats("t-push").Acked, b.N)
				}
				time.Sleep(time.Millisecond)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
		})
	}
}

// BenchmarkPushLatency measures one message at a time, publish to the
// consumer's handler, as a refinement's two hops see it at low load:
// ns/op is the latency of one hop.
func BenchmarkPushLatency(b *testing.B) {
	got := make(chan struct{}, 1)
	c := &events.Consumer{Name: "bench", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handle: func(context.Context, events.Message) error { got <- struct{}{}; return nil }}
	srv := httptest.NewServer(c)
	defer srv.Close()
	ctx := context.Background()
	s, err := embedded.Start(ctx, embedded.Config{Project: "bench",
		Topics: []embedded.TopicSpec{{Topic: "t", Subscription: "t-push", PushEndpoint: srv.URL, Ordering: true}}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p := events.NewPublisher(ctx, s.Client, "t")
	defer p.Stop()
	var idle, busy time.Duration
	var nIdle int
	b.ResetTimer()
	for i := range b.N {
		if i%8 == 0 {
			// An idle pause, as between a user's messages: the loop's poll
			// interval grows meanwhile.
			b.StopTimer()
			time.Sleep(50 * time.Millisecond)
			b.StartTimer()
		}
		t0 := time.Now()
		if _, err := p.Publish(ctx, events.Outgoing{Data: []byte(`{"job_id":1}`), OrderingKey: "k"}); err != nil {
			b.Fatal(err)
		}
		<-got
		if i%8 == 0 {
			idle += time.Since(t0)
			nIdle++
		} else {
			busy += time.Since(t0)
		}
	}
	b.ReportMetric(float64(idle.Microseconds())/1e3/float64(nIdle), "ms/idle-hop")
	if n := b.N - nIdle; n > 0 {
		b.ReportMetric(float64(busy.Microseconds())/1e3/float64(n), "ms/busy-hop")
	}
}
