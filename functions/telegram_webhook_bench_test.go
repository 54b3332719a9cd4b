package functions

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/events/embedded"
	"github.com/devbot-hq/devbot/internal/logging"
)

// BenchmarkTelegramWebhook measures the webhook's hot path as served
// (logging middleware, panic recovery, secret check, parse, publish and
// wait for the confirmation) beside a handler that only publishes the body,
// both on the embedded broker with the same client settings and through
// the same net/http server and client, so the difference is the webhook's
// own cost.
func BenchmarkTelegramWebhook(b *testing.B) {
	ctx := context.Background()
	ps, err := embedded.Start(ctx, embedded.Config{Project: "bench",
		Topics: []embedded.TopicSpec{{Topic: "telegram-updates"}, {Topic: "minimal"}}})
	if err != nil {
		b.Fatal(err)
	}
	defer ps.Close()
	const secret = "bench-webhook-secret-0123456789"
	cfg, err := config.Load(func(k string) (string, bool) {
		v, ok := map[string]string{"GOOGLE_CLOUD_PROJECT": "bench", "TELEGRAM_WEBHOOK_SECRET": secret,
			"TOPIC_TELEGRAM_UPDATES": "telegram-updates", "LOG_FORMAT": "json"}[k]
		return v, ok
	}, config.TelegramWebhook, config.PubSub)
	if err != nil {
		b.Fatal(err)
	}
	// As in production: JSON lines at info, secrets scrubbed, to a sink.
	d := NewDeps(cfg, logging.New(io.Discard, "json", "info", cfg.Secrets()...))
	defer d.Close()
	d.SetPubSubClient(ps.Client)
	t, _ := Lookup(TelegramWebhookName)
	hook, err := Handler(ctx, []Target{t}, d)
	if err != nil {
		b.Fatal(err)
	}
	pub := events.NewPublisher(ctx, ps.Client, "minimal")
	defer pub.Stop()
	// The minimal handler is told the chat (the webhook parses it from the
	// update), so that both publish with the same ordering keys.
	minimal := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			_, err = pub.Publish(r.Context(), events.Outgoing{Data: body, OrderingKey: r.Header.Get("X-Chat")})
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
	})
	var id atomic.Int64
	// chats=64: updates from 64 chats, so 64 ordering keys, and the
	// publish-only handler publishes with the same keys. chats=0: updates
	// without a chat (as devbot bench ingress sends): the webhook publishes
	// them without a key, while the publish-only handler of devbot bench
	// ingress uses one key for all, which the client library batches.
	for _, c := range []struct {
		name  string
		chats int64
		h     http.Handler
	}{{"chats=64/webhook", 64, hook}, {"chats=64/publish-only", 64, minimal},
		{"chats=0/webhook", 0, hook}, {"chats=0/publish-only-one-key", 0, minimal}} {
		b.Run(c.name, func(b *testing.B) {
			srv := httptest.NewServer(c.h)
			defer srv.Close()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			b.SetParallelism(16)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := id.Add(1)
					body, key := `{"update_id":`+strconv.FormatInt(n, 10)+`}`, "1"
					if c.chats > 0 {
						key = strconv.FormatInt(n%c.chats+1, 10)
						body = `{"update_id":` + strconv.FormatInt(n, 10) + `,"message":{"message_id":1,"date":1,"chat":{"id":` +
							key + `,"type":"private"},"text":"hi"}}`
					}
					req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader([]byte(body)))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
					req.Header.Set("X-Chat", key)
					resp, err := hc.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("%s answered %s", c.name, resp.Status)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
