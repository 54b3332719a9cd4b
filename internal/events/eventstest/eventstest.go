// Package eventstest builds the requests by which Google Cloud delivers a
// Pub/Sub message to an HTTP consumer, byte for byte as the facts file
// describes them, so that consumers can be tested through every form
// without a Pub/Sub server:
//
//	rec := httptest.NewRecorder()
//	consumer.ServeHTTP(rec, eventstest.Wrapped(m))
package eventstest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/devbot-hq/devbot/internal/events"
)

// Form builds a request for one delivery form.
type Form struct {
	Name string
	New  func(m events.Message) *http.Request
}

// Forms lists the four forms: wrapped push, unwrapped push with
// write_metadata, and Eventarc in binary and structured mode.
func Forms() []Form {
	return []Form{
		{"push", Wrapped},
		{"push-unwrapped", Unwrapped},
		{"eventarc-binary", CloudEventBinary},
		{"eventarc-structured", CloudEventStructured},
	}
}

type pushMessage struct {
	Data         []byte            `json:"data,omitempty"`
	Attributes   map[string]string `json:"attributes,omitempty"`
	MessageID    string            `json:"messageId"`
	MessageIDAlt string            `json:"message_id"`
	Publish      string            `json:"publishTime,omitempty"`
	PublishAlt   string            `json:"publish_time,omitempty"`
	OrderingKey  string            `json:"orderingKey,omitempty"`
}

type envelope struct {
	Message         pushMessage `json:"message"`
	Subscription    string      `json:"subscription,omitempty"`
	DeliveryAttempt int         `json:"deliveryAttempt,omitempty"`
}

func publishTime(m events.Message) string {
	if m.PublishTime.IsZero() {
		return ""
	}
	return m.PublishTime.UTC().Format(time.RFC3339Nano)
}

// EnvelopeJSON is the wrapped push body for m (deliveryAttempt only when
// m.DeliveryAttempt > 0, as the service does).
func EnvelopeJSON(m events.Message) []byte {
	pt := publishTime(m)
	b, err := json.Marshal(envelope{
		Message: pushMessage{Data: m.Data, Attributes: m.Attributes, MessageID: m.ID, MessageIDAlt: m.ID,
			Publish: pt, PublishAlt: pt, OrderingKey: m.OrderingKey},
		Subscription: m.Subscription, DeliveryAttempt: m.DeliveryAttempt,
	})
	if err != nil {
		panic(err)
	}
	return b
}

// Wrapped is a push request with the JSON envelope.
func Wrapped(m events.Message) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(EnvelopeJSON(m)))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)")
	return r
}

// Unwrapped is a push request with no_wrapper and write_metadata: the body
// is the data, metadata in X-Goog-Pubsub-* headers, each attribute a plain
// header.
func Unwrapped(m events.Message) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(m.Data))
	r.Header.Set("Content-Type", "application/octet-stream")
	r.Header.Set("User-Agent", "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)")
	r.Header.Set(events.HeaderMessageID, m.ID)
	if pt := publishTime(m); pt != "" {
		r.Header.Set(events.HeaderPublishTime, pt)
	}
	if m.Subscription != "" {
		r.Header.Set(events.HeaderSubscription, m.Subscription)
	}
	if m.OrderingKey != "" {
		r.Header.Set(events.HeaderOrderingKeyAlt, m.OrderingKey)
	}
	if m.DeliveryAttempt > 0 {
		r.Header.Set(events.HeaderDeliveryAttempt, strconv.Itoa(m.DeliveryAttempt))
	}
	for k, v := range m.Attributes {
		r.Header.Set(k, v)
	}
	return r
}

// Source is the ce-source Eventarc sets for a topic.
const Source = "//pubsub.googleapis.com/projects/devbot-test/topics/test"

// CloudEventBinary is an Eventarc delivery in binary mode.
func CloudEventBinary(m events.Message) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(EnvelopeJSON(m)))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Ce-Specversion", "1.0")
	r.Header.Set("Ce-Type", events.MessagePublishedType)
	r.Header.Set("Ce-Source", Source)
	r.Header.Set("Ce-Id", m.ID)
	if pt := publishTime(m); pt != "" {
		r.Header.Set("Ce-Time", pt)
	}
	return r
}

// CloudEventStructured is an Eventarc delivery in structured mode.
func CloudEventStructured(m events.Message) *http.Request {
	ev := map[string]any{
		"specversion":     "1.0",
		"type":            events.MessagePublishedType,
		"source":          Source,
		"id":              m.ID,
		"datacontenttype": "application/json",
		"data":            json.RawMessage(EnvelopeJSON(m)),
	}
	if pt := publishTime(m); pt != "" {
		ev["time"] = pt
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
	return r
}
