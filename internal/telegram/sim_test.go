package telegram

import (
	"container/heap"
	"fmt"
	"slices"
	"time"
)

// The README's "Beyond one machine" quotes this simulation's output; rerun
// it with go test -run Example_scaleOut -v ./internal/telegram/.
//
// Each of `instances` processes has its own Limiter with the default
// production settings (TELEGRAM_MAX_RATE 25 shared by the instances,
// TELEGRAM_CHAT_RATE 1). Every chat runs refinements back to back, as fast
// as the limiter lets it (no model, no database: the worst case for the
// limits) or, with "every", no sooner than that after the previous one
// started (6 s: REFINE_RATE_LIMIT's default of 10 a minute per user). Each
// refinement is two messages ("Working on…", then the edit that becomes the
// result), each sent by an instance picked at random, as Cloud Run routes
// pushes, the second once the first has gone. Time is simulated (10
// minutes): the limiter's book/finish are called with the simulated clock,
// and waits are events.
func Example_scaleOut() {
	fmt.Println("instances chats every | refinements/s msgs/s | all chats, most msgs in 1 s: first 10 s, after | one chat, most msgs in 1 s, in 10 s")
	for _, sc := range []struct {
		instances, chats int
		every            time.Duration
	}{{1, 1, 0}, {1, 200, 0}, {56, 1, 0}, {56, 1, 6 * time.Second}, {56, 200, 0}, {56, 200, 6 * time.Second}, {56, 2000, 6 * time.Second}} {
		r := simulate(sc.instances, sc.chats, sc.every, 10*time.Minute)
		fmt.Printf("%9d %5d %5s | %13.1f %6.1f | %29d %6d | %20d %6d\n", sc.instances, sc.chats, sc.every,
			r.refinements, r.msgs, r.maxGlobalStart, r.maxGlobal1s, r.maxChat1s, r.maxChat10s)
	}
	// Output:
	// instances chats every | refinements/s msgs/s | all chats, most msgs in 1 s: first 10 s, after | one chat, most msgs in 1 s, in 10 s
	//         1     1    0s |           0.5    1.0 |                             3      1 |                    3     12
	//         1   200    0s |          12.3   25.0 |                            29     25 |                    1      2
	//        56     1    0s |           2.1    4.1 |                            12     27 |                   27     72
	//        56     1    6s |           0.2    0.3 |                             2      2 |                    2      5
	//        56   200    0s |          11.1   22.3 |                            56     54 |                    5      7
	//        56   200    6s |          11.0   22.2 |                            56     54 |                    4      6
	//        56  2000    6s |          11.7   25.0 |                            56     56 |                    2      3
}

type simResult struct {
	refinements, msgs                                  float64
	maxGlobalStart, maxGlobal1s, maxChat1s, maxChat10s int
}

// simEvent is a message whose next step is due at t.
type simEvent struct {
	t, seq  int64
	chat    int
	inst    int
	second  bool  // the refinement's second message
	started int64 // when its refinement started
	b       booking
	booked  bool
	sending bool // its wait is over: it goes at t
}

type simQueue []*simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if q[i].t != q[j].t {
		return q[i].t < q[j].t
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(*simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// splitmix is a fixed pseudo-random sequence: the output must not depend on
// the Go version's math/rand.
type splitmix uint64

func (s *splitmix) intn(n int) int {
	*s += 0x9E3779B97F4A7C15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return int((z ^ (z >> 31)) % uint64(n))
}

func simulate(instances, chats int, every, dur time.Duration) simResult {
	lims := make([]*Limiter, instances)
	for i := range lims {
		lims[i] = NewLimiter(Limits{Global: 25.0 / float64(instances), Chat: 1})
	}
	rng := splitmix(uint64(instances)<<32 | uint64(chats))
	var q simQueue
	var seq int64
	push := func(e *simEvent) { seq++; e.seq = seq; heap.Push(&q, e) }
	for c := range chats {
		push(&simEvent{chat: c + 1, inst: rng.intn(instances)})
	}
	end := int64(dur)
	var all []int64
	perChat := map[int][]int64{}
	done := 0
	for q.Len() > 0 {
		e := heap.Pop(&q).(*simEvent)
		if e.t >= end {
			break
		}
		lim := lims[e.inst]
		switch {
		case e.sending:
			all = append(all, e.t)
			perChat[e.chat] = append(perChat[e.chat], e.t)
			if e.second {
				done++
			}
			next := &simEvent{t: e.t, chat: e.chat, inst: rng.intn(instances), second: !e.second, started: e.started}
			if e.second {
				next.t = max(e.t, e.started+int64(every))
				next.started = next.t
			}
			push(next)
		case !e.booked:
			w, b, _ := lim.book(int64(e.chat), e.t, -1)
			e.b, e.booked = b, true
			e.t += w
			e.sending = !b.pending
			push(e)
		default: // the chat's slot has come: the global token
			w, _ := lim.finish(e.b, e.t, -1)
			e.t += w
			e.sending = true
			push(e)
		}
	}
	secs := dur.Seconds()
	r := simResult{refinements: float64(done) / secs, msgs: float64(len(all)) / secs}
	slices.Sort(all)
	warm, _ := slices.BinarySearch(all, int64(10*time.Second))
	r.maxGlobalStart = maxIn(all[:warm], int64(time.Second))
	r.maxGlobal1s = maxIn(all[warm:], int64(time.Second))
	for _, ts := range perChat {
		r.maxChat1s = max(r.maxChat1s, maxIn(ts, int64(time.Second)))
		r.maxChat10s = max(r.maxChat10s, maxIn(ts, int64(10*time.Second)))
	}
	return r
}

// maxIn is the most times in any window of length w.
func maxIn(ts []int64, w int64) int {
	slices.Sort(ts)
	best, j := 0, 0
	for i := range ts {
		for ts[i]-ts[j] >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}
