package sweep

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/build"
	"github.com/devbot-hq/devbot/internal/db"
)

// Builds stall the way jobs do: a step whose message was never published
// (the publish after the commit failed), a step claimed by an instance
// that died (its lease ran out and its deliveries were spent), a step
// whose message was lost. The sweep publishes the current step again (the
// step message is idempotent: a stale one is acknowledged), and sends the
// messages a build left unsent.

// republishBuilds publishes the current step of stalled builds.
func (s *Sweeper) republishBuilds(ctx context.Context) (int, error) {
	if s.Builds == nil {
		return 0, nil
	}
	c := s.Config.withDefaults()
	type step struct{ id, seq int64 }
	var steps []step
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		steps = steps[:0]
		bs, err := db.StalledBuilds(ctx, tx, c.Lease+c.Grace, c.Again, c.Batch)
		if err != nil {
			return err
		}
		for _, b := range bs {
			if err := db.TouchBuild(ctx, tx, b.ID); err != nil {
				return err
			}
			steps = append(steps, step{b.ID, b.StepSeq})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, st := range steps {
		if err := build.Publish(ctx, s.DB.Pool, s.Builds, st.id, st.seq); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// flushBuilds sends the messages builds left unsent.
func (s *Sweeper) flushBuilds(ctx context.Context) (int, error) {
	if s.FlushBuild == nil {
		return 0, nil
	}
	c := s.Config.withDefaults()
	ids, err := db.BuildsWithUnsentMessages(ctx, s.DB.Pool, c.Grace, c.Batch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if err := s.FlushBuild(ctx, id); err != nil {
			return n, err // Telegram is struggling: the next sweep goes on
		}
		n++
	}
	return n, nil
}
