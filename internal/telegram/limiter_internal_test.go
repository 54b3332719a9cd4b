package telegram

import (
	"sync/atomic"
	"testing"
	"time"
)

const sec = int64(time.Second)

// A chat's state is dropped once it has run out: 10,000 chats that each got
// one message leave nothing a few minutes later, and a chat still owed
// spacing keeps its state.
func TestLimiterEvictsIdleChats(t *testing.T) {
	t.Parallel()
	l := NewLimiter(Limits{Global: 1e9, Chat: 1})
	for chat := int64(1); chat <= 10000; chat++ {
		if _, ok := l.reserve(chat, 0, -1); !ok {
			t.Fatal("refused without a deadline")
		}
	}
	if n := l.chats(); n != 10000 {
		t.Fatalf("%d chats kept, want 10000", n)
	}
	// chat -5 (a group) is owed spacing far into the future.
	for range 50 {
		l.reserve(-5, 0, -1)
	}
	now := 2 * int64(sweepEvery)
	for chat := int64(20001); chat <= 20640; chat++ { // touches every shard
		l.reserve(chat, now, -1)
	}
	if n := l.chats(); n != 640+1 {
		t.Errorf("%d chats kept after the sweep, want the 640 new ones and the group", n)
	}
	if w, _ := l.reserve(-5, now, -1); w <= 0 {
		t.Errorf("the group's debt was forgotten: wait %v", time.Duration(w))
	}
}

// The global bucket lets a fifth of a second's worth through at once, then
// spaces: over any second no more than rate + burst.
func TestLimiterGlobalRate(t *testing.T) {
	t.Parallel()
	l := NewLimiter(Limits{Global: 25})
	var at []int64
	for chat := int64(1); chat <= 200; chat++ { // distinct chats: only the global limit applies
		w, ok := l.reserve(chat, 0, -1)
		if !ok {
			t.Fatal("refused")
		}
		at = append(at, w)
	}
	for i := range at {
		n := 0
		for _, b := range at[i:] {
			if b-at[i] < sec {
				n++
			}
		}
		if n > 30 {
			t.Fatalf("%d sends in the second from %v", n, time.Duration(at[i]))
		}
	}
	if last := time.Duration(at[len(at)-1]); last < 7*time.Second || last > 8*time.Second {
		t.Errorf("200 sends at 25/s end at %v, want about 7.8 s", last)
	}
}

// BenchmarkLimiter is one reservation (the lock of the chat's shard, its
// map, the global bucket's CAS) from all Ps at once, each on its own
// chats; "global" has only the global bucket, "hot-chat" all on one chat.
func BenchmarkLimiter(b *testing.B) {
	run := func(b *testing.B, l *Limiter, sameChat bool) {
		var next atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			base := next.Add(1) << 32
			i := int64(0)
			for pb.Next() {
				chat := base + i%4096
				if sameChat {
					chat = 1
				}
				l.reserve(chat, l.now(), -1)
				i++
			}
		})
	}
	b.Run("chats", func(b *testing.B) { run(b, NewLimiter(Limits{Global: 1e9, Chat: 1}), false) })
	b.Run("global", func(b *testing.B) { run(b, NewLimiter(Limits{Global: 25}), false) })
	b.Run("hot-chat", func(b *testing.B) { run(b, NewLimiter(Limits{Global: 1e9, Chat: 1}), true) })
}
