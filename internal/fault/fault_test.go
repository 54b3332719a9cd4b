package fault_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/fault"
)

func TestClassification(t *testing.T) {
	t.Parallel()
	base := fmt.Errorf("%w: object x", fault.ErrNotFound)
	tests := []struct {
		name          string
		err           error
		kind          fault.Kind
		retryable     bool
		wantNotFound  bool
		wantRetryWait time.Duration
	}{
		{"unclassified is retried", errors.New("boom"), fault.Unknown, true, false, 0},
		{"permanent", fault.AsPermanent(base), fault.Permanent, false, true, 0},
		{"wrapped permanent keeps its kind", fmt.Errorf("ctx: %w", fault.AsPermanent(base)), fault.Permanent, false, true, 0},
		{"retryable", fault.AsRetryable(base), fault.Retryable, true, true, 0},
		{"outermost wins", fault.AsRetryable(fault.AsPermanent(base)), fault.Retryable, true, true, 0},
		{"retry after", fault.RetryAfter(errors.New("429"), 3*time.Second), fault.Retryable, true, false, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fault.KindOf(tt.err); got != tt.kind {
				t.Errorf("KindOf = %v, want %v", got, tt.kind)
			}
			if got := fault.IsRetryable(tt.err); got != tt.retryable {
				t.Errorf("IsRetryable = %v, want %v", got, tt.retryable)
			}
			if got := errors.Is(tt.err, fault.ErrNotFound); got != tt.wantNotFound {
				t.Errorf("errors.Is(ErrNotFound) = %v, want %v", got, tt.wantNotFound)
			}
			if got := fault.RetryAfterOf(tt.err); got != tt.wantRetryWait {
				t.Errorf("RetryAfterOf = %v, want %v", got, tt.wantRetryWait)
			}
		})
	}
	if fault.AsPermanent(nil) != nil || fault.AsRetryable(nil) != nil || fault.IsRetryable(nil) {
		t.Error("nil must stay nil and not be retryable")
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	f := func() (err error) {
		defer fault.Wrap(&err, "Refine(%d)", 42)
		return fault.AsPermanent(fault.ErrConflict)
	}
	err := f()
	if err.Error() != "Refine(42): conflict" || !fault.IsPermanent(err) || !errors.Is(err, fault.ErrConflict) {
		t.Errorf("Wrap gave %q (permanent %v)", err, fault.IsPermanent(err))
	}
	g := func() (err error) { defer fault.Wrap(&err, "noop"); return nil }
	if g() != nil {
		t.Error("Wrap of nil made an error")
	}
}
