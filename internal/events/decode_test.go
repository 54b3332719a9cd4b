package events_test

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/events/eventstest"
	"github.com/devbot-hq/devbot/internal/fault"
)

func sample() events.Message {
	return events.Message{
		ID:           "1234567890123456",
		Data:         []byte(`{"update_id":42,"message":{"message_id":7,"text":"/start"}}`),
		Attributes:   map[string]string{"kind": "telegram-update", "chat": "99"},
		OrderingKey:  "chat-99",
		PublishTime:  time.Date(2026, 11, 25, 18, 0, 0, 123456000, time.UTC),
		Subscription: "projects/devbot-test/subscriptions/telegram-updates-push",
	}
}

func decodeRequest(t testing.TB, r *http.Request) (events.Message, events.Form, error) {
	t.Helper()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return events.Decode(r.Header, body)
}

func TestDecodeFormsAgree(t *testing.T) {
	t.Parallel()
	want := sample()
	for _, f := range eventstest.Forms() {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			got, form, err := decodeRequest(t, f.New(want))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if string(form) != f.Name {
				t.Errorf("form = %q, want %q", form, f.Name)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Decode =\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}

func TestDecodeDeliveryAttempt(t *testing.T) {
	t.Parallel()
	m := sample()
	m.DeliveryAttempt = 3
	for _, f := range eventstest.Forms() {
		got, _, err := decodeRequest(t, f.New(m))
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if got.DeliveryAttempt != 3 {
			t.Errorf("%s: DeliveryAttempt = %d, want 3", f.Name, got.DeliveryAttempt)
		}
	}
	// Without it (no dead-letter policy, or the emulator) the attempt is
	// unknown, never guessed.
	m.DeliveryAttempt = 0
	got, _, err := decodeRequest(t, eventstest.Wrapped(m))
	if err != nil || got.DeliveryAttempt != 0 {
		t.Errorf("no deliveryAttempt: got %d, %v; want 0, nil", got.DeliveryAttempt, err)
	}
}

// A Telegram update pushed unwrapped has a top-level "message" key; the
// metadata headers must win over the body's shape.
func TestDecodeUnwrappedTelegramUpdate(t *testing.T) {
	t.Parallel()
	m := sample()
	got, form, err := decodeRequest(t, eventstest.Unwrapped(m))
	if err != nil || form != events.FormUnwrapped || string(got.Data) != string(m.Data) {
		t.Fatalf("got %q %s %v", got.Data, form, err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	t.Parallel()
	ce := func(typ string) http.Header {
		return http.Header{"Ce-Specversion": {"1.0"}, "Ce-Type": {typ}, "Ce-Source": {"//x"}, "Ce-Id": {"1"},
			"Content-Type": {"application/json"}}
	}
	tests := []struct {
		name   string
		header http.Header
		body   string
	}{
		{"empty body", nil, ""},
		{"not JSON", nil, "hello"},
		{"JSON array", nil, "[1]"},
		{"no message", nil, `{"subscription":"s"}`},
		{"message not an object", nil, `{"message":"x"}`},
		{"no message id", nil, `{"message":{"data":"aGk="}}`},
		{"data not base64", nil, `{"message":{"messageId":"1","data":"!!"}}`},
		{"negative attempt", nil, `{"message":{"messageId":"1"},"deliveryAttempt":-1}`},
		{"a raw Telegram update", nil, `{"update_id":1,"message":{"message_id":5,"text":"hi"}}`},
		{"CloudEvent of another type", ce("google.cloud.storage.object.v1.finalized"), `{"message":{"messageId":"1"}}`},
		{"CloudEvent without data envelope", ce(events.MessagePublishedType), `{}`},
		{"CloudEvent id differs", ce(events.MessagePublishedType), `{"message":{"messageId":"2"}}`},
		{"CloudEvent without id", http.Header{"Ce-Specversion": {"1.0"}, "Ce-Type": {events.MessagePublishedType},
			"Ce-Source": {"//x"}}, `{"message":{"messageId":"1"}}`},
		{"structured CloudEvent not JSON", http.Header{"Content-Type": {"application/cloudevents+json"}}, "{"},
		{"unwrapped with bad attempt", http.Header{events.HeaderMessageID: {"1"}, events.HeaderDeliveryAttempt: {"x"}}, "data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.header
			if h == nil {
				h = http.Header{"Content-Type": {"application/json"}}
			}
			_, _, err := events.Decode(h, []byte(tt.body))
			if err == nil {
				t.Fatal("Decode succeeded, want an error")
			}
			if !errors.Is(err, events.ErrMalformed) || !errors.Is(err, fault.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrMalformed and fault.ErrInvalid", err)
			}
		})
	}
}

func TestDecodeUnwrappedAttributes(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set(events.HeaderMessageID, "5")
	h.Set("Content-Type", "application/json")
	h.Set("Authorization", "Bearer x")
	h.Set("X-Cloud-Trace-Context", "abc/1;o=1")
	h.Set("X-Forwarded-For", "1.2.3.4")
	h.Set("Kind", "stripe-event")
	got, _, err := events.Decode(h, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"kind": "stripe-event"}; !reflect.DeepEqual(got.Attributes, want) {
		t.Errorf("Attributes = %v, want %v", got.Attributes, want)
	}
}

// FuzzDecode: Decode never panics, and whatever it accepts has an id.
func FuzzDecode(f *testing.F) {
	for _, form := range eventstest.Forms() {
		r := form.New(sample())
		body, _ := io.ReadAll(r.Body)
		f.Add(r.Header.Get("Content-Type"), r.Header.Get("Ce-Specversion"), r.Header.Get(events.HeaderMessageID), body)
	}
	files, _ := filepath.Glob("testdata/envelopes/*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add("application/json", "", "", b)
	}
	f.Fuzz(func(t *testing.T, contentType, specversion, messageID string, body []byte) {
		h := http.Header{}
		h.Set("Content-Type", contentType)
		if specversion != "" {
			h.Set("Ce-Specversion", specversion)
			h.Set("Ce-Type", events.MessagePublishedType)
			h.Set("Ce-Source", "//pubsub.googleapis.com/projects/p/topics/t")
			h.Set("Ce-Id", "1")
		}
		if messageID != "" && !strings.ContainsAny(messageID, "\r\n") {
			h.Set(events.HeaderMessageID, messageID)
		}
		m, _, err := events.Decode(h, body)
		if err == nil && m.ID == "" {
			t.Fatalf("accepted a message without an id: %+v", m)
		}
		if err != nil && !errors.Is(err, events.ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	for _, f := range eventstest.Forms() {
		r := f.New(sample())
		body, _ := io.ReadAll(r.Body)
		b.Run(f.Name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, _, err := events.Decode(r.Header, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
