package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/devbot-hq/devbot/internal/events"
)

// serveLocal serves h on a free local port until the returned stop.
func serveLocal(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// Ingress measures signed webhook requests per second and their latency
// through devbot dev's real TelegramWebhook (secret check, parse, publish to
// the embedded Pub/Sub and wait for the confirmation), beside a bare
// net/http handler and beside a minimal handler that publishes the same
// body with the same Pub/Sub client (events.Publisher on the embedded
// broker) and waits for the result.
func Ingress(ctx context.Context, o Options) (Report, error) {
	conc := o.Concurrency
	if conc <= 0 {
		conc = 32
	}
	n := o.N
	if n <= 0 {
		n = 20000
		if o.Short {
			n = 300
		}
	}
	r := Report{Part: "ingress", Setup: fmt.Sprintf("%d signed webhook POSTs per round at concurrency %d, %d rounds", n, conc, o.repeat())}
	stack, stop, err := startStack(ctx, o, nil, nil)
	if err != nil {
		return r, err
	}
	defer stop()

	bare, stopBare, err := serveLocal(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	if err != nil {
		return r, err
	}
	defer stopBare()

	// The same publisher the webhook uses, on the same topic, with the
	// webhook's ordering key (none: the bench's updates have no chat): the stack's consumer handles both streams alike, so
	// the gap is the webhook's own work (secret check, parse, log line).
	pub, err := stack.Publisher(ctx, stack.Config.TopicTelegramUpdates)
	if err != nil {
		return r, err
	}
	minimal, stopMin, err := serveLocal(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			_, err = pub.Publish(r.Context(), events.Outgoing{Data: body})
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	if err != nil {
		return r, err
	}
	defer stopMin()

	// An update with an id and nothing the bot acts on: the webhook
	// publishes it whole; the consumer behind it has little to do.
	base := time.Now().UnixMilli() % 1e12
	round := 0
	body := func(i int) []byte {
		return []byte(`{"update_id":` + strconv.FormatInt(base+int64(round*n+i), 10) + `}`)
	}
	hdr := http.Header{"Content-Type": {"application/json"}, "X-Telegram-Bot-Api-Secret-Token": {stack.WebhookSecret}}
	hc := httpClient(conc)
	var hook, bareR, minR []loadResult
	for range o.repeat() {
		res, err := load(ctx, hc, stack.URL+"/TelegramWebhook", hdr, n, conc, body)
		if err != nil {
			return r, fmt.Errorf("webhook: %w", err)
		}
		round++
		hook = append(hook, res)
		if res, err = load(ctx, hc, bare, hdr, n, conc, body); err != nil {
			return r, fmt.Errorf("bare handler: %w", err)
		}
		bareR = append(bareR, res)
		if res, err = load(ctx, hc, minimal, hdr, n, conc, body); err != nil {
			return r, fmt.Errorf("minimal publish handler: %w", err)
		}
		minR = append(minR, res)
		o.logf("ingress: webhook %.0f/s, bare %.0f/s, publish-only %.0f/s", hook[len(hook)-1].rate, bareR[len(bareR)-1].rate, res.rate)
	}
	get := func(rs []loadResult, f func(loadResult) float64) []float64 {
		var out []float64
		for _, x := range rs {
			out = append(out, f(x))
		}
		return out
	}
	rate := func(x loadResult) float64 { return x.rate }
	p50 := func(x loadResult) float64 { return x.p50 }
	p99 := func(x loadResult) float64 { return x.p99 }
	main := newPair("webhook requests", "/s", get(hook, rate), "bare handler", get(bareR, rate), false)
	r.Pairs = append(r.Pairs,
		main,
		newPair("webhook p50", "ms", get(hook, p50), "bare handler", get(bareR, p50), true),
		newPair("webhook p99", "ms", get(hook, p99), "bare handler", get(bareR, p99), true),
		newPair("webhook requests", "/s", get(hook, rate), "publish-only handler", get(minR, rate), false),
		newPair("webhook p50", "ms", get(hook, p50), "publish-only handler", get(minR, p50), true),
		newPair("webhook p99", "ms", get(hook, p99), "publish-only handler", get(minR, p99), true),
	)
	r.Notes = append(r.Notes, "the publish-only handler publishes with the webhook's own publisher to its topic, "+
		"so the stack's consumer handles both streams alike (it runs meanwhile on the same cores)")
	r.Summary = summaryLine("ingress", fmt.Sprintf("%s webhook req/s (p50 %s ms, p99 %s ms) beside a bare handler's %s req/s",
		num(main.Figure.Median), num(stat(get(hook, p50)).Median), num(stat(get(hook, p99)).Median), num(main.Ceiling.Median)), main.Ratio)
	return r, nil
}
