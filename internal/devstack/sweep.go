package devstack

import (
	"context"
	"fmt"
	"time"

	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/devbot-hq/devbot/functions"
	"github.com/devbot-hq/devbot/internal/events"
)

// SweepEvery is how often devbot dev ticks the sweeper, as Cloud Scheduler
// does in production (infra/terraform/sweeper.tf); DEV_SWEEP_EVERY (a
// duration) overrides it.
const SweepEvery = time.Minute

// startSweeps publishes a tick to the sweep topic every SweepEvery, so the
// Sweeper runs through its push subscription exactly as in production. It
// also makes the stripe-events dead-letter pull subscription the sweeper
// credits from (production's <topic>-dead-letter-sub).
func (s *Stack) startSweeps(ctx context.Context, opts Options, deps *functions.Deps) error {
	every := SweepEvery
	if v, ok := opts.Lookup("DEV_SWEEP_EVERY"); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("DEV_SWEEP_EVERY=%q is not a positive duration", v)
		}
		every = d
	}
	client, err := deps.PubSubClient(ctx)
	if err != nil {
		return err
	}
	project := "projects/" + s.Config.GoogleCloudProject
	dlq := functions.DeadLetterTopic(s.Config.TopicStripeEvents)
	_, err = client.SubscriptionAdminClient.CreateSubscription(ctx, &pb.Subscription{
		Name:  project + "/subscriptions/" + functions.DeadLetterPullSubscription(s.Config.TopicStripeEvents),
		Topic: project + "/topics/" + dlq, AckDeadlineSeconds: 60})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return err
	}
	pub, err := deps.Publisher(ctx, s.Config.TopicSweep)
	if err != nil {
		return err
	}
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-tctx.Done():
				return
			case <-t.C:
			}
			if _, err := pub.Publish(tctx, events.Outgoing{Data: []byte(`{"sweep":true}`)}); err != nil && tctx.Err() == nil {
				s.say("sweep: tick not published: %v", err)
			}
		}
	}()
	s.closers = append(s.closers, func() error { cancel(); <-done; return nil })
	s.say("sweep: a tick to /%s every %s", functions.SweeperName, every)
	return nil
}
