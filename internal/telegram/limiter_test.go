package telegram_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/telegram"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

// fakeClock's Sleep moves its time on at once: the tests see the seconds
// the limiter waits without spending them.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1764000000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// stamped records when (on the fake clock) each request left the client.
type stamped struct {
	clock *fakeClock
	mu    sync.Mutex
	at    []time.Duration // since start
	start time.Time
	next  http.RoundTripper
}

func (s *stamped) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.at = append(s.at, s.clock.Now().Sub(s.start))
	s.mu.Unlock()
	return s.next.RoundTrip(r)
}

func (s *stamped) times() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.at...)
}

// limitedSetup is a client with a limiter of limits on a fake clock, against
// the fake Bot API, and the record of when its requests went.
func limitedSetup(t *testing.T, limits telegram.Limits) (*telegram.Client, *telegramtest.Server, *fakeClock, *stamped) {
	t.Helper()
	srv := telegramtest.New(t)
	clk := newFakeClock()
	st := &stamped{clock: clk, start: clk.Now(), next: srv.Client().Transport}
	limits.Clock = clk
	c := telegram.New(srv.URL, srv.Token, &http.Client{Transport: st}).WithLimiter(telegram.NewLimiter(limits))
	return c, srv, clk, st
}

func send(ctx context.Context, c *telegram.Client, chat int64) error {
	_, err := c.SendMessage(ctx, telegram.SendMessage{ChatID: chat, Text: "x"})
	return err
}

// A private chat gets ChatBurst messages at once, then one a second; a
// group no more than GroupPerMinute in any minute.
func TestLimiterChatSpacing(t *testing.T) {
	t.Parallel()
	c, _, _, st := limitedSetup(t, telegram.Limits{Chat: 1})
	ctx := context.Background()
	for range 6 {
		if err := send(ctx, c, 42); err != nil {
			t.Fatal(err)
		}
	}
	want := []time.Duration{0, 0, 0, time.Second, 2 * time.Second, 3 * time.Second}
	if got := st.times(); !equalDurations(got, want) {
		t.Errorf("private chat: sent at %v, want %v", got, want)
	}

	c, _, _, st = limitedSetup(t, telegram.Limits{Chat: 1})
	for range 45 {
		if err := send(ctx, c, -100123); err != nil {
			t.Fatal(err)
		}
	}
	at := st.times()
	for i := range at {
		n := 0
		for _, b := range at[i:] {
			if b-at[i] < time.Minute {
				n++
			}
		}
		if n > telegram.GroupPerMinute {
			t.Fatalf("group: %d messages in the minute from %v (times %v)", n, at[i], at)
		}
	}
	if last := at[len(at)-1]; last > 3*time.Minute {
		t.Errorf("group: 45 messages took %v, want the ~2.5 min the limit allows", last)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if d := a[i] - b[i]; d < -time.Millisecond || d > time.Millisecond {
			return false
		}
	}
	return true
}

// A 429's retry_after holds the chat: the send is tried again after it (the
// message was not sent), and when the deadline does not allow the wait the
// error is retryable with the Retry-After left.
func TestLimiterHonours429(t *testing.T) {
	t.Parallel()
	c, srv, _, st := limitedSetup(t, telegram.Limits{Chat: 1})
	srv.Fail("sendMessage", 429, "Too Many Requests: retry after 3", 3)
	if err := send(context.Background(), c, 7); err != nil {
		t.Fatalf("a 429 with retry_after 3 and no deadline: %v", err)
	}
	if got, want := st.times(), []time.Duration{0, 3 * time.Second}; !equalDurations(got, want) {
		t.Errorf("attempts at %v, want %v", got, want)
	}
	if n := len(srv.Sent(7)); n != 1 {
		t.Errorf("%d messages arrived, want 1", n)
	}

	// retry_after 30 with 5 s left: no second attempt within this request.
	srv.Fail("sendMessage", 429, "Too Many Requests: retry after 30", 30)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := send(ctx, c, 8)
	if !fault.IsRetryable(err) || !errors.Is(err, fault.ErrRateLimited) {
		t.Fatalf("err = %v, want retryable and rate limited", err)
	}
	if ra := fault.RetryAfterOf(err); ra < 29*time.Second || ra > 30*time.Second {
		t.Errorf("Retry-After %v, want about 30 s", ra)
	}
	if n := len(st.times()); n != 3 {
		t.Errorf("%d requests, want 3 (the 429 of chat 8 once)", n)
	}
	// Another chat is not held by chat 8's 429.
	if err := send(ctx, c, 9); err != nil {
		t.Errorf("chat 9: %v", err)
	}

	// A 429 on every attempt: tried three times, then the 429 itself.
	for range 3 {
		srv.Fail("sendMessage", 429, "Too Many Requests: retry after 1", 1)
	}
	err = send(context.Background(), c, 10)
	var ae *telegram.APIError
	if !errors.As(err, &ae) || ae.Code != 429 || fault.RetryAfterOf(err) != time.Second {
		t.Errorf("three 429s: %v", err)
	}
}

