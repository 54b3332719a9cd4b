package functions

import (
	"context"
	"net/http"

	"github.com/devbot-hq/devbot/internal/build"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/refine"
	"github.com/devbot-hq/devbot/internal/sweep"
)

// buildSweeper is the Sweeper consumer: Cloud Scheduler publishes a tick to
// the sweep topic every few minutes; each delivery runs one bounded sweep
// (internal/sweep): stuck jobs published again or failed, unreplied ones
// told, dead-lettered Stripe events credited.
func buildSweeper(ctx context.Context, d *Deps) (http.Handler, error) {
	s, err := d.Sweeper(ctx)
	if err != nil {
		return nil, err
	}
	// A tick that failed every attempt is only a missed sweep: the next
	// tick does its work.
	giveUp := func(ctx context.Context, m events.Message, cause error) error {
		d.Logger.WarnContext(ctx, "sweep given up; the next tick sweeps again", "error", cause.Error())
		return nil
	}
	return d.consumer(ctx, SweeperName, s.Handle, giveUp)
}

// Sweeper builds the sweeper, for the Sweeper function and devbot dev.
func (d *Deps) Sweeper(ctx context.Context) (*sweep.Sweeper, error) {
	pool, err := d.DB(ctx)
	if err != nil {
		return nil, err
	}
	files, err := d.Storage()
	if err != nil {
		return nil, err
	}
	jobs, err := d.Publisher(ctx, d.Config.TopicRefineJobs)
	if err != nil {
		return nil, err
	}
	client, err := d.PubSubClient(ctx)
	if err != nil {
		return nil, err
	}
	svc, err := d.Billing(ctx)
	if err != nil {
		return nil, err
	}
	builds, err := d.Publisher(ctx, d.Config.TopicBuildSteps)
	if err != nil {
		return nil, err
	}
	c := d.Config
	// Replies go through the runner, so a job is told once whoever tells it.
	runner := &refine.Runner{Config: RefineLeaseConfig(c.RefineLease, c.HandlerTimeout), DB: pool, Files: files,
		Telegram: d.Telegram(), Logger: d.Logger}
	return &sweep.Sweeper{
		Config: sweep.Config{Lease: runner.Config.Lease},
		DB:     pool, Jobs: jobs, Replies: runner, Logger: d.Logger,
		Paid: &sweep.Subscription{Client: client,
			Name: "projects/" + c.GoogleCloudProject + "/subscriptions/" + DeadLetterPullSubscription(c.TopicStripeEvents)},
		HandleEvent: svc.HandleDeadLettered, // records a permanent refusal in the inbox, keeps an early refund replayable
		Builds:      builds,
		FlushBuild: func(ctx context.Context, id int64) error {
			return build.Flush(ctx, pool, d.Telegram(), files, d.Logger, id)
		},
	}, nil
}

// DeadLetterPullSubscription names the pull subscription that keeps a
// topic's dead letters (for devbot replay and the sweeper).
func DeadLetterPullSubscription(topic string) string { return DeadLetterTopic(topic) + "-sub" }
