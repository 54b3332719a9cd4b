package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/devbot-hq/devbot/internal/fault"
)

// MessagePublishedType is the CloudEvent type Eventarc uses for a Pub/Sub
// message.
const MessagePublishedType = "google.cloud.pubsub.topic.v1.messagePublished"

// Form names the way a message was delivered (for logs and tests).
type Form string

// The delivery forms Decode recognises.
const (
	FormWrapped      Form = "push"
	FormUnwrapped    Form = "push-unwrapped"
	FormCEBinary     Form = "eventarc-binary"
	FormCEStructured Form = "eventarc-structured"
)

// Headers of an unwrapped push request with write_metadata. The emulator
// sends X-Goog-Ordering-Key; the service documents x-goog-pubsub-*: both
// are read. No documented header carries the delivery attempt; the decoder
// reads HeaderDeliveryAttempt should a proxy or a test supply one.
const (
	HeaderMessageID       = "X-Goog-Pubsub-Message-Id"
	HeaderPublishTime     = "X-Goog-Pubsub-Publish-Time"
	HeaderSubscription    = "X-Goog-Pubsub-Subscription-Name"
	HeaderOrderingKey     = "X-Goog-Pubsub-Ordering-Key"
	HeaderOrderingKeyAlt  = "X-Goog-Ordering-Key"
	HeaderDeliveryAttempt = "X-Goog-Pubsub-Delivery-Attempt"
)

// ErrMalformed is wrapped by every decoding error (also fault.ErrInvalid).
var ErrMalformed = errors.New("malformed delivery")

func malformed(format string, args ...any) error {
	return fault.AsPermanent(fmt.Errorf("%w: %w: %s", ErrMalformed, fault.ErrInvalid, fmt.Sprintf(format, args...)))
}

// Decode turns a delivery into a Message. The forms are recognised in this
// order, from the most specific signal to the least:
//  1. an X-Goog-Pubsub-Message-Id header: unwrapped push (the body is the
//     data, whatever it looks like: a Telegram update has a top-level
//     "message" key and must not be mistaken for an envelope);
//  2. a Ce-Specversion header: a binary-mode CloudEvent;
//  3. Content-Type application/cloudevents+json: a structured CloudEvent;
//  4. otherwise a wrapped push envelope, which must have a message id.
//
// Anything else is an error wrapping ErrMalformed.
func Decode(h http.Header, body []byte) (Message, Form, error) {
	switch {
	case h.Get(HeaderMessageID) != "":
		m, err := decodeUnwrapped(h, body)
		return m, FormUnwrapped, err
	case h.Get("Ce-Specversion") != "":
		m, err := decodeCloudEvent(h, body)
		return m, FormCEBinary, err
	case isStructuredCE(h.Get("Content-Type")):
		m, err := decodeCloudEvent(h, body)
		return m, FormCEStructured, err
	default:
		m, err := decodeEnvelope(body, "push envelope")
		return m, FormWrapped, err
	}
}

func isStructuredCE(contentType string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "application/cloudevents+json")
}

// pushMessage is PubsubMessage in the push JSON. The service sends both the
// camelCase and the snake_case spelling of some fields.
type pushMessage struct {
	Data         []byte            `json:"data"`
	Attributes   map[string]string `json:"attributes"`
	MessageID    string            `json:"messageId"`
	MessageIDAlt string            `json:"message_id"`
	Publish      string            `json:"publishTime"`
	PublishAlt   string            `json:"publish_time"`
	OrderingKey  string            `json:"orderingKey"`
	OrderingAlt  string            `json:"ordering_key"`
}

type envelope struct {
	Message         *pushMessage `json:"message"`
	Subscription    string       `json:"subscription"`
	DeliveryAttempt *int         `json:"deliveryAttempt"`
}

