// Package sweep finds the work that redelivery cannot finish and finishes
// or fails it (the Sweeper function, run by Cloud Scheduler through the
// sweep topic, and periodically by devbot dev):
//
//   - refinement jobs queued but never published (the bot's publish after
//     its commit failed for good) or published long ago and never claimed:
//     published again;
//   - running jobs whose lease ran out with nobody renewing it (the
//     instance died and its deliveries were spent): published again, so
//     RefineJobs claims and resumes them;
//   - jobs that cannot finish (older than MaxAge, or published again
//     MaxSweeps times): failed through db.FailJob (credits released) and
//     the user told once (refine.Runner.Reply);
//   - finished jobs whose reply was never recorded: told;
//   - builds whose current step has no live message or lease: its step
//     published again; messages a build left unsent: sent (builds.go);
//   - paid Stripe events that went to the dead-letter topic (a database
//     outage outlasted their deliveries): applied with the billing handler
//     (idempotent on the event id and the ledger cause), acknowledged only
//     after success; a refund that came before its purchase is kept
//     (billing.ErrDeferred) until the purchase is credited.
//
// Money comes first: the dead-lettered events are credited before any job
// is touched, and telling users never waits (a reply another delivery is
// sending is skipped, and the first retryable Telegram error ends the
// telling), so a slow Telegram cannot use up the sweep's deadline.
//
// Each kind is bounded per run, and rows are taken with FOR UPDATE SKIP
// LOCKED and stamped (swept_at) in one transaction, so two sweeps at once
// never act on the same job twice.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/billing"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/refine"
)

// Config bounds a sweep.
type Config struct {
	// Lease is RefineJobs' lease (REFINE_LEASE): a running job's claim
	// older than Lease+Grace has no live holder.
	Lease time.Duration
	// Grace is how long a fresh job may stay queued before it counts as
	// unpublished (the bot publishes right after its commit, with retries);
	// default 2 minutes.
	Grace time.Duration
	// Again is the least time between two republications of one job;
	// default 10 minutes (a redelivery's backoff is at most 600 s).
	Again time.Duration
	// MaxAge: an unfinished job older than this is failed; default 2 hours.
	MaxAge time.Duration
	// MaxSweeps: a job published again this many times is failed; default 6.
	MaxSweeps int
	// Batch bounds each kind of job per run; default 100.
	Batch int
	// PaidBatch bounds the dead-lettered Stripe events per run; default 50.
	PaidBatch int
}

func (c Config) withDefaults() Config {
	if c.Grace <= 0 {
		c.Grace = 2 * time.Minute
	}
	if c.Again <= 0 {
		c.Again = 10 * time.Minute
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 2 * time.Hour
	}
	if c.MaxSweeps <= 0 {
		c.MaxSweeps = 6
	}
	if c.Batch <= 0 {
		c.Batch = 100
	}
	if c.PaidBatch <= 0 {
		c.PaidBatch = 50
	}
	return c
}

// Publisher publishes a job message (events.Publisher).
type Publisher interface {
	Publish(ctx context.Context, m events.Outgoing) (string, error)
}

// Replier tells a finished job's outcome, once, without waiting for a
// reply another delivery is sending: that is an error wrapping
// db.ErrReplyBusy (refine.Runner.TryReply).
type Replier interface {
	TryReply(ctx context.Context, id int64) error
}

// DeadLetters is the stripe-events dead-letter pull subscription.
type DeadLetters interface {
	Pull(ctx context.Context, max int) ([]Received, error)
	Ack(ctx context.Context, ackIDs []string) error
	Nack(ctx context.Context, ackIDs []string) error
}

// Received is one pulled message.
type Received struct {
	AckID     string
	MessageID string
	Data      []byte
}

// Sweeper runs sweeps.
type Sweeper struct {
	Config  Config
	DB      *db.DB
	Jobs    Publisher
	Replies Replier
	// Paid and HandleEvent credit dead-lettered Stripe events; nil skips
	// them (billing.Service.HandleEvent).
	Paid        DeadLetters
	HandleEvent func(ctx context.Context, payload []byte) error
	// Builds publishes build steps again; FlushBuild sends a build's
	// unsent messages (build.Runner). Nil skips builds.
	Builds     Publisher
	FlushBuild func(ctx context.Context, id int64) error
	Logger     *slog.Logger
}

