package embedded

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	p := &pushSub{spec: withDefaults(TopicSpec{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})}
	tests := []struct {
		attempt    int
		retryAfter time.Duration
		want       time.Duration
	}{
		{1, 0, 100 * time.Millisecond},
		{2, 0, 200 * time.Millisecond},
		{4, 0, 800 * time.Millisecond},
		{5, 0, time.Second},
		{50, 0, time.Second},
		{1, 500 * time.Millisecond, 500 * time.Millisecond}, // Retry-After lengthens
		{1, time.Hour, time.Second},                         // but never past MaxBackoff
	}
	for _, tt := range tests {
		if got := p.backoff(tt.attempt, tt.retryAfter); got != tt.want {
			t.Errorf("backoff(%d, %s) = %s, want %s", tt.attempt, tt.retryAfter, got, tt.want)
		}
	}
}

func TestAcks(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]bool{102: true, 200: true, 201: true, 202: true, 204: true,
		203: false, 206: false, 302: false, 400: false, 429: false, 500: false, 503: false} {
		if acks(code) != want {
			t.Errorf("acks(%d) = %v, want %v (%s)", code, !want, want, http.StatusText(code))
		}
	}
}

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	got := withDefaults(TopicSpec{AckDeadline: time.Second, MinBackoff: time.Minute, MaxBackoff: time.Second})
	if got.MaxAttempts != 5 || got.AckDeadline != 10*time.Second || got.MaxBackoff != time.Minute {
		t.Errorf("withDefaults = %+v", got)
	}
}
