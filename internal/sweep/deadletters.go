package sweep

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Subscription pulls a subscription with unary Pull (fast on pstest and the
// emulator, plain on the service).
type Subscription struct {
	Client *pubsub.Client
	Name   string // projects/P/subscriptions/S
	// Wait bounds one Pull: the service holds an empty Pull open for a
	// while; default 5 s.
	Wait time.Duration
}

// Pull returns up to max messages; none when the subscription is empty,
// or does not exist (a project without the dead-letter subscription yet).
func (s *Subscription) Pull(ctx context.Context, max int) ([]Received, error) {
	wait := s.Wait
	if wait <= 0 {
		wait = 5 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	resp, err := s.Client.SubscriptionAdminClient.Pull(pctx, &pubsubpb.PullRequest{Subscription: s.Name, MaxMessages: int32(max)})
	switch {
	case err == nil:
	case ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded):
		return nil, nil
	case status.Code(err) == codes.NotFound:
		return nil, nil
	default:
		return nil, fmt.Errorf("pulling %s: %w", s.Name, err)
	}
	out := make([]Received, 0, len(resp.ReceivedMessages))
	for _, m := range resp.ReceivedMessages {
		out = append(out, Received{AckID: m.AckId, MessageID: m.Message.GetMessageId(), Data: m.Message.GetData()})
	}
	return out, nil
}

// Ack acknowledges messages for good.
func (s *Subscription) Ack(ctx context.Context, ackIDs []string) error {
	if len(ackIDs) == 0 {
		return nil
	}
	return s.Client.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: s.Name, AckIds: ackIDs})
}

// Nack hands messages back at once.
func (s *Subscription) Nack(ctx context.Context, ackIDs []string) error {
	if len(ackIDs) == 0 {
		return nil
	}
	return s.Client.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{
		Subscription: s.Name, AckIds: ackIDs, AckDeadlineSeconds: 0})
}
