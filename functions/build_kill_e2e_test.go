package functions

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/sweep"
)

// TestBuildInstanceKilled: the BuildSteps instance running task 1 dies in
// its editor call. Instance A gets every build-steps push until then; at
// the kill its database connections are cut (so it neither renews its
// lease nor commits) and Pub/Sub's delivery fails, as a dead instance's
// does. The redeliveries go to instance B, which finds the lease live
// until it runs out (REFINE_LEASE) and then resumes the step: either a
// redelivery does, or, once the deliveries are spent, the sweeper
// publishes the step again. The build completes once: each model call of
// the script answered once, each task committed and charged once, one zip.
func TestBuildInstanceKilled(t *testing.T) {
	t.Parallel()
	t.Run("redelivery", func(t *testing.T) {
		t.Parallel()
		buildKilled(t, false)
	})
	t.Run("sweeper", func(t *testing.T) {
		t.Parallel()
		buildKilled(t, true)
	})
}

// pgProxy forwards TCP connections to PostgreSQL until it is cut.
type pgProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	dead   bool
}

func newPGProxy(t *testing.T, target string) *pgProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			p.mu.Lock()
			if err != nil || p.dead {
				p.mu.Unlock()
				c.Close()
				if up != nil {
					up.Close()
				}
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

// cut closes the proxy and every connection through it.
func (p *pgProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dead = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

// killSwitch hands build-steps pushes to instance a until killed; then a
// push a is running fails (503) while a goes on, unseen, and the rest go
// to the world's own BuildSteps.
type killSwitch struct {
	a      atomic.Value // http.Handler
	killed chan struct{}
	ctx    context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

func (k *killSwitch) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		select {
		case <-k.killed:
			next.ServeHTTP(rw, r)
			return
		default:
		}
		if r.URL.Path != "/"+BuildStepsName {
			next.ServeHTTP(rw, r)
			return
		}
		req := r.Clone(k.ctx) // a's work outlives the push it came in
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		k.wg.Go(func() {
			k.a.Load().(http.Handler).ServeHTTP(rec, req)
			close(done)
		})
		select {
		case <-done:
			for key, v := range rec.Header() {
				rw.Header()[key] = v
			}
			rw.WriteHeader(rec.Code)
			_, _ = rw.Write(rec.Body.Bytes())
		case <-k.killed:
			http.Error(rw, "the instance died", http.StatusServiceUnavailable)
		}
	})
}

func buildKilled(t *testing.T, bySweeper bool) {
	g := newModelGate(t, noQuestions, partsSpec(2), createReply(1), approved, createReply(2), approved, readmeMade)
	dies := g.hold("editor", 1, true) // never answered: instance A dies in it
	k := &killSwitch{killed: make(chan struct{})}
	k.ctx, k.stop = context.WithCancel(context.Background())
	opts := buildOpts{extra: map[string]string{"BUILD_TASK_CREDITS": "5", "REFINE_LEASE": "2s"}, wrap: k.wrap}
	if bySweeper {
		// Five deliveries 50-200 ms apart are spent well before a 3 s
		// lease runs out: the last one gives up on a busy step.
		opts.extra["REFINE_LEASE"] = "3s"
	} else {
		opts.stepsBackoff, opts.stepsAttempts = time.Second, 10
		opts.extra["MAX_DELIVERY_ATTEMPTS"] = "10"
	}
	w := newBuildWorld(t, g, opts)
	u, err := url.Parse(w.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	proxy := newPGProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	k.a.Store(w.instance(u.String()))
	t.Cleanup(func() { k.stop(); k.wg.Wait() }) // A's call ends, before its Deps close

	id := w.begin("15")
	dies.wait(t)
	before := w.build()
	if before.ClaimedAt == nil || before.CurrentTask != 0 {
		t.Fatalf("task 1 is not claimed while its editor works: %+v", before)
	}
	proxy.cut()
	close(k.killed)

	if bySweeper {
		time.Sleep(1500 * time.Millisecond)
		if b := w.build(); b.Attempts != before.Attempts || b.State != "running" {
			t.Fatalf("before the lease ran out: %d attempts (was %d), %s", b.Attempts, before.Attempts, b.State)
		}
		s, err := w.deps.Sweeper(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s.Paid, s.HandleEvent = nil, nil
		s.Config = sweep.Config{Lease: 3 * time.Second, Grace: 100 * time.Millisecond, Again: time.Minute}
		deadline := time.Now().Add(20 * time.Second)
		for {
			rep, err := s.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if rep.Builds > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the sweeper never published the dead instance's step again")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	w.waitFor("✅ <b>parts</b> is built", 40*time.Second)
	b := w.waitState("done")
	if b.Attempts <= before.Attempts {
		t.Errorf("attempts %d, want more than %d (the step was claimed again)", b.Attempts, before.Attempts)
	}
	if n := g.answered(); n != 7 {
		t.Errorf("%d model calls answered, want 7", n)
	}
	if calls := g.calls(); len(calls) != 8 || calls[2] != "editor" || calls[3] != "editor" {
		t.Errorf("model calls %v, want task 1's edit twice (the dead instance's and the resumed one)", calls)
	}
	ledger := w.ledger()
	for _, cause := range []string{"task:1:1", "task:2:1", "task:3:1"} {
		if ledger["build:"+strconv.FormatInt(id, 10)+":"+cause] != -3 {
			t.Errorf("charges %v lack %s", ledger, cause)
		}
	}
	if len(ledger) != 3 {
		t.Errorf("charges %v, want 3", ledger)
	}
	var balance, held int64
	w.scan(`SELECT balance, held FROM users`, &balance, &held)
	if balance != 11 || held != 0 {
		t.Errorf("balance %d, held %d; want 11, 0", balance, held)
	}
	if n := w.count(`SELECT count(*) FROM change_sets WHERE build_id = $1`, id); n != 3 {
		t.Errorf("%d change sets, want 3", n)
	}
	if n := w.count(`SELECT count(*) FROM file_versions WHERE path = 'part1.py'`); n != 1 {
		t.Errorf("part1.py has %d versions, want 1", n)
	}
	if n := len(w.tg.Calls("sendDocument")); n != 1 {
		t.Errorf("%d zips, want 1", n)
	}
}
