package devstack

import (
	"context"
	"fmt"
	"time"

	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/devbot-hq/devbot/functions"
	"github.com/devbot-hq/devbot/internal/events/emulator"
)

// startEmulator runs the installed Pub/Sub emulator for the stack's lifetime.
func (s *Stack) startEmulator() (string, error) {
	e, err := emulator.Start()
	if err != nil {
		return "", fmt.Errorf("--pubsub=emulator: %w", err)
	}
	s.closers = append(s.closers, e.Stop)
	return e.Host, nil
}

// startEmulatorSubscriptions declares the topics and real push
// subscriptions on the emulator, as infra/ does in production: the emulator
// itself POSTs to the consumers, and each dead-letter topic pushes to its
// consumer's DeadLetterPath.
func (s *Stack) startEmulatorSubscriptions(ctx context.Context, deps *functions.Deps) error {
	client, err := deps.PubSubClient(ctx)
	if err != nil {
		return err
	}
	project := "projects/" + s.Config.GoogleCloudProject
	topic := func(id string) string { return project + "/topics/" + id }
	createTopic := func(id string) error {
		_, err := client.TopicAdminClient.CreateTopic(ctx, &pb.Topic{Name: topic(id)})
		if status.Code(err) == codes.AlreadyExists {
			return nil
		}
		return err
	}
	for _, sub := range s.subscriptions() {
		dlq := deadLetterTopic(sub.topic)
		for _, id := range []string{sub.topic, dlq} {
			if err := createTopic(id); err != nil {
				return fmt.Errorf("emulator: topic %s: %w", id, err)
			}
		}
		subs := []*pb.Subscription{
			// Kept for inspection and devbot replay.
			{Name: project + "/subscriptions/" + dlq, Topic: topic(dlq), AckDeadlineSeconds: 60},
			// The emulator sends no deliveryAttempt, so consumers never give
			// up on their own: the dead-letter push makes them (job failed,
			// credits released, user told).
			{Name: project + "/subscriptions/" + functions.PushSubscription(dlq), Topic: topic(dlq),
				PushConfig:         &pb.PushConfig{PushEndpoint: s.URL + "/" + sub.consumer + functions.DeadLetterPath},
				AckDeadlineSeconds: 60},
			{Name: project + "/subscriptions/" + sub.name, Topic: topic(sub.topic),
				PushConfig:            &pb.PushConfig{PushEndpoint: s.URL + "/" + sub.consumer},
				AckDeadlineSeconds:    int32(min(600, (s.Config.HandlerTimeout + 10*time.Second).Seconds())),
				EnableMessageOrdering: sub.ordering,
				RetryPolicy: &pb.RetryPolicy{MinimumBackoff: durationpb.New(time.Second),
					MaximumBackoff: durationpb.New(10 * time.Second)},
				DeadLetterPolicy: &pb.DeadLetterPolicy{DeadLetterTopic: topic(dlq),
					MaxDeliveryAttempts: int32(max(5, s.Config.MaxDeliveryAttempts))}},
		}
		for _, ps := range subs {
			if _, err := client.SubscriptionAdminClient.CreateSubscription(ctx, ps); err != nil && status.Code(err) != codes.AlreadyExists {
				return fmt.Errorf("emulator: subscription %s: %w", ps.Name, err)
			}
		}
	}
	s.say("pubsub: the Pub/Sub emulator at %s, with push subscriptions to %s", s.Config.PubSubEmulatorHost, s.consumers())
	return nil
}