// A deadline shorter than the chat's wait gives a retryable error with the
// wait as Retry-After, sends nothing and books nothing.
func TestLimiterDeadlineShorterThanWait(t *testing.T) {
	t.Parallel()
	c, srv, clk, st := limitedSetup(t, telegram.Limits{Chat: 1})
	for range telegram.ChatBurst {
		if err := send(context.Background(), c, 5); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := send(ctx, c, 5)
	if !fault.IsRetryable(err) || !errors.Is(err, fault.ErrRateLimited) || fault.RetryAfterOf(err) != time.Second {
		t.Fatalf("err = %v (Retry-After %v), want retryable, rate limited, after 1s", err, fault.RetryAfterOf(err))
	}
	if n := len(srv.Sent(5)); n != telegram.ChatBurst {
		t.Errorf("%d messages arrived, want %d", n, telegram.ChatBurst)
	}
	clk.Advance(time.Second)
	if err := send(context.Background(), c, 5); err != nil {
		t.Fatal(err)
	}
	if at := st.times(); at[len(at)-1] != time.Second {
		t.Errorf("the next send went at %v, want 1s: the refused one booked a slot", at[len(at)-1])
	}
}

// One busy chat, whose sends wait for their turn, does not slow the others
// (real time: the waiter must hold no lock).
func TestLimiterChatsIndependent(t *testing.T) {
	t.Parallel()
	srv := telegramtest.New(t)
	c := telegram.New(srv.URL, srv.Token, srv.Client()).WithLimiter(telegram.NewLimiter(telegram.Limits{Global: 1000, Chat: 1}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 8 { // chat 1: a burst, then 5 waiting up to 5 s
		wg.Add(1)
		go func() { defer wg.Done(); _ = send(ctx, c, 1) }()
	}
	srv.WaitSent(t, 1, telegram.ChatBurst, 5*time.Second)
	start := time.Now()
	var others sync.WaitGroup
	for chat := int64(2); chat < 12; chat++ {
		for range telegram.ChatBurst {
			others.Add(1)
			go func() {
				defer others.Done()
				if err := send(context.Background(), c, chat); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	others.Wait()
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Errorf("10 other chats took %v beside the busy one, want well under its 1 s spacing", d)
	}
	if n := len(srv.Sent(1)); n != telegram.ChatBurst {
		t.Errorf("the busy chat got %d messages meanwhile, want %d", n, telegram.ChatBurst)
	}
	cancel()
	wg.Wait()
}

// "typing…" goes out at most once per TypingEvery per chat; the ones in
// between are no-ops that say nil.
func TestLimiterTypingOncePer4s(t *testing.T) {
	t.Parallel()
	c, srv, clk, st := limitedSetup(t, telegram.Limits{Chat: 1})
	ctx := context.Background()
	typing := func() {
		t.Helper()
		if err := c.SendChatAction(ctx, 3, telegram.ChatActionTyping); err != nil {
			t.Fatal(err)
		}
	}
	typing()
	typing()
	clk.Advance(3 * time.Second)
	typing() // 1 s early: skipped
	clk.Advance(700 * time.Millisecond)
	typing() // 300 ms early: waits for its turn
	if got, want := st.times(), []time.Duration{0, 4 * time.Second}; !equalDurations(got, want) {
		t.Errorf("chat actions at %v, want %v", got, want)
	}
	if n := len(srv.Calls("sendChatAction")); n != 2 {
		t.Errorf("%d chat actions, want 2", n)
	}
	// Messages to the chat are not held up by its chat actions.
	if err := send(ctx, c, 3); err != nil {
		t.Fatal(err)
	}
	if at := st.times(); at[len(at)-1] != 4*time.Second {
		t.Errorf("a message after the actions went at %v, want at once (4s)", at[len(at)-1])
	}
}

// Without limits there is no limiter, and the process shares one per bot.
func TestSharedLimiter(t *testing.T) {
	t.Parallel()
	if l := telegram.SharedLimiter("t", telegram.Limits{}); l != nil {
		t.Errorf("no limits gave a limiter")
	}
	a := telegram.SharedLimiter("t", telegram.Limits{Global: 25, Chat: 1})
	if a == nil || a != telegram.SharedLimiter("t", telegram.Limits{Global: 25, Chat: 1}) {
		t.Errorf("two limiters for one bot and rates")
	}
	if a == telegram.SharedLimiter("u", telegram.Limits{Global: 25, Chat: 1}) {
		t.Errorf("two bots share a limiter")
	}
}
