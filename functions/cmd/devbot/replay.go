package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/devbot-hq/devbot/internal/config"
)

func init() {
	register("replay", command{
		summary: "re-publish a dead-letter subscription's messages to a topic",
		usage: `devbot replay --subscription telegram-updates-dead-letter-sub --topic telegram-updates [--max 100] [--dry-run]

Pulls up to --max messages from the dead-letter subscription and publishes
each to --topic with its data, its attributes (less the ones Pub/Sub adds
when dead-lettering) and its ordering key (the message's own, or the
--ordering-key-attribute attribute). A message is acknowledged on the
dead-letter subscription only after its publish is confirmed, so a failure
loses nothing: the message stays for the next run.

--dry-run lists each message's id, publish time and attributes (never its
data) and leaves every message in place.

Names may be ids or full resource names (projects/P/...). The project is
GOOGLE_CLOUD_PROJECT; PUBSUB_EMULATOR_HOST points at an emulator.
Credentials: Application Default Credentials (gcloud auth
application-default login) with roles/pubsub.subscriber on the
subscription and roles/pubsub.publisher on the topic.`,
		run: replay,
	})
}

// deadLetterAttributes are added by Pub/Sub when it dead-letters a
// message. They describe the old journey, not the new one, so the replayed
// message goes without them.
var deadLetterAttributes = []string{
	"CloudPubSubDeadLetterSourceDeliveryCount",
	"CloudPubSubDeadLetterSourceSubscription",
	"CloudPubSubDeadLetterSourceSubscriptionProject",
	"CloudPubSubDeadLetterSourceTopicPublishTime",
}

// ReplayedFromAttribute names the dead-lettered message a replayed message
// was copied from, for the logs.
const ReplayedFromAttribute = "devbot_replayed_from"

type replayOptions struct {
	subscription string // full name
	topic        string // full name
	max          int
	dryRun       bool
	orderingAttr string
	batch        int
	// wait bounds one Pull: the service holds an empty Pull open for a
	// while before it answers with nothing.
	wait time.Duration
}

func replay(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	sub := fs.String("subscription", "", "dead-letter subscription to drain (id or projects/P/subscriptions/S)")
	topic := fs.String("topic", "", "topic to re-publish to (id or projects/P/topics/T)")
	limit := fs.Int("max", 100, "largest number of messages to replay (or list)")
	dryRun := fs.Bool("dry-run", false, "list the messages' ids and attributes, publish and acknowledge nothing")
	orderingAttr := fs.String("ordering-key-attribute", "ordering_key", "attribute that carries the ordering key when the message has none of its own (empty: none)")
	wait := fs.Duration("wait", 10*time.Second, "how long one pull waits for messages before replay ends")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	switch {
	case fs.NArg() > 0:
		return usageError("unexpected arguments: " + strings.Join(fs.Args(), " "))
	case *sub == "":
		return usageError("--subscription is required")
	case *topic == "" && !*dryRun:
		return usageError("--topic is required (or use --dry-run)")
	case *limit < 1:
		return usageError("--max must be at least 1")
	case *wait <= 0:
		return usageError("--wait must be positive")
	}
	cfg, err := config.Load(e.lookup, config.PubSub)
	if err != nil {
		return err
	}
	client, err := newPubSubClient(ctx, cfg)
	if err != nil {
		return err
	}
	defer client.Close()

	opts := replayOptions{
		subscription: resourceName(cfg.GoogleCloudProject, "subscriptions", *sub),
		max:          *limit, dryRun: *dryRun, orderingAttr: *orderingAttr, batch: 100, wait: *wait,
	}
	if *topic != "" {
		opts.topic = resourceName(cfg.GoogleCloudProject, "topics", *topic)
	}
	n, err := replayMessages(ctx, client, opts, e.stdout)
	verb := "replayed"
	if opts.dryRun {
		verb = "listed"
	}
	fmt.Fprintf(e.stdout, "%s %d message(s) from %s\n", verb, n, opts.subscription)
	return err
}

