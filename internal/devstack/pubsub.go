package devstack

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/devbot-hq/devbot/functions"
	"github.com/devbot-hq/devbot/internal/events/embedded"
)

// subscription is one push subscription of the pipeline, named and wired as
// infra/ does in production (functions.Targets says which topic feeds which
// consumer).
type subscription struct {
	topic, name, consumer string
	ordering              bool
}

func (s *Stack) subscriptions() []subscription {
	var subs []subscription
	for _, t := range functions.Targets() {
		if t.Consumes == "" {
			continue
		}
		topic := functions.TopicName(s.Config, t.Consumes)
		subs = append(subs, subscription{topic: topic, name: functions.PushSubscription(topic), consumer: t.Name,
			ordering: functions.OrderedTopics[t.Consumes]})
	}
	return subs
}

// consumers lists the push endpoints: "/TelegramUpdates, /RefineJobs, …".
func (s *Stack) consumers() string {
	var names []string
	for _, sub := range s.subscriptions() {
		names = append(names, "/"+sub.consumer)
	}
	return strings.Join(names, ", ")
}

func deadLetterTopic(topic string) string { return functions.DeadLetterTopic(topic) }

func (s *Stack) startPubSub(ctx context.Context, opts Options, deps *functions.Deps) error {
	if opts.PubSub == "emulator" {
		return s.startEmulatorSubscriptions(ctx, deps)
	}
	var specs []embedded.TopicSpec
	for _, sub := range s.subscriptions() {
		specs = append(specs, embedded.TopicSpec{
			Topic: sub.topic, Subscription: sub.name, PushEndpoint: s.URL + "/" + sub.consumer,
			DeadLetterTopic: deadLetterTopic(sub.topic), MaxAttempts: s.Config.MaxDeliveryAttempts,
			MinBackoff: 250 * time.Millisecond, MaxBackoff: 10 * time.Second,
			AckDeadline: s.Config.HandlerTimeout + 10*time.Second, Ordering: sub.ordering,
		})
	}
	srv, err := embedded.Start(ctx, embedded.Config{Project: s.Config.GoogleCloudProject, Topics: specs, Logger: opts.Logger})
	if err != nil {
		return fmt.Errorf("embedded Pub/Sub: %w", err)
	}
	s.closers = append(s.closers, srv.Close)
	deps.SetPubSubClient(srv.Client)
	s.say("pubsub: embedded (pstest) with push loops to %s; dead letters after %d attempts", s.consumers(), s.Config.MaxDeliveryAttempts)
	return nil
}
