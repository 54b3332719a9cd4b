package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/devstack"
)

// loadResult is one round of a closed-loop load: n requests, c in flight.
type loadResult struct {
	rate     float64 // requests per second
	p50, p99 float64 // ms
}

func httpClient(conc int) *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc * 2, IdleConnTimeout: 90 * time.Second}}
}

// load POSTs n requests to url with conc workers; body(i) is request i's
// body. Any answer but 2xx is an error.
func load(ctx context.Context, hc *http.Client, url string, header http.Header, n, conc int, body func(i int) []byte) (loadResult, error) {
	var next atomic.Int64
	lat := make([]float64, n)
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	t0 := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body(i)))
				for k, v := range header {
					req.Header[k] = v
				}
				s := time.Now()
				resp, err := hc.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode/100 != 2 {
						err = fmt.Errorf("%s answered %s", url, resp.Status)
					}
				}
				lat[i] = float64(time.Since(s).Microseconds()) / 1e3
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	if firstErr != nil {
		return loadResult{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return loadResult{}, err
	}
	return loadResult{rate: float64(n) / el.Seconds(), p50: percentile(lat, 50), p99: percentile(lat, 99)}, nil
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// startStack starts devbot dev's stack on a free port: DATABASE_URL if the
// environment sets it, else a throwaway local PostgreSQL cluster; no model
// (direct edits only), the fake Bot API, embedded Pub/Sub. extra overrides
// settings; tracer, if not nil, traces devbot's pool.
func startStack(ctx context.Context, o Options, extra map[string]string, tracer pgx.QueryTracer) (*devstack.Stack, func(), error) {
	lookup := o.Lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	env := func(k string) (string, bool) {
		if v, ok := extra[k]; ok {
			return v, true
		}
		switch k {
		case "DATABASE_URL", "DATABASE_EXEC_MODE", "PATH", "HOME", "TMPDIR", "PGBIN":
			return lookup(k)
		}
		return "", false
	}
	dir, err := os.MkdirTemp("", "devbot-bench-")
	if err != nil {
		return nil, nil, err
	}
	o.logf("starting a devbot dev stack (data in %s)", dir)
	s, err := devstack.Start(ctx, devstack.Options{Addr: "127.0.0.1:0", DataDir: dir, FreshDatabase: true,
		Model: devstack.ModelConfigured, Lookup: env, DBTracer: tracer, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return s, func() { s.Close(); os.RemoveAll(dir) }, nil
}
