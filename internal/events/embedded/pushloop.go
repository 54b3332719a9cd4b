package embedded

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/devbot-hq/devbot/internal/events"
)

// pushSub is the push loop of one subscription.
type pushSub struct {
	srv  *Server
	spec TopicSpec
	name string // full subscription name
	// topic is the full topic name, for the publish kick.
	topic string
	hc    *http.Client
	log   *slog.Logger
	// workers is MaxOutstanding: the concurrent deliveries.
	workers int
	// idlePoll is the first idle poll interval, maxPoll the longest (a
	// test stretches both).
	idlePoll, maxPoll time.Duration
	// kick wakes an idle puller after a publish to the topic, and after an
	// ack or a nack: with ordering, the next message of the key has just
	// become available.
	kick chan struct{}
	// acks carries the workers' acks to the acker.
	acks chan ackReq

	// attempts counts failed deliveries per message when pstest does not
	// (no dead-letter policy), for the backoff.
	mu       sync.Mutex
	attempts map[string]int

	delivered, acked, nacked, deadLettered atomic.Int64
}

func newPushSub(s *Server, t TopicSpec, cfg Config) *pushSub {
	return &pushSub{srv: s, spec: t, name: s.subName(t.Subscription), topic: s.topicName(t.Topic), hc: cfg.HTTPClient,
		log: cfg.Logger.With("subscription", t.Subscription), workers: cfg.MaxOutstanding,
		idlePoll: cmp.Or(cfg.poll, minPoll), maxPoll: cmp.Or(cfg.poll, maxPoll),
		kick: make(chan struct{}, 1), acks: make(chan ackReq, cfg.MaxOutstanding), attempts: map[string]int{}}
}

func (p *pushSub) stats() Stats {
	return Stats{Delivered: p.delivered.Load(), Acked: p.acked.Load(), Nacked: p.nacked.Load(),
		DeadLettered: p.deadLettered.Load()}
}

// Polling bounds: pstest's Pull waits 500 ms when empty unless told to
// return at once, so the loop polls, quickly after a busy pull and more
// slowly when idle. A publish, an ack and a nack wake it at once (kick);
// the poll is left for what nothing signals: an ack deadline running out.
const (
	minPoll = time.Millisecond
	maxPoll = 20 * time.Millisecond
)

