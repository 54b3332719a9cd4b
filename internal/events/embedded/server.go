// Package embedded runs Pub/Sub in-process for local runs and tests: a
// pstest server with the topics and subscriptions created at start, and a
// push loop per subscription that does what a push subscription does in
// Google Cloud, which pstest does not (it stores push configs but never
// POSTs):
//   - it pulls with unary Pull (fast on pstest; streaming receive hands out
//     one message per stream every 10 ms);
//   - it POSTs each message to the subscription's endpoint in the wrapped
//     push format, deliveryAttempt included when the subscription has a
//     dead-letter topic;
//   - a 102/200/201/202/204 acks; anything else (or no answer within the ack
//     deadline) is redelivered after an exponential backoff between
//     MinBackoff and MaxBackoff (a Retry-After header lengthens it);
//   - with Ordering, a message is not delivered before the previous message
//     with its ordering key was acked or dead-lettered (pstest hands out only
//     the oldest unacked message of each key, and the loop holds a failed
//     message until its backoff ends);
//   - after MaxAttempts failed deliveries the message is published to the
//     dead-letter topic with the attributes Google adds
//     (CloudPubSubDeadLetterSourceDeliveryCount, ...SourceSubscription,
//     ...SourceSubscriptionProject, ...SourceTopicPublishTime) and acked.
//
// Every dead-letter topic also gets an inspection subscription, so a test or
// `devbot dev` can read what landed there with DeadLetters.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/devbot-hq/devbot/internal/events"
)

// TopicSpec declares a topic and, optionally, a push subscription on it.
type TopicSpec struct {
	Topic string
	// Subscription and PushEndpoint make a push subscription; leave both
	// empty for a topic that is only published to.
	Subscription string
	PushEndpoint string
	// DeadLetterTopic, when set, is created (if no spec declares it) and
	// receives messages after MaxAttempts failed deliveries.
	DeadLetterTopic string
	// MaxAttempts defaults to 5 (Google's minimum is 5, its default 5).
	MaxAttempts int
	// MinBackoff and MaxBackoff space redeliveries; defaults 1s and 60s
	// (Google's are 10s and 600s, too slow to watch locally).
	MinBackoff, MaxBackoff time.Duration
	// AckDeadline is how long a POST may take before the delivery counts as
	// failed (Google's push timeout is the ack deadline); default 600s.
	AckDeadline time.Duration
	// Ordering delivers messages with the same ordering key one at a time,
	// in publish order.
	Ordering bool
	// Unwrapped pushes like no_wrapper with write_metadata: the body is the
	// data, the metadata and attributes are headers.
	Unwrapped bool
}

// Config configures Start.
type Config struct {
	// Project defaults to "devbot-local".
	Project string
	Topics  []TopicSpec
	// HTTPClient POSTs the pushes; by default a client of the server's own
	// that keeps a connection per worker (the ack deadline bounds each
	// request).
	HTTPClient *http.Client
	// Logger defaults to discarding.
	Logger *slog.Logger
	// MaxOutstanding bounds concurrent deliveries per subscription;
	// default 32.
	MaxOutstanding int

	// poll, when set, is every idle poll interval.
	poll time.Duration
	// reactors are added to pstest's (a test watches the calls).
	reactors []pstest.ServerReactorOption
}

// Server is a running embedded Pub/Sub.
type Server struct {
	// Client talks to the server: hand it to events.NewPublisher.
	Client  *pubsub.Client
	Project string

	srv    *pstest.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
	subs   []*pushSub
	log    *slog.Logger
	// transport is the push client's when Start made it, closed with the
	// server.
	transport *http.Transport

	mu          sync.Mutex
	inspect     map[string]string // dead-letter topic id -> inspection subscription name
	deadLetters map[string][]events.Message
	closed      bool
}