// Report counts what one sweep did.
type Report struct {
	Republished int // queued or expired jobs published again
	Failed      int // jobs that could not finish, failed and told
	Told        int // finished jobs whose unrecorded reply was sent
	Credited    int // dead-lettered Stripe events applied (or refused for good) and acknowledged
	Deferred    int // dead-lettered refunds kept for their purchase (billing.ErrDeferred)
	Builds      int // stalled builds whose step was published again
	BuildTold   int // builds whose unsent messages were sent
}

// Abandoned is what the user is told about a job the sweeper fails.
const Abandoned = "I could not finish this refinement: it was interrupted too many times or took too long. " +
	"Nothing was changed or charged; please send it again."

// Run does one bounded sweep. It goes on past a failing part and returns
// the parts' errors joined (retryable when any is).
func (s *Sweeper) Run(ctx context.Context) (Report, error) {
	var rep Report
	var errs []error
	add := func(n *int, f func(context.Context) (int, error)) {
		k, err := f(ctx)
		*n += k
		if err != nil {
			errs = append(errs, err)
		}
	}
	// Credits first: telling users may be slow, and must not keep money
	// waiting past the deadline.
	if s.Paid != nil && s.HandleEvent != nil {
		k, err := s.credit(ctx, &rep)
		rep.Credited += k
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(&rep.Failed, s.failStuck)
	add(&rep.Republished, s.republish)
	add(&rep.Told, s.tell)
	add(&rep.Builds, s.republishBuilds)
	add(&rep.BuildTold, s.flushBuilds)
	s.Logger.InfoContext(ctx, "sweep done", "republished", rep.Republished, "failed", rep.Failed, "told", rep.Told,
		"credited", rep.Credited, "deferred", rep.Deferred, "builds", rep.Builds, "build_messages", rep.BuildTold, "errors", len(errs))
	if len(errs) > 0 {
		return rep, fault.AsRetryable(fmt.Errorf("sweep: %w", errors.Join(errs...)))
	}
	return rep, nil
}

// Handle is the Sweeper consumer's handler: any message on the sweep topic
// is a tick.
func (s *Sweeper) Handle(ctx context.Context, _ events.Message) error {
	_, err := s.Run(ctx)
	return err
}

// noLiveLease is the condition of a job nobody runs: queued, or running
// with a lease that ran out (or was released) a grace ago.
const noLiveLease = `(state = 'queued' OR (state = 'running' AND (claimed_at IS NULL AND started_at < now() - $2::interval
	OR claimed_at < now() - $2::interval - $3::interval)))`

// failStuck fails the jobs that cannot finish, in the transaction that
// takes them, then tells their users.
func (s *Sweeper) failStuck(ctx context.Context) (int, error) {
	c := s.Config.withDefaults()
	var ids []int64
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		ids = ids[:0]
		rows, err := tx.Query(ctx, `SELECT id FROM refine_jobs
			WHERE state IN ('queued', 'running') AND `+noLiveLease+`
				AND (created_at < now() - $4::interval OR sweeps >= $5)
			ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED`, c.Batch, c.Grace, c.Lease, c.MaxAge, c.MaxSweeps)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := db.FailJob(ctx, tx, id, db.JobFailure{State: db.JobFailed, Kind: "swept", Message: Abandoned}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("failing stuck jobs: %w", err)
	}
	for _, id := range ids {
		s.Logger.WarnContext(ctx, "job could not finish; failed by the sweeper", "job_id", id)
	}
	// The jobs are failed; what is not told now, tell picks up later.
	if _, err := s.tellEach(ctx, ids); err != nil {
		s.Logger.WarnContext(ctx, "failed jobs not all told yet; a later sweep tells them", "error", err.Error())
	}
	return len(ids), nil
}

// tellEach tells the jobs' outcomes without waiting: a reply another
// delivery is sending is skipped (that delivery tells it), and the first
// retryable error ends the telling, since the rest would fail on it too
// (Telegram or the database away) and each could take a call's whole
// timeout. The jobs not told are unstamped for the next sweep. It returns
// how many were told.
func (s *Sweeper) tellEach(ctx context.Context, ids []int64) (int, error) {
	n := 0
	var stop error
	var left []int64
	for i, id := range ids {
		err := s.Replies.TryReply(ctx, id)
		switch {
		case err == nil:
			n++
			continue
		case errors.Is(err, db.ErrReplyBusy):
			s.Logger.InfoContext(ctx, "job's reply is being sent by another delivery; skipped", "job_id", id)
			continue
		}
		stop = fmt.Errorf("job %d: %w", id, err)
		left = ids[i:]
		break
	}
	if stop == nil {
		return n, nil
	}
	if _, err := s.DB.Pool.Exec(context.WithoutCancel(ctx), `UPDATE refine_jobs SET swept_at = NULL
		WHERE id = ANY($1) AND reply_sent_at IS NULL`, left); err != nil {
		s.Logger.WarnContext(ctx, "untold jobs not unstamped; a later sweep tells them", "error", err.Error())
	}
	return n, fmt.Errorf("telling stopped with %d of %d jobs left: %w", len(left), len(ids), stop)
}

// republish publishes again the jobs nobody runs and no message will bring.
func (s *Sweeper) republish(ctx context.Context) (int, error) {
	c := s.Config.withDefaults()
	var jobs []db.Job
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		jobs = jobs[:0]
		rows, err := tx.Query(ctx, `UPDATE refine_jobs SET sweeps = sweeps + 1, swept_at = now()
			WHERE id IN (SELECT id FROM refine_jobs
				WHERE state IN ('queued', 'running') AND `+noLiveLease+`
					AND (swept_at IS NULL OR swept_at < now() - $4::interval)
					AND (state = 'running' OR coalesce(published_at, created_at) < now() - (CASE WHEN published_at IS NULL
						THEN $2::interval ELSE $4::interval END))
				ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED)
			RETURNING id, project_id::text, path`, c.Batch, c.Grace, c.Lease, c.Again)
		if err != nil {
			return err
		}
		jobs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (db.Job, error) {
			var j db.Job
			return j, r.Scan(&j.ID, &j.ProjectID, &j.Path)
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("taking jobs to publish again: %w", err)
	}
	n := 0
	var errs []error
	for _, j := range jobs {
		if _, err := s.Jobs.Publish(ctx, refine.Outgoing(j)); err != nil {
			errs = append(errs, fmt.Errorf("job %d: %w", j.ID, err))
			// Not published: the next sweep tries again at once.
			_, _ = s.DB.Pool.Exec(context.WithoutCancel(ctx), `UPDATE refine_jobs SET swept_at = NULL, sweeps = greatest(sweeps - 1, 0) WHERE id = $1`, j.ID)
			continue
		}
		if err := db.MarkJobPublished(ctx, s.DB.Pool, j.ID); err != nil {
			s.Logger.WarnContext(ctx, "job published again but not marked", "job_id", j.ID, "error", err.Error())
		}
		s.Logger.InfoContext(ctx, "job published again by the sweeper", "job_id", j.ID)
		n++
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("publishing jobs again: %w", errors.Join(errs...))
	}
	return n, nil
}

// tell sends the replies that finished jobs never recorded (a reply that
// failed for good is recorded too, so these are interrupted ones).
func (s *Sweeper) tell(ctx context.Context) (int, error) {
	c := s.Config.withDefaults()
	var ids []int64
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE refine_jobs SET swept_at = now()
			WHERE id IN (SELECT id FROM refine_jobs
				WHERE state IN ('succeeded', 'failed', 'rejected') AND reply_sent_at IS NULL
					AND finished_at < now() - $2::interval AND finished_at > now() - interval '7 days'
					AND (swept_at IS NULL OR swept_at < now() - $3::interval)
				ORDER BY finished_at LIMIT $1 FOR UPDATE SKIP LOCKED)
			RETURNING id`, c.Batch, c.Grace, c.Again)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("taking unreplied jobs: %w", err)
	}
	n, err := s.tellEach(ctx, ids)
	if err != nil {
		return n, fmt.Errorf("telling finished jobs: %w", err)
	}
	return n, nil
}

// credit applies dead-lettered Stripe events, acknowledging each only once
// it is applied (or refused for good, which billing records). A refund
// whose purchase is not credited yet (billing.ErrDeferred) is held, not
// acknowledged, and the sweep goes on: its purchase may be further on in
// the subscription. Once the rest is done, the held ones are tried once
// more if anything was credited after them, and what is still deferred is
// handed back for a later sweep. Any other retryable failure stops the
// credit: the database is likely still away, and the rest wait on the
// subscription for the next sweep.
func (s *Sweeper) credit(ctx context.Context, rep *Report) (int, error) {
	limit := s.Config.withDefaults().PaidBatch
	done, seen := 0, 0
	type held struct {
		Received
		after int // done when it was deferred
	}
	var deferred []held
	nack := func(ms []Received) {
		ids := make([]string, 0, len(ms))
		for _, m := range ms {
			ids = append(ids, m.AckID)
		}
		if err := s.Paid.Nack(context.WithoutCancel(ctx), ids); err != nil {
			// Not acknowledged either way: they come back once their ack
			// deadline passes.
			s.Logger.WarnContext(ctx, "dead-lettered Stripe events not handed back", "error", err.Error())
		}
	}
	heldOnly := func() []Received {
		out := make([]Received, 0, len(deferred))
		for _, h := range deferred {
			out = append(out, h.Received)
		}
		return out
	}
	// apply handles one message: acknowledged (true, nil), deferred
	// (false, nil), or a retryable failure.
	apply := func(m Received) (bool, error) {
		err := s.HandleEvent(ctx, m.Data)
		switch {
		case errors.Is(err, billing.ErrDeferred):
			s.Logger.InfoContext(ctx, "dead-lettered Stripe refund deferred until its purchase is credited", "message_id", m.MessageID)
			return false, nil
		case err != nil && !fault.IsPermanent(err):
			return false, fmt.Errorf("dead-lettered Stripe event (message %s): %w", m.MessageID, err)
		case err != nil:
			s.Logger.ErrorContext(ctx, "dead-lettered Stripe event refused for good; see the inbox", "message_id", m.MessageID, "error", err.Error())
		default:
			s.Logger.InfoContext(ctx, "dead-lettered Stripe event applied", "message_id", m.MessageID)
		}
		if err := s.Paid.Ack(ctx, []string{m.AckID}); err != nil {
			// Applied; it comes back and is found in the inbox.
			return false, fmt.Errorf("acknowledging dead-lettered Stripe event %s: %w", m.MessageID, err)
		}
		done++
		return true, nil
	}
	for seen < limit {
		msgs, err := s.Paid.Pull(ctx, min(10, limit-seen))
		if err != nil {
			nack(heldOnly())
			rep.Deferred += len(deferred)
			return done, fmt.Errorf("pulling dead-lettered Stripe events: %w", err)
		}
		if len(msgs) == 0 {
			break
		}
		for i, m := range msgs {
			seen++
			acked, err := apply(m)
			if err != nil {
				nack(append(heldOnly(), msgs[i:]...))
				rep.Deferred += len(deferred)
				return done, err
			}
			if !acked {
				deferred = append(deferred, held{m, done})
			}
		}
	}
	// A purchase credited after a refund was deferred may be the one it
	// waits for.
	var still []Received
	var err error
	for _, h := range deferred {
		if err != nil || h.after == done {
			still = append(still, h.Received)
			continue
		}
		var acked bool
		if acked, err = apply(h.Received); !acked {
			still = append(still, h.Received)
		}
	}
	nack(still)
	rep.Deferred += len(still)
	return done, err
}
