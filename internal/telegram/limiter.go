package telegram

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Telegram answers 429 beyond about 30 messages a second per bot, about one
// a second per chat and 20 a minute per group (facts/telegram.md). A 429
// costs a Pub/Sub redelivery of the whole handler, so the client spaces its
// sends itself (Limiter) and keeps 429s for what it cannot see: other
// instances. The limiter is per process: Cloud Run runs many, so the
// global rate each gets is the bot's budget divided by how many may run at
// once (TELEGRAM_MAX_RATE / TELEGRAM_INSTANCES, README "Beyond one
// machine").

const (
	// ChatBurst is how many messages a chat may get at once before the
	// per-chat spacing applies: one refinement sends its "Working on…",
	// the edit that turns it into the result and sometimes a document
	// within a second or two, and Telegram tolerates a short burst
	// (bursts, then 429). More than that is a flood, which it punishes.
	ChatBurst = 3
	// GroupPerMinute is Telegram's figure for groups; with ChatBurst at
	// once the sustained rate is (GroupPerMinute-ChatBurst)/min, so that
	// no minute holds more than GroupPerMinute.
	GroupPerMinute = 20
	// TypingEvery is the least time between two chat actions in a chat:
	// "typing…" shows for up to 5 s or until the next message, so one every
	// 4 s keeps it on, and more is noise Telegram counts against the bot.
	TypingEvery = 4 * time.Second
	// typingSlack is how long a chat action waits for its turn; beyond it
	// the one sent less than TypingEvery ago still shows, so it is skipped.
	typingSlack = 500 * time.Millisecond
	// sweepEvery is how often a shard drops the chats whose state has run
	// out (their next message would go at once): an idle chat costs nothing.
	sweepEvery = time.Minute
	shardBits  = 6
)

// Clock is the limiter's time: real time, or a test's fake.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done (then its error).
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Limits configures a Limiter. A zero rate turns that limit off.
type Limits struct {
	// Global is the messages per second this process may send to all
	// chats together (the bot's budget divided by the instances that
	// share it).
	Global float64
	// Chat is the messages per second to one private chat, after a burst
	// of ChatBurst; groups (negative chat ids) get GroupPerMinute/60 of it.
	Chat float64
	// Clock is nil for real time.
	Clock Clock
}

// pace is one GCRA ("virtual scheduling") rate: a message may go when
// now >= tat-tau, and moves tat on by interval. tau = (burst-1)*interval.
type pace struct{ interval, tau int64 }

func paceOf(perSecond float64, burst int) pace {
	if perSecond <= 0 || math.IsInf(perSecond, 1) || math.IsNaN(perSecond) {
		return pace{}
	}
	iv := int64(float64(time.Second) / perSecond)
	return pace{interval: max(iv, 1), tau: int64(burst-1) * max(iv, 1)}
}

// Limiter spaces a process's sends: a global token bucket (GCRA on one
// atomic) and per-chat spacing in sharded maps, so that chats never wait
// for each other beyond the global rate. Safe for concurrent use.
type Limiter struct {
	clock   Clock
	epoch   time.Time
	global  pace
	private pace
	group   pace
	gTAT    atomic.Int64 // the global bucket's theoretical arrival time, ns since epoch
	shards  [1 << shardBits]shard
}

type shard struct {
	mu    sync.Mutex
	chats map[int64]chatState
	swept int64
	_     [40]byte // keeps two shards' locks off one cache line
}

// chatState is one chat's debt; a state whose times are all past is the
// same as none, which is what makes eviction exact.
type chatState struct {
	tat     int64 // when the chat's bucket is full again
	blocked int64 // nothing before this: a 429's retry_after
	typing  int64 // no chat action before this
}

func (s chatState) idle(now int64) bool { return s.tat <= now && s.blocked <= now && s.typing <= now }

// NewLimiter returns a limiter for l, or nil when l limits nothing (a nil
// *Limiter is valid: the client then sends at once, as without one).
func NewLimiter(l Limits) *Limiter {
	if l.Global <= 0 && l.Chat <= 0 {
		return nil
	}
	c := l.Clock
	if c == nil {
		c = realClock{}
	}
	lim := &Limiter{clock: c, epoch: c.Now(),
		// A fifth of a second's worth at once (at least one): at the default
		// 25/s a single instance then never exceeds 30 in any second.
		global:  paceOf(l.Global, max(1, int(l.Global/5))),
		private: paceOf(l.Chat, ChatBurst),
		group:   paceOf(l.Chat*float64(GroupPerMinute-ChatBurst)/60, ChatBurst),
	}
	for i := range lim.shards {
		lim.shards[i].chats = map[int64]chatState{}
	}
	return lim
}

func (l *Limiter) now() int64 { return int64(l.clock.Now().Sub(l.epoch)) }

func (l *Limiter) shard(chat int64) *shard {
	return &l.shards[(uint64(chat)*0x9E3779B97F4A7C15)>>(64-shardBits)]
}

func (l *Limiter) paceFor(chat int64) pace {
	if chat < 0 { // groups, supergroups and channels; private chats are the user's positive id
		return l.group
	}
	return l.private
}

// takeGlobal reserves the global bucket's first slot at or after arrival
// that leaves tol of tolerance, refusing one later than latest. It returns
// the slot's time.
func (l *Limiter) takeGlobal(arrival, latest, tol int64) (int64, bool) {
	if l.global.interval == 0 {
		return arrival, arrival <= latest
	}
	for {
		old := l.gTAT.Load()
		at := max(arrival, old-tol)
		if at > latest {
			return at, false
		}
		if l.gTAT.CompareAndSwap(old, max(old, at)+l.global.interval) {
			return at, true
		}
	}
}