// Start creates the server, its topics and subscriptions, and starts the
// push loops. Close stops them.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.Project == "" {
		cfg.Project = "devbot-local"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.MaxOutstanding <= 0 {
		cfg.MaxOutstanding = 32
	}
	var ownTransport *http.Transport
	if cfg.HTTPClient == nil {
		ownTransport = pushTransport(cfg.MaxOutstanding * max(len(cfg.Topics), 1))
		cfg.HTTPClient = &http.Client{Transport: ownTransport}
	}
	kick := &publishKick{}
	srv := pstest.NewServer(append([]pstest.ServerReactorOption{{FuncName: "Publish", Reactor: kick}}, cfg.reactors...)...)
	client, err := pubsub.NewClient(ctx, cfg.Project,
		option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("embedded pubsub: client: %w", err)
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{Client: client, Project: cfg.Project, srv: srv, cancel: cancel, log: cfg.Logger, transport: ownTransport,
		inspect: map[string]string{}, deadLetters: map[string][]events.Message{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := s.create(ctx, cfg); err != nil {
		return nil, err
	}
	kick.subs.Store(&s.subs)
	for _, ps := range s.subs {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ps.run(loopCtx)
		}()
	}
	return s, nil
}

// pushTransport keeps up to idle connections to the push endpoints.
// http.DefaultTransport keeps 2 per host: with more workers than that, most
// pushes dialled a new connection and left one in TIME_WAIT (under load the
// dials took more CPU than the pushes' own requests).
func pushTransport(idle int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(t.MaxIdleConns, idle)
	t.MaxIdleConnsPerHost = idle
	return t
}

// publishKick wakes the push loops of a topic when a message is published
// to it, so that an idle loop delivers at once rather than at its next
// poll (a refinement crosses two topics; a poll each added up to 2·maxPoll
// to its reply). pstest runs reactors holding its lock, before storing the
// message: the woken loop's Pull waits for that lock, so it finds the
// message.
type publishKick struct {
	subs atomic.Pointer[[]*pushSub]
}

func (k *publishKick) React(req any) (bool, any, error) {
	r, ok := req.(*pb.PublishRequest)
	subs := k.subs.Load()
	if !ok || subs == nil {
		return false, nil, nil
	}
	for _, p := range *subs {
		if p.topic == r.GetTopic() {
			p.wake()
		}
	}
	return false, nil, nil
}

// Addr is the server's host:port, for PUBSUB_EMULATOR_HOST of another
// process.
func (s *Server) Addr() string { return s.srv.Addr }

func (s *Server) topicName(id string) string { return "projects/" + s.Project + "/topics/" + id }
func (s *Server) subName(id string) string   { return "projects/" + s.Project + "/subscriptions/" + id }

func (s *Server) create(ctx context.Context, cfg Config) error {
	topics := map[string]bool{}
	ensure := func(id string) error {
		if topics[id] {
			return nil
		}
		topics[id] = true
		_, err := s.Client.TopicAdminClient.CreateTopic(ctx, &pb.Topic{Name: s.topicName(id)})
		if err != nil {
			return fmt.Errorf("embedded pubsub: create topic %s: %w", id, err)
		}
		return nil
	}
	for _, t := range cfg.Topics {
		if t.Topic == "" {
			return errors.New("embedded pubsub: a topic spec without a topic")
		}
		if err := ensure(t.Topic); err != nil {
			return err
		}
	}
	for _, t := range cfg.Topics {
		if t.DeadLetterTopic == "" {
			continue
		}
		if err := ensure(t.DeadLetterTopic); err != nil {
			return err
		}
		if _, ok := s.inspect[t.DeadLetterTopic]; ok {
			continue
		}
		name := s.subName(t.DeadLetterTopic + "-inspect")
		if _, err := s.Client.SubscriptionAdminClient.CreateSubscription(ctx, &pb.Subscription{
			Name: name, Topic: s.topicName(t.DeadLetterTopic), AckDeadlineSeconds: 60}); err != nil {
			return fmt.Errorf("embedded pubsub: create inspection subscription: %w", err)
		}
		s.inspect[t.DeadLetterTopic] = name
	}
	for _, t := range cfg.Topics {
		if t.Subscription == "" && t.PushEndpoint == "" {
			continue
		}
		if t.Subscription == "" || t.PushEndpoint == "" {
			return fmt.Errorf("embedded pubsub: topic %s: a subscription needs both a name and a push endpoint", t.Topic)
		}
		t = withDefaults(t)
		sub := &pb.Subscription{
			Name: s.subName(t.Subscription), Topic: s.topicName(t.Topic),
			PushConfig:            pushConfig(t),
			AckDeadlineSeconds:    int32(t.AckDeadline / time.Second),
			EnableMessageOrdering: t.Ordering,
			RetryPolicy: &pb.RetryPolicy{MinimumBackoff: durationpb.New(t.MinBackoff),
				MaximumBackoff: durationpb.New(t.MaxBackoff)},
		}
		if t.DeadLetterTopic != "" {
			// pstest counts the deliveries (deliveryAttempt) and, should the
			// loop fail to publish to the dead-letter topic, dead-letters the
			// message itself on the next pull.
			sub.DeadLetterPolicy = &pb.DeadLetterPolicy{DeadLetterTopic: s.topicName(t.DeadLetterTopic),
				MaxDeliveryAttempts: int32(t.MaxAttempts)}
		}
		if _, err := s.Client.SubscriptionAdminClient.CreateSubscription(ctx, sub); err != nil {
			return fmt.Errorf("embedded pubsub: create subscription %s: %w", t.Subscription, err)
		}
		s.subs = append(s.subs, newPushSub(s, t, cfg))
	}
	return nil
}

func pushConfig(t TopicSpec) *pb.PushConfig {
	pc := &pb.PushConfig{PushEndpoint: t.PushEndpoint}
	if t.Unwrapped {
		pc.Wrapper = &pb.PushConfig_NoWrapper_{NoWrapper: &pb.PushConfig_NoWrapper{WriteMetadata: true}}
	}
	return pc
}

func withDefaults(t TopicSpec) TopicSpec {
	if t.MaxAttempts <= 0 {
		t.MaxAttempts = 5
	}
	if t.MinBackoff <= 0 {
		t.MinBackoff = time.Second
	}
	if t.MaxBackoff <= 0 {
		t.MaxBackoff = 60 * time.Second
	}
	if t.MaxBackoff < t.MinBackoff {
		t.MaxBackoff = t.MinBackoff
	}
	if t.AckDeadline <= 0 {
		t.AckDeadline = 600 * time.Second
	}
	t.AckDeadline = min(max(t.AckDeadline, 10*time.Second), 600*time.Second)
	return t
}

// DeadLetters returns every message that has landed in the dead-letter
// topic so far, oldest first. It can be called repeatedly.
func (s *Server) DeadLetters(ctx context.Context, topic string) ([]events.Message, error) {
	s.mu.Lock()
	name, ok := s.inspect[topic]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("embedded pubsub: %s is no subscription's dead-letter topic", topic)
	}
	for {
		resp, err := s.Client.SubscriptionAdminClient.Pull(ctx, &pb.PullRequest{
			Subscription: name, MaxMessages: 1000, ReturnImmediately: true})
		if err != nil {
			return nil, fmt.Errorf("embedded pubsub: read dead letters: %w", err)
		}
		if len(resp.ReceivedMessages) == 0 {
			break
		}
		ids := make([]string, 0, len(resp.ReceivedMessages))
		s.mu.Lock()
		for _, rm := range resp.ReceivedMessages {
			s.deadLetters[topic] = append(s.deadLetters[topic], toMessage(rm, name))
			ids = append(ids, rm.AckId)
		}
		s.mu.Unlock()
		if err := s.Client.SubscriptionAdminClient.Acknowledge(ctx, &pb.AcknowledgeRequest{
			Subscription: name, AckIds: ids}); err != nil {
			return nil, fmt.Errorf("embedded pubsub: read dead letters: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]events.Message(nil), s.deadLetters[topic]...), nil
}

func toMessage(rm *pb.ReceivedMessage, sub string) events.Message {
	m := rm.GetMessage()
	return events.Message{ID: m.GetMessageId(), Data: m.GetData(), Attributes: m.GetAttributes(),
		OrderingKey: m.GetOrderingKey(), PublishTime: m.GetPublishTime().AsTime(),
		DeliveryAttempt: int(rm.GetDeliveryAttempt()), Subscription: sub}
}

// Stats counts what a subscription's push loop did.
type Stats struct {
	Delivered    int64 // POSTs made
	Acked        int64
	Nacked       int64
	DeadLettered int64
}

// Stats returns the counters of the subscription with id sub.
func (s *Server) Stats(sub string) Stats {
	for _, ps := range s.subs {
		if ps.spec.Subscription == sub {
			return ps.stats()
		}
	}
	return Stats{}
}

// Close stops the push loops (in-flight POSTs are cancelled) and the
// server.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
	return errors.Join(s.Client.Close(), s.srv.Close())
}
