package embedded_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/events/embedded"
	"github.com/devbot-hq/devbot/internal/events/emulatortest"
)

// backend is a Pub/Sub that pushes to HTTP endpoints: the embedded server
// or the Google Cloud Pub/Sub emulator with real push subscriptions.
type backend interface {
	// start creates the topics and subscriptions of specs (as embedded.Start
	// does) and returns a client and a reader of dead-letter topics.
	start(t *testing.T, specs []embedded.TopicSpec) env
	// sendsAttempts: whether pushes carry deliveryAttempt (the emulator's
	// do not).
	sendsAttempts() bool
}

type env struct {
	client      *pubsub.Client
	deadLetters func(t *testing.T, topic string) []events.Message
}

type embeddedBackend struct{}

func (embeddedBackend) sendsAttempts() bool { return true }

func (embeddedBackend) start(t *testing.T, specs []embedded.TopicSpec) env {
	t.Helper()
	s, err := embedded.Start(context.Background(), embedded.Config{Project: "devbot-test", Topics: specs,
		Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return env{client: s.Client, deadLetters: func(t *testing.T, topic string) []events.Message {
		t.Helper()
		msgs, err := s.DeadLetters(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		return msgs
	}}
}

// emulatorBackend shares one emulator between the scenarios of a test.
type emulatorBackend struct {
	host string
}

func (emulatorBackend) sendsAttempts() bool { return false }

func (e emulatorBackend) start(t *testing.T, specs []embedded.TopicSpec) env {
	t.Helper()
	ctx := context.Background()
	const project = "devbot-test"
	c, err := pubsub.NewClient(ctx, project, option.WithEndpoint(e.host), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	topic := func(id string) string { return "projects/" + project + "/topics/" + id }
	sub := func(id string) string { return "projects/" + project + "/subscriptions/" + id }
	made := map[string]bool{}
	mkTopic := func(id string) {
		if made[id] {
			return
		}
		made[id] = true
		if _, err := c.TopicAdminClient.CreateTopic(ctx, &pb.Topic{Name: topic(id)}); err != nil {
			t.Fatalf("create topic %s: %v", id, err)
		}
	}
	for _, s := range specs {
		mkTopic(s.Topic)
	}
	inspect := map[string]string{}
	for _, s := range specs {
		if s.DeadLetterTopic == "" || inspect[s.DeadLetterTopic] != "" {
			continue
		}
		mkTopic(s.DeadLetterTopic)
		name := sub(s.DeadLetterTopic + "-inspect")
		if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pb.Subscription{Name: name,
			Topic: topic(s.DeadLetterTopic), AckDeadlineSeconds: 60}); err != nil {
			t.Fatal(err)
		}
		inspect[s.DeadLetterTopic] = name
	}
	for _, s := range specs {
		if s.Subscription == "" {
			continue
		}
		pc := &pb.PushConfig{PushEndpoint: s.PushEndpoint}
		if s.Unwrapped {
			pc.Wrapper = &pb.PushConfig_NoWrapper_{NoWrapper: &pb.PushConfig_NoWrapper{WriteMetadata: true}}
		}
		ps := &pb.Subscription{Name: sub(s.Subscription), Topic: topic(s.Topic), PushConfig: pc,
			AckDeadlineSeconds: 20, EnableMessageOrdering: s.Ordering}
		if s.MinBackoff > 0 {
			ps.RetryPolicy = &pb.RetryPolicy{MinimumBackoff: durationpb.New(s.MinBackoff),
				MaximumBackoff: durationpb.New(max(s.MaxBackoff, s.MinBackoff))}
		}
		if s.DeadLetterTopic != "" {
			ps.DeadLetterPolicy = &pb.DeadLetterPolicy{DeadLetterTopic: topic(s.DeadLetterTopic),
				MaxDeliveryAttempts: int32(max(s.MaxAttempts, 5))}
		}
		if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, ps); err != nil {
			t.Fatalf("create subscription %s: %v", s.Subscription, err)
		}
	}
	var mu sync.Mutex
	seen := map[string][]events.Message{}
	return env{client: c, deadLetters: func(t *testing.T, dlq string) []events.Message {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := c.SubscriptionAdminClient.Pull(ctx, &pb.PullRequest{Subscription: inspect[dlq],
			MaxMessages: 100, ReturnImmediately: true})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, rm := range resp.ReceivedMessages {
			m := rm.GetMessage()
			seen[dlq] = append(seen[dlq], events.Message{ID: m.GetMessageId(), Data: m.GetData(),
				Attributes: m.GetAttributes(), OrderingKey: m.GetOrderingKey(), PublishTime: m.GetPublishTime().AsTime()})
			ids = append(ids, rm.AckId)
		}
		if len(ids) > 0 {
			if err := c.SubscriptionAdminClient.Acknowledge(ctx, &pb.AcknowledgeRequest{
				Subscription: inspect[dlq], AckIds: ids}); err != nil {
				t.Fatal(err)
			}
		}
		return append([]events.Message(nil), seen[dlq]...)
	}}
}

// startEmulator is shared by the emulator's scenarios.
func startEmulator(t *testing.T) emulatorBackend {
	return emulatorBackend{host: emulatortest.Start(t).Host}
}