// booking is a chat's slot taken by book. When the chat had to wait for it,
// the global token is taken only when the slot comes (finish): a token
// booked ahead would hold every other chat behind this one's spacing.
type booking struct {
	chat    int64
	tat     int64 // the chat's tat this booking set, to undo it
	pending bool  // the global token is still to take
}

// book takes chat's next slot no later than now+budget (budget < 0: no
// limit) and returns how long to wait for it; !ok books nothing, and wait
// says how long it would have been.
func (l *Limiter) book(chat, now, budget int64) (wait int64, b booking, ok bool) {
	sh := l.shard(chat)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.sweep(now)
	st := sh.chats[chat]
	p := l.paceFor(chat)
	earliest := max(now, st.blocked)
	if p.interval > 0 {
		earliest = max(earliest, st.tat-p.tau)
	}
	latest := now + budget
	if budget < 0 || latest < now { // overflow: no deadline
		latest = math.MaxInt64
	}
	if earliest > latest {
		return earliest - now, booking{}, false
	}
	at := earliest
	pending := earliest > now
	if !pending {
		if at, ok = l.takeGlobal(now, latest, l.global.tau); !ok {
			return at - now, booking{}, false
		}
	}
	if p.interval > 0 {
		st.tat = max(st.tat, at) + p.interval
	}
	if !st.idle(now) {
		sh.chats[chat] = st
	}
	return at - now, booking{chat: chat, tat: st.tat, pending: pending && l.global.interval > 0}, true
}

// finish takes the global token of a booking whose slot has come (now),
// no later than now+budget, and returns the wait for it. A token past the
// budget is not taken and the chat's slot is given back if no later one
// was booked on top of it. Waiting for the global token after the chat's
// slot may bring this message closer to the chat's next one than the
// spacing: the chat's later bookings are moved on by the delay.
func (l *Limiter) finish(b booking, now, budget int64) (wait int64, ok bool) {
	if !b.pending {
		return 0, true
	}
	latest := now + budget
	if budget < 0 || latest < now {
		latest = math.MaxInt64
	}
	at, ok := l.takeGlobal(now, latest, l.global.tau)
	if ok && at == now {
		return 0, true
	}
	p := l.paceFor(b.chat)
	sh := l.shard(b.chat)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := sh.chats[b.chat]
	switch {
	case !ok && st.tat == b.tat && p.interval > 0:
		st.tat -= p.interval
	case ok && p.interval > 0:
		st.tat = max(st.tat, at+p.interval)
	}
	if !st.idle(now) {
		sh.chats[b.chat] = st
	}
	return at - now, ok
}

// reserve books and finishes at once, as a sender whose slot is now does
// (tests and the benchmark).
func (l *Limiter) reserve(chat, now, budget int64) (wait int64, ok bool) {
	wait, b, ok := l.book(chat, now, budget)
	if !ok || !b.pending {
		return wait, ok
	}
	w2, ok := l.finish(b, now+wait, budget-wait)
	return wait + w2, ok
}

// typing books a chat action in chat: ok with the wait (at most
// typingSlack), or !ok when it should be skipped (one went out less than
// TypingEvery ago, the chat is blocked, or the global bucket is not at
// least half full: a cosmetic status never takes the last tokens a
// message needs).
func (l *Limiter) typing(chat, now int64) (wait int64, ok bool) {
	sh := l.shard(chat)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.sweep(now)
	st := sh.chats[chat]
	at := max(now, st.typing)
	if st.blocked > now || at-now > int64(typingSlack) {
		return 0, false
	}
	// The token is taken now even when the action waits for its turn: a
	// token booked ahead would hold every other chat back (see booking).
	if _, ok := l.takeGlobal(now, now, l.global.tau/2); !ok {
		return 0, false
	}
	st.typing = at + int64(TypingEvery)
	sh.chats[chat] = st
	return at - now, true
}

// block holds chat's sends until now+d (Telegram's retry_after), then lets
// one through and spaces the rest: no burst right after a flood warning.
func (l *Limiter) block(chat int64, d time.Duration) {
	now := l.now()
	sh := l.shard(chat)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := sh.chats[chat]
	st.blocked = max(st.blocked, now+int64(d))
	st.tat = max(st.tat, st.blocked+l.paceFor(chat).tau)
	sh.chats[chat] = st
}

func (sh *shard) sweep(now int64) {
	if now-sh.swept < int64(sweepEvery) {
		return
	}
	sh.swept = now
	for id, st := range sh.chats {
		if st.idle(now) {
			delete(sh.chats, id)
		}
	}
}

// chats counts the chats whose state is kept (tests: eviction).
func (l *Limiter) chats() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.chats)
		sh.mu.Unlock()
	}
	return n
}

var shared struct {
	sync.Mutex
	m map[sharedKey]*Limiter
}

type sharedKey struct {
	token        string
	global, chat float64
}

// SharedLimiter returns the process's one limiter for a bot (token) and
// rates, made on first use: callers that build a Client per request (the
// functions' Deps) still share one budget. It is nil when l limits nothing.
// l.Clock must be nil.
func SharedLimiter(token string, l Limits) *Limiter {
	if l.Global <= 0 && l.Chat <= 0 {
		return nil
	}
	k := sharedKey{token, l.Global, l.Chat}
	shared.Lock()
	defer shared.Unlock()
	if lim := shared.m[k]; lim != nil {
		return lim
	}
	if shared.m == nil {
		shared.m = map[sharedKey]*Limiter{}
	}
	lim := NewLimiter(Limits{Global: l.Global, Chat: l.Chat})
	shared.m[k] = lim
	return lim
}
