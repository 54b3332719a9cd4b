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
//   - paid Stripe events that went to the dead-letter topic (a database
//     outage outlasted their deliveries): applied with the billing handler
//     (idempotent on the event id and the ledger cause), acknowledged only
//     after success.
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

// Replier tells a finished job's outcome, once (refine.Runner).
type Replier interface {
	Reply(ctx context.Context, id int64) error
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
	Logger      *slog.Logger
}

// Report counts what one sweep did.
type Report struct {
	Republished int // queued or expired jobs published again
	Failed      int // jobs that could not finish, failed and told
	Told        int // finished jobs whose unrecorded reply was sent
	Credited    int // dead-lettered Stripe events applied (or refused for good) and acknowledged
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
	add(&rep.Failed, s.failStuck)
	add(&rep.Republished, s.republish)
	add(&rep.Told, s.tell)
	if s.Paid != nil && s.HandleEvent != nil {
		add(&rep.Credited, s.credit)
	}
	s.Logger.InfoContext(ctx, "sweep done", "republished", rep.Republished, "failed", rep.Failed, "told", rep.Told,
		"credited", rep.Credited, "errors", len(errs))
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
		if err := s.Replies.Reply(ctx, id); err != nil {
			// The job is failed; tell picks the reply up on a later sweep.
			s.Logger.WarnContext(ctx, "failed job not told yet", "job_id", id, "error", err.Error())
		}
	}
	return len(ids), nil
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
	n := 0
	var errs []error
	for _, id := range ids {
		if err := s.Replies.Reply(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("job %d: %w", id, err))
			continue
		}
		n++
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("telling finished jobs: %w", errors.Join(errs...))
	}
	return n, nil
}

// credit applies dead-lettered Stripe events, acknowledging each only once
// it is applied (or refused for good, which billing records). It stops at
// the first retryable failure: the database is likely still away, and the
// rest wait on the subscription for the next sweep.
func (s *Sweeper) credit(ctx context.Context) (int, error) {
	limit := s.Config.withDefaults().PaidBatch
	done := 0
	for done < limit {
		msgs, err := s.Paid.Pull(ctx, min(10, limit-done))
		if err != nil {
			return done, fmt.Errorf("pulling dead-lettered Stripe events: %w", err)
		}
		if len(msgs) == 0 {
			return done, nil
		}
		for i, m := range msgs {
			err := s.HandleEvent(ctx, m.Data)
			if err != nil && !fault.IsPermanent(err) {
				rest := make([]string, 0, len(msgs)-i)
				for _, r := range msgs[i:] {
					rest = append(rest, r.AckID)
				}
				_ = s.Paid.Nack(context.WithoutCancel(ctx), rest)
				return done, fmt.Errorf("dead-lettered Stripe event (message %s): %w", m.MessageID, err)
			}
			if err != nil {
				s.Logger.ErrorContext(ctx, "dead-lettered Stripe event refused for good; see the inbox", "message_id", m.MessageID, "error", err.Error())
			} else {
				s.Logger.InfoContext(ctx, "dead-lettered Stripe event applied", "message_id", m.MessageID)
			}
			if err := s.Paid.Ack(ctx, []string{m.AckID}); err != nil {
				// Applied; it comes back and is found in the inbox.
				return done, fmt.Errorf("acknowledging dead-lettered Stripe event %s: %w", m.MessageID, err)
			}
			done++
		}
	}
	return done, nil
}
