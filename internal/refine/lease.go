package refine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
)

// How a delivery owns the job it runs (see DESIGN.md, "Leases and the
// sweeper"):
//
//   - ClaimJob takes a lease of Config.Lease (claimed_at) and counts an
//     attempt; the attempt number fences everything the delivery records.
//   - A heartbeat renews the lease every Config.Heartbeat while the work
//     runs. A renewal that finds the lease taken (or one that could not
//     renew for a whole lease) cancels the work: another delivery owns the
//     job now, and the fenced commit would refuse this one's outcome anyway.
//   - A retryable failure releases the lease, so the redelivery claims the
//     job at once; Shutdown (SIGTERM) cancels the work in flight and
//     releases its leases the same way.
//   - A delivery that finds the lease live waits for it, up to
//     Config.ClaimWait, instead of answering 503 at once: Pub/Sub push
//     ignores Retry-After, so a redelivery that arrives while a dead
//     instance's lease runs out must pick the job up itself, or its
//     attempts are spent on 503s.

// ErrInterrupted is the cause of work stopped by Shutdown: the job is
// handed back (its lease released) for a redelivery or the sweeper.
var ErrInterrupted = errors.New("refine: the instance is shutting down")

// work is a job being run by this instance.
type work struct {
	attempt int
	cancel  context.CancelCauseFunc
}

// heartbeat is Config.Heartbeat, or a third of the lease: two renewals may
// fail before the lease runs out.
func (c Config) heartbeat() time.Duration {
	if c.Heartbeat > 0 {
		return c.Heartbeat
	}
	return c.Lease / 3
}

// claim takes the job, waiting up to Config.ClaimWait for a live lease to
// be released, to run out, or for its holder to finish the job. With the
// job comes its project's state, read in the claim's round trip (nil when
// a fallback claimed it: the run reads the state itself then).
func (r *Runner) claim(ctx context.Context, id int64) (db.Job, *db.ProjectState, error) {
	if r.closing() {
		return db.Job{}, nil, fault.AsRetryable(fmt.Errorf("refine: job %d: %w", id, ErrInterrupted))
	}
	deadline := time.Now().Add(r.Config.ClaimWait)
	for {
		j, st, err := db.ClaimJobWithState(ctx, r.DB.Pool, id, r.Config.Lease)
		if !errors.Is(err, db.ErrJobBusy) {
			return j, st, err
		}
		wait := min(fault.RetryAfterOf(err), time.Second) // poll: the holder may finish or release first
		if wait <= 0 {
			wait = time.Second
		}
		if time.Now().Add(wait).After(deadline) {
			return j, st, err
		}
		select {
		case <-ctx.Done():
			return j, st, err
		case <-time.After(wait):
		}
	}
}

// runLeased runs the claimed job under its heartbeat, registered for
// Shutdown. An interruption (lease lost, shutdown) comes back as a
// retryable error wrapping its cause.
func (r *Runner) runLeased(ctx context.Context, j db.Job, st *db.ProjectState) (*told, error) {
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if !r.track(j, cancel) {
		return nil, fault.AsRetryable(fmt.Errorf("refine: job %d: %w", j.ID, ErrInterrupted))
	}
	defer r.untrack(j.ID)
	stop := make(chan struct{})
	beat := make(chan struct{})
	go func() {
		defer close(beat)
		r.heartbeat(wctx, j, cancel, stop)
	}()
	t, err := r.run(wctx, j, st)
	close(stop)
	<-beat
	if err == nil {
		return t, nil
	}
	if ierr := interruption(wctx); ierr != nil && ctx.Err() == nil {
		return nil, fault.AsRetryable(fmt.Errorf("refine: job %d stopped: %w (%v)", j.ID, ierr, err))
	}
	return nil, err
}

// interruption is why ctx was cancelled, when that was a lost lease or a
// shutdown.
func interruption(ctx context.Context) error {
	cause := context.Cause(ctx)
	if errors.Is(cause, db.ErrLeaseLost) || errors.Is(cause, ErrInterrupted) {
		return cause
	}
	return nil
}

// heartbeat renews j's lease until stop closes.
func (r *Runner) heartbeat(ctx context.Context, j db.Job, cancel context.CancelCauseFunc, stop <-chan struct{}) {
	every := r.Config.heartbeat()
	if r.Config.Lease <= 0 || every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	renewed := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Its own deadline: a renewal must not outlive the beat.
		rctx, done := context.WithTimeout(context.WithoutCancel(ctx), every)
		ok, err := db.RenewJobLease(rctx, r.DB.Pool, j.ID, j.Attempts)
		done()
		switch {
		case err == nil && ok:
			renewed = time.Now()
		case err == nil:
			r.Logger.WarnContext(ctx, "job lease taken by another delivery; stopping this one", "attempt", j.Attempts)
			cancel(fmt.Errorf("job %d attempt %d: %w", j.ID, j.Attempts, db.ErrLeaseLost))
			return
		case time.Since(renewed) >= r.Config.Lease:
			r.Logger.WarnContext(ctx, "job lease not renewed for a whole lease; stopping", "attempt", j.Attempts, "error", err.Error())
			cancel(fmt.Errorf("job %d attempt %d: %w (renewal failed: %v)", j.ID, j.Attempts, db.ErrLeaseLost, err))
			return
		default:
			r.Logger.WarnContext(ctx, "job lease not renewed; trying again", "error", err.Error())
		}
	}
}

func (r *Runner) track(j db.Job, cancel context.CancelCauseFunc) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shutdown {
		return false
	}
	if r.inflight == nil {
		r.inflight = map[int64]work{}
	}
	r.inflight[j.ID] = work{attempt: j.Attempts, cancel: cancel}
	return true
}

func (r *Runner) untrack(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.inflight, id)
}

func (r *Runner) closing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.shutdown
}

// Shutdown stops the work in flight and releases its leases, so that the
// redeliveries its failed requests cause claim the jobs at once on another
// instance; later deliveries to this instance are handed back unclaimed.
// Cloud Run kills an instance 10 s after SIGTERM, far sooner than a model
// call ends: work that waited for it would be cut off with its lease held.
func (r *Runner) Shutdown(ctx context.Context) {
	r.mu.Lock()
	r.shutdown = true
	inflight := make(map[int64]work, len(r.inflight))
	for id, w := range r.inflight {
		inflight[id] = w
	}
	r.mu.Unlock()
	for id, w := range inflight {
		w.cancel(fmt.Errorf("job %d: %w", id, ErrInterrupted))
	}
	for id, w := range inflight {
		// After the cancel: a commit under way holds the row, and this
		// waits for it (then finds the job finished and changes nothing).
		if err := db.ReleaseJobLeaseOf(ctx, r.DB.Pool, id, w.attempt); err != nil {
			r.Logger.WarnContext(ctx, "job lease not released at shutdown; a redelivery waits for it to run out",
				"job_id", id, "error", err.Error())
		} else {
			r.Logger.InfoContext(ctx, "job handed back at shutdown", "job_id", id, "attempt", w.attempt)
		}
	}
}