// newPubSubClient connects to Pub/Sub, or to the emulator when
// PUBSUB_EMULATOR_HOST is set (read through the command's environment, not
// the process's, so tests can point it at an in-process server).
func newPubSubClient(ctx context.Context, cfg *config.Config) (*pubsub.Client, error) {
	var opts []option.ClientOption
	if cfg.PubSubEmulatorHost != "" {
		opts = append(opts, option.WithEndpoint(cfg.PubSubEmulatorHost), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
	c, err := pubsub.NewClient(ctx, cfg.GoogleCloudProject, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to Pub/Sub: %w", err)
	}
	return c, nil
}

func resourceName(project, kind, name string) string {
	if strings.HasPrefix(name, "projects/") {
		return name
	}
	return "projects/" + project + "/" + kind + "/" + name
}

// replayMessages moves up to opts.max messages from the subscription to the
// topic and returns how many it moved (or listed). It acks a message only
// after its publish is confirmed and nacks the ones it could not publish,
// so they can be replayed again at once.
func replayMessages(ctx context.Context, client *pubsub.Client, opts replayOptions, out io.Writer) (int, error) {
	subs := client.SubscriptionAdminClient
	var publisher *pubsub.Publisher
	if !opts.dryRun {
		publisher = client.Publisher(opts.topic)
		// Messages with an ordering key keep their order per key; those
		// without are unaffected.
		publisher.EnableMessageOrdering = true
		defer publisher.Stop()
	}
	var held []string // dry run: ack ids to hand back at the end
	defer func() {
		if len(held) > 0 {
			// A fresh context: even when ctx is done, the messages must go
			// back rather than wait out their ack deadline.
			nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = nack(nctx, client, opts.subscription, held)
		}
	}()

	done := 0
	for done < opts.max {
		received, err := pull(ctx, client, opts, min(opts.batch, opts.max-done))
		if err != nil {
			return done, err
		}
		if len(received) == 0 {
			return done, nil
		}
		sortBySourcePublishTime(received)
		if opts.dryRun {
			for _, m := range received {
				describe(out, m)
				held = append(held, m.AckId)
			}
			done += len(received)
			continue
		}

		// Publish the batch, then wait for each confirmation.
		results := make([]*pubsub.PublishResult, len(received))
		keys := make([]string, len(received))
		for i, m := range received {
			keys[i] = orderingKey(m.Message, opts.orderingAttr)
			results[i] = publisher.Publish(ctx, &pubsub.Message{
				Data:        m.Message.Data,
				Attributes:  replayAttributes(m.Message),
				OrderingKey: keys[i],
			})
		}
		var acks, nacks []string
		var failures []error
		for i, m := range received {
			id, err := results[i].Get(ctx)
			if err != nil {
				if keys[i] != "" {
					publisher.ResumePublish(keys[i])
				}
				nacks = append(nacks, m.AckId)
				failures = append(failures, fmt.Errorf("message %s: %w", m.Message.MessageId, err))
				continue
			}
			acks = append(acks, m.AckId)
			fmt.Fprintf(out, "replayed %s as %s\n", m.Message.MessageId, id)
		}
		if len(acks) > 0 {
			if err := subs.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: opts.subscription, AckIds: acks}); err != nil {
				// The copies are published; the originals come back after
				// their ack deadline and would be replayed twice.
				return done, fmt.Errorf("acknowledging %d replayed message(s) on %s (they may be replayed again; consumers dedupe): %w",
					len(acks), opts.subscription, err)
			}
			done += len(acks)
		}
		if len(failures) > 0 {
			nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			_ = nack(nctx, client, opts.subscription, nacks)
			cancel()
			return done, fmt.Errorf("%d message(s) not re-published to %s and left on %s: %w",
				len(failures), opts.topic, opts.subscription, errors.Join(failures...))
		}
	}
	return done, nil
}

// pull is one unary Pull (fast on pstest and the emulator, plain on the
// service), bounded by opts.wait: an empty subscription answers nothing.
func pull(ctx context.Context, client *pubsub.Client, opts replayOptions, n int) ([]*pubsubpb.ReceivedMessage, error) {
	pctx, cancel := context.WithTimeout(ctx, opts.wait)
	defer cancel()
	resp, err := client.SubscriptionAdminClient.Pull(pctx, &pubsubpb.PullRequest{
		Subscription: opts.subscription, MaxMessages: int32(n)})
	if err != nil {
		if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded) {
			return nil, nil
		}
		return nil, fmt.Errorf("pulling from %s: %w", opts.subscription, err)
	}
	return resp.ReceivedMessages, nil
}

func nack(ctx context.Context, client *pubsub.Client, sub string, ackIDs []string) error {
	return client.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{
		Subscription: sub, AckIds: ackIDs, AckDeadlineSeconds: 0})
}

func orderingKey(m *pubsubpb.PubsubMessage, attr string) string {
	if m.OrderingKey != "" {
		return m.OrderingKey
	}
	if attr != "" {
		return m.Attributes[attr]
	}
	return ""
}

func replayAttributes(m *pubsubpb.PubsubMessage) map[string]string {
	attrs := maps.Clone(m.Attributes)
	if attrs == nil {
		attrs = map[string]string{}
	}
	for _, a := range deadLetterAttributes {
		delete(attrs, a)
	}
	attrs[ReplayedFromAttribute] = m.MessageId
	return attrs
}

// sortBySourcePublishTime puts a batch in the order the messages were first
// published, where Pub/Sub recorded it (RFC 3339 in UTC sorts as text);
// messages without the attribute come first, in the order received.
func sortBySourcePublishTime(ms []*pubsubpb.ReceivedMessage) {
	slices.SortStableFunc(ms, func(a, b *pubsubpb.ReceivedMessage) int {
		return strings.Compare(a.Message.Attributes["CloudPubSubDeadLetterSourceTopicPublishTime"],
			b.Message.Attributes["CloudPubSubDeadLetterSourceTopicPublishTime"])
	})
}

// describe prints what an operator needs to decide, never the data: it can
// hold users' files and messages.
func describe(w io.Writer, m *pubsubpb.ReceivedMessage) {
	msg := m.Message
	fmt.Fprintf(w, "message %s published %s, %d bytes", msg.MessageId,
		msg.PublishTime.AsTime().UTC().Format(time.RFC3339), len(msg.Data))
	if msg.OrderingKey != "" {
		fmt.Fprintf(w, ", ordering key %q", msg.OrderingKey)
	}
	fmt.Fprintln(w)
	for _, k := range slices.Sorted(maps.Keys(msg.Attributes)) {
		fmt.Fprintf(w, "  %s=%s\n", k, msg.Attributes[k])
	}
}
