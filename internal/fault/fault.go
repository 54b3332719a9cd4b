// Package fault classifies errors once, where they arise, so that the
// transport can decide between acknowledging a message and asking for a
// redelivery without knowing where the error came from.
//
// The rule (see DESIGN.md, "Ack or retry"):
//   - a Permanent error will fail the same way on every retry (bad input,
//     unknown command, a file the user does not own): ack and record it;
//   - a Retryable error may succeed later (database down, storage 5xx, a rate
//     limit): answer non-2xx so Pub/Sub redelivers with backoff;
//   - an unclassified error is treated as retryable: a redelivery is cheap and
//     the dead-letter policy bounds it, while acking loses the message.
//
// Sentinels describe what went wrong (not found, conflict, ...) independently
// of whether it is worth retrying; both can be checked with errors.Is.
package fault

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel categories. Wrap them with %w to add context.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrInvalid      = errors.New("invalid input")
	ErrUnauthorized = errors.New("unauthorized")
	ErrTooLarge     = errors.New("too large")
	ErrInsufficient = errors.New("insufficient credits")
	ErrRateLimited  = errors.New("rate limited")
	ErrUnavailable  = errors.New("temporarily unavailable")
)

// Kind says what the transport should do with an error.
type Kind int

const (
	// Unknown errors are retried: see the package comment.
	Unknown Kind = iota
	Permanent
	Retryable
)

func (k Kind) String() string {
	switch k {
	case Permanent:
		return "permanent"
	case Retryable:
		return "retryable"
	default:
		return "unknown"
	}
}

type classified struct {
	err        error
	kind       Kind
	retryAfter time.Duration
}

func (c *classified) Error() string { return c.err.Error() }
func (c *classified) Unwrap() error { return c.err }

// AsPermanent marks err as permanent. A nil err stays nil.
func AsPermanent(err error) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, kind: Permanent}
}

// AsRetryable marks err as retryable. A nil err stays nil.
func AsRetryable(err error) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, kind: Retryable}
}

// RetryAfter marks err as retryable no sooner than d (a server's Retry-After).
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, kind: Retryable, retryAfter: d}
}

// Permanentf is fmt.Errorf marked permanent.
func Permanentf(format string, args ...any) error {
	return AsPermanent(fmt.Errorf(format, args...))
}

// Retryablef is fmt.Errorf marked retryable.
func Retryablef(format string, args ...any) error {
	return AsRetryable(fmt.Errorf(format, args...))
}

// KindOf reports the outermost classification in err's chain. The outermost
// wins so that a caller can reclassify what a library said (for example a
// conflict that the caller knows is worth retrying).
func KindOf(err error) Kind {
	var c *classified
	if errors.As(err, &c) {
		return c.kind
	}
	return Unknown
}

// IsPermanent reports whether err is classified permanent.
func IsPermanent(err error) bool { return KindOf(err) == Permanent }

// IsRetryable reports whether a retry may help: classified retryable, or not
// classified at all.
func IsRetryable(err error) bool { return err != nil && KindOf(err) != Permanent }

// RetryAfterOf returns the delay a server asked for, or zero.
func RetryAfterOf(err error) time.Duration {
	var c *classified
	if errors.As(err, &c) {
		return c.retryAfter
	}
	return 0
}

// Wrap adds context to *errp when it is not nil, keeping the chain:
//
//	defer fault.Wrap(&err, "Refine(%d)", jobID)
func Wrap(errp *error, format string, args ...any) {
	if *errp != nil {
		*errp = fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), *errp)
	}
}