func decodeEnvelope(body []byte, what string) (Message, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Message{}, malformed("%s: %v", what, err)
	}
	if env.Message == nil {
		return Message{}, malformed("%s: no \"message\" object", what)
	}
	pm := env.Message
	m := Message{
		ID:           first(pm.MessageID, pm.MessageIDAlt),
		Data:         pm.Data,
		Attributes:   pm.Attributes,
		OrderingKey:  first(pm.OrderingKey, pm.OrderingAlt),
		PublishTime:  parseTime(first(pm.Publish, pm.PublishAlt)),
		Subscription: env.Subscription,
	}
	if m.ID == "" {
		return Message{}, malformed("%s: message has no messageId", what)
	}
	if env.DeliveryAttempt != nil {
		if *env.DeliveryAttempt < 0 {
			return Message{}, malformed("%s: deliveryAttempt %d", what, *env.DeliveryAttempt)
		}
		m.DeliveryAttempt = *env.DeliveryAttempt
	}
	return m, nil
}

func decodeCloudEvent(h http.Header, body []byte) (Message, error) {
	ev, err := binding.ToEvent(context.Background(), cehttp.NewMessage(h, io.NopCloser(bytes.NewReader(body))))
	if err != nil {
		return Message{}, malformed("CloudEvent: %v", err)
	}
	if err := ev.Validate(); err != nil {
		return Message{}, malformed("CloudEvent: %v", err)
	}
	if ev.Type() != MessagePublishedType {
		return Message{}, malformed("CloudEvent type %q, want %s", ev.Type(), MessagePublishedType)
	}
	m, err := decodeEnvelope(ev.Data(), "CloudEvent data")
	if err != nil {
		return Message{}, err
	}
	// The event's own id and time are the message's; the data carries them
	// too, and wins when both are present.
	if m.PublishTime.IsZero() {
		m.PublishTime = ev.Time()
	}
	if ev.ID() != "" && ev.ID() != m.ID {
		return Message{}, malformed("CloudEvent id %q differs from its message id %q", ev.ID(), m.ID)
	}
	return m, nil
}

func decodeUnwrapped(h http.Header, body []byte) (Message, error) {
	m := Message{
		ID:           h.Get(HeaderMessageID),
		Data:         body,
		OrderingKey:  first(h.Get(HeaderOrderingKey), h.Get(HeaderOrderingKeyAlt)),
		PublishTime:  parseTime(h.Get(HeaderPublishTime)),
		Subscription: h.Get(HeaderSubscription),
	}
	if v := h.Get(HeaderDeliveryAttempt); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return Message{}, malformed("unwrapped push: %s %q", HeaderDeliveryAttempt, v)
		}
		m.DeliveryAttempt = n
	}
	for name, vals := range h {
		if len(vals) == 0 || !isAttributeHeader(name) {
			continue
		}
		if m.Attributes == nil {
			m.Attributes = make(map[string]string)
		}
		m.Attributes[strings.ToLower(name)] = vals[0]
	}
	return m, nil
}

// transportHeaders are never attributes. An unwrapped push sends each
// attribute as a plain header, indistinguishable from the transport's own:
// everything not listed here (nor under a transport prefix) is taken as an
// attribute, with its name lower-cased (HTTP header names have no case, so
// publishers should use lower-case attribute names).
var transportHeaders = map[string]bool{
	"Accept": true, "Accept-Encoding": true, "Accept-Language": true, "Authorization": true,
	"Cache-Control": true, "Connection": true, "Content-Encoding": true, "Content-Length": true,
	"Content-Type": true, "Cookie": true, "Expect": true, "Forwarded": true, "From": true, "Host": true,
	"Origin": true, "Pragma": true, "Referer": true, "Te": true, "Trailer": true, "Transfer-Encoding": true,
	"Upgrade": true, "User-Agent": true, "Via": true, "Traceparent": true, "Tracestate": true,
	"Grpc-Trace-Bin": true, "Keep-Alive": true, "Proxy-Authorization": true,
}

var transportPrefixes = []string{"X-Goog-", "X-Cloud-", "X-Forwarded-", "X-Appengine-", "Ce-", "X-Envoy-", "X-Google-"}

func isAttributeHeader(name string) bool {
	if transportHeaders[name] {
		return false
	}
	for _, p := range transportPrefixes {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	return true
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// parseTime is lenient: a publish time is informative, and refusing a
// message over its format would nack it until it is dead-lettered.
func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
