package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/devbot-hq/devbot/internal/fault"
)

// Publisher publishes to one topic with message ordering enabled. Make one
// per topic and reuse it (it batches and keeps a connection); Stop flushes.
type Publisher struct {
	topic string
	p     *pubsub.Publisher
}

// NewPublisher returns a publisher for topicID (an id or a full
// projects/P/topics/T name) on client. With PUBSUB_EMULATOR_HOST set, the
// client library talks to the emulator.
func NewPublisher(ctx context.Context, client *pubsub.Client, topicID string) *Publisher {
	p := client.Publisher(topicID)
	p.EnableMessageOrdering = true
	// Every caller waits for its own confirmation (a webhook answers only
	// after it): the default 10 ms batching delay would be added to each
	// request, for batches that rarely form at our volumes.
	p.PublishSettings.DelayThreshold = time.Millisecond
	return &Publisher{topic: topicID, p: p}
}

// Topic returns the topic the publisher was made for.
func (p *Publisher) Topic() string { return p.topic }

// Publish publishes m and waits until the service confirms it, returning
// the message id. After a failure the client pauses m's ordering key (later
// messages with it fail at once, so they cannot overtake the lost one);
// Publish resumes the key before returning the error, so the caller's retry
// (a redelivery of the message being handled, or a webhook's retry) can
// publish again. Errors are retryable, except a message the service refuses
// as invalid (too large, bad attributes), which no retry can fix.
func (p *Publisher) Publish(ctx context.Context, m Outgoing) (id string, err error) {
	res := p.p.Publish(ctx, &pubsub.Message{Data: m.Data, Attributes: m.Attributes, OrderingKey: m.OrderingKey})
	id, err = res.Get(ctx)
	if err == nil {
		return id, nil
	}
	if m.OrderingKey != "" {
		p.p.ResumePublish(m.OrderingKey)
	}
	code := status.Code(err)
	err = fmt.Errorf("Publish(%s, key %q): %w", p.topic, m.OrderingKey, err)
	if errors.Is(err, pubsub.ErrOversizedMessage) {
		return "", fault.AsPermanent(fmt.Errorf("%w: %w", fault.ErrTooLarge, err))
	}
	if code == codes.InvalidArgument {
		return "", fault.AsPermanent(fmt.Errorf("%w: %w", fault.ErrInvalid, err))
	}
	return "", fault.AsRetryable(fmt.Errorf("%w: %w", fault.ErrUnavailable, err))
}

// Stop flushes pending messages and releases the publisher.
func (p *Publisher) Stop() { p.p.Stop() }