// run pulls in batches into a local queue that MaxOutstanding workers
// drain. Batches matter: each pstest Pull scans every unacked message of the
// subscription, so pulling one message per free worker is quadratic in the
// backlog.
func (p *pushSub) run(ctx context.Context) {
	queue := make(chan *pb.ReceivedMessage, 4*p.workers)
	var wg sync.WaitGroup
	wg.Go(func() { p.acker(ctx) })
	for range p.workers {
		wg.Go(func() {
			for {
				select {
				case rm := <-queue:
					p.deliver(ctx, rm)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	defer wg.Wait()
	poll := p.idlePoll
	for {
		// Pull when the queue is at most half full (or empty), so that a
		// pull brings a batch, not a message.
		free := cap(queue) - len(queue)
		if free < cap(queue)/2 {
			select {
			case <-time.After(minPoll):
				continue
			case <-ctx.Done():
				return
			}
		}
		resp, err := p.srv.Client.SubscriptionAdminClient.Pull(ctx, &pb.PullRequest{
			Subscription: p.name, MaxMessages: int32(free), ReturnImmediately: true})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.log.Warn("pull failed", "error", err.Error())
		}
		for _, rm := range resp.GetReceivedMessages() {
			queue <- rm // never blocks: at most free messages
		}
		if len(resp.GetReceivedMessages()) > 0 {
			poll = p.idlePoll
			continue
		}
		select {
		case <-time.After(poll):
			poll = min(poll*2, p.maxPoll)
		case <-p.kick:
			poll = p.idlePoll
		case <-ctx.Done():
			return
		}
	}
}

func (p *pushSub) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// deliver POSTs one message and acks, dead-letters or nacks it after a
// backoff.
func (p *pushSub) deliver(ctx context.Context, rm *pb.ReceivedMessage) {
	m := rm.GetMessage()
	attempt := int(rm.GetDeliveryAttempt())
	code, retryAfter, err := p.post(ctx, rm)
	p.delivered.Add(1)
	if ctx.Err() != nil {
		return // closing: the message stays unacked
	}
	log := p.log.With("message_id", m.GetMessageId(), "delivery_attempt", attempt)
	if err == nil && acks(code) {
		p.ack(ctx, rm.AckId)
		p.forget(m.GetMessageId())
		p.acked.Add(1)
		log.Debug("push acked", "status", code)
		return
	}
	p.nacked.Add(1)
	if err != nil {
		log.Info("push failed", "error", err.Error())
	} else {
		log.Info("push nacked", "status", code)
	}
	if p.spec.DeadLetterTopic != "" && attempt >= p.spec.MaxAttempts {
		if err := p.deadLetter(ctx, rm, attempt); err != nil {
			log.Warn("dead-lettering failed; pstest will do it", "error", err.Error())
			p.nack(ctx, rm.AckId)
			return
		}
		p.ack(ctx, rm.AckId)
		p.deadLettered.Add(1)
		log.Info("push dead-lettered", "dead_letter_topic", p.spec.DeadLetterTopic)
		return
	}
	if attempt == 0 {
		attempt = p.countFailure(m.GetMessageId())
	}
	wait := p.backoff(attempt, retryAfter)
	// Hold the message (so pstest neither redelivers it nor, with ordering,
	// hands out the next one of its key) until the backoff ends.
	p.modack(ctx, rm.AckId, wait+10*time.Second)
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return
	}
	p.nack(ctx, rm.AckId)
}

// acks reports whether Pub/Sub takes status as an ack.
func acks(status int) bool {
	switch status {
	case http.StatusProcessing, http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusNoContent:
		return true
	}
	return false
}

// backoff is min·2^(attempt-1), at least what Retry-After asked for, at
// most MaxBackoff.
func (p *pushSub) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := p.spec.MinBackoff
	for i := 1; i < attempt && d < p.spec.MaxBackoff; i++ {
		d *= 2
	}
	return min(max(d, retryAfter), p.spec.MaxBackoff)
}

func (p *pushSub) countFailure(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.attempts[id]++
	return p.attempts[id]
}

func (p *pushSub) forget(id string) {
	p.mu.Lock()
	delete(p.attempts, id)
	p.mu.Unlock()
}

// pushMessage and pushEnvelope are the wrapped push format.
type pushMessage struct {
	Data         []byte            `json:"data,omitempty"`
	Attributes   map[string]string `json:"attributes,omitempty"`
	MessageID    string            `json:"messageId"`
	MessageIDAlt string            `json:"message_id"`
	Publish      string            `json:"publishTime"`
	PublishAlt   string            `json:"publish_time"`
	OrderingKey  string            `json:"orderingKey,omitempty"`
}

type pushEnvelope struct {
	Message         pushMessage `json:"message"`
	Subscription    string      `json:"subscription"`
	DeliveryAttempt int         `json:"deliveryAttempt,omitempty"`
}

// Envelope renders rm as the body of a wrapped push request to sub.
func Envelope(rm *pb.ReceivedMessage, sub string) ([]byte, error) {
	m := rm.GetMessage()
	pt := m.GetPublishTime().AsTime().UTC().Format(time.RFC3339Nano)
	return json.Marshal(pushEnvelope{
		Message: pushMessage{Data: m.GetData(), Attributes: m.GetAttributes(), MessageID: m.GetMessageId(),
			MessageIDAlt: m.GetMessageId(), Publish: pt, PublishAlt: pt, OrderingKey: m.GetOrderingKey()},
		Subscription: sub, DeliveryAttempt: int(rm.GetDeliveryAttempt()),
	})
}

func (p *pushSub) post(ctx context.Context, rm *pb.ReceivedMessage) (status int, retryAfter time.Duration, err error) {
	var body []byte
	if p.spec.Unwrapped {
		body = rm.GetMessage().GetData()
	} else if body, err = Envelope(rm, p.name); err != nil {
		return 0, 0, err
	}
	// Google's push timeout is the ack deadline; stop a little before it so
	// pstest does not hand the message out again meanwhile.
	ctx, cancel := context.WithTimeout(ctx, p.spec.AckDeadline-time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.spec.PushEndpoint, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("User-Agent", "devbot-embedded-pubsub")
	if p.spec.Unwrapped {
		setMetadata(req.Header, rm, p.name)
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	return resp.StatusCode, retryAfter, nil
}

// setMetadata writes what write_metadata adds to an unwrapped push. Like
// Google's, it carries no delivery attempt.
func setMetadata(h http.Header, rm *pb.ReceivedMessage, sub string) {
	m := rm.GetMessage()
	h.Set(events.HeaderMessageID, m.GetMessageId())
	h.Set(events.HeaderPublishTime, m.GetPublishTime().AsTime().UTC().Format(time.RFC3339Nano))
	h.Set(events.HeaderSubscription, sub)
	if k := m.GetOrderingKey(); k != "" {
		h.Set(events.HeaderOrderingKey, k)
	}
	for k, v := range m.GetAttributes() {
		h.Set(k, v)
	}
}

func (p *pushSub) deadLetter(ctx context.Context, rm *pb.ReceivedMessage, attempt int) error {
	m := rm.GetMessage()
	attrs := make(map[string]string, len(m.GetAttributes())+4)
	for k, v := range m.GetAttributes() {
		attrs[k] = v
	}
	attrs["CloudPubSubDeadLetterSourceDeliveryCount"] = strconv.Itoa(attempt)
	attrs["CloudPubSubDeadLetterSourceSubscription"] = p.spec.Subscription
	attrs["CloudPubSubDeadLetterSourceSubscriptionProject"] = p.srv.Project
	attrs["CloudPubSubDeadLetterSourceTopicPublishTime"] = m.GetPublishTime().AsTime().UTC().Format(time.RFC3339Nano)
	_, err := p.srv.Client.TopicAdminClient.Publish(ctx, &pb.PublishRequest{
		Topic:    p.srv.topicName(p.spec.DeadLetterTopic),
		Messages: []*pb.PubsubMessage{{Data: m.GetData(), Attributes: attrs, OrderingKey: m.GetOrderingKey()}},
	})
	if err != nil {
		return fmt.Errorf("publish to %s: %w", p.spec.DeadLetterTopic, err)
	}
	return nil
}

// ackReq is one worker's ack, answered when the Acknowledge that carried
// it returned.
type ackReq struct {
	id   string
	done chan struct{}
}

// ack acknowledges ackID and returns once pstest has it, as before the
// batching: the worker then takes its next message.
func (p *pushSub) ack(ctx context.Context, ackID string) {
	r := ackReq{id: ackID, done: make(chan struct{})}
	select {
	case p.acks <- r:
	case <-ctx.Done():
		return
	}
	select {
	case <-r.done:
	case <-ctx.Done():
	}
}

// maxAckBatch bounds one Acknowledge.
const maxAckBatch = 1000

// acker sends the workers' acks, one Acknowledge for all those waiting:
// alone, an ack goes out at once; under load, those that arrive while one
// Acknowledge is under way share the next (one gRPC call per ack took a
// twentieth of the CPU of the ingress bench).
func (p *pushSub) acker(ctx context.Context) {
	var batch []ackReq
	ids := make([]string, 0, maxAckBatch)
	for {
		select {
		case r := <-p.acks:
			batch = append(batch[:0], r)
		case <-ctx.Done():
			return
		}
	more:
		for len(batch) < maxAckBatch {
			select {
			case r := <-p.acks:
				batch = append(batch, r)
			default:
				break more
			}
		}
		ids = ids[:0]
		for _, r := range batch {
			ids = append(ids, r.id)
		}
		if err := p.srv.Client.SubscriptionAdminClient.Acknowledge(ctx, &pb.AcknowledgeRequest{
			Subscription: p.name, AckIds: ids}); err != nil && ctx.Err() == nil {
			// Unacked, the messages come back after their ack deadline: a
			// duplicate delivery, which consumers tolerate.
			p.log.Warn("ack failed", "error", err.Error(), "messages", len(ids))
		}
		for _, r := range batch {
			close(r.done)
		}
		p.wake()
	}
}

func (p *pushSub) modack(ctx context.Context, ackID string, d time.Duration) {
	secs := int32(min((d+time.Second-1)/time.Second, 600))
	if err := p.srv.Client.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pb.ModifyAckDeadlineRequest{
		Subscription: p.name, AckIds: []string{ackID}, AckDeadlineSeconds: secs}); err != nil && ctx.Err() == nil {
		p.log.Warn("modack failed", "error", err.Error())
	}
}

func (p *pushSub) nack(ctx context.Context, ackID string) {
	p.modack(ctx, ackID, 0)
	p.wake()
}
