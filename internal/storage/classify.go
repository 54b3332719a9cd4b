package storage

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/devbot-hq/devbot/internal/fault"
)

// ServerError is an answer of the storage server other than success. It
// wraps the fault sentinel it was classified as.
type ServerError struct {
	Method     string
	HTTPStatus int
	Message    string // the server's message, or the status text; never empty
	Kind       error  // fault.ErrNotFound, ErrConflict, ...
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("%s (%v; HTTP %d)", e.Message, e.Kind, e.HTTPStatus)
}

func (e *ServerError) Unwrap() error { return e.Kind }

// classify turns a failed answer into a classified error. Supabase Storage
// answers almost every error with HTTP 400 and puts the real status in the
// body's statusCode and code, which storage-go throws away; what it keeps is
// the message, so the server's exact messages decide (facts/supabase-
// storage.md), then the HTTP status (gateways, and servers that send real
// statuses):
//
//	HTTP 429 (SlowDown)                          rate limited, retryable after Retry-After
//	HTTP 5xx, 544                                unavailable, retryable
//	"Object not found", "Bucket not found"       not found
//	"The resource already exists", "... not empty" conflict
//	JWT failures ("exp" claim, signature, JWS;   unauthorized
//	  v1.11.2: "invalid signature", "jwt ...")
//	"... exceeded the maximum allowed size"      too large
//	"mime type ... not supported", "Invalid key" invalid
//	HTTP 401/403 unauthorized, 409 conflict, 413 too large; a true 404 is an
//	unknown route (a wrong SUPABASE_URL): unavailable, retryable, since
//	acking would lose the message; any other 4xx is invalid.
func classify(method string, status int, h http.Header, message string) error {
	message = strings.TrimSpace(message)
	if message == "" {
		message = strings.TrimSpace(http.StatusText(status))
		if message == "" {
			message = "HTTP " + strconv.Itoa(status)
		}
	}
	e := &ServerError{Method: method, HTTPStatus: status, Message: message}
	switch {
	case status == http.StatusTooManyRequests:
		e.Kind = fault.ErrRateLimited
		return fault.RetryAfter(e, retryAfter(h.Get("Retry-After")))
	case status >= 500:
		e.Kind = fault.ErrUnavailable
		if d := retryAfter(h.Get("Retry-After")); d > 0 {
			return fault.RetryAfter(e, d)
		}
		return fault.AsRetryable(e)
	}
	if e.Kind = kindOfMessage(message); e.Kind != nil {
		return fault.AsPermanent(e)
	}
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		e.Kind = fault.ErrUnauthorized
	case http.StatusConflict:
		e.Kind = fault.ErrConflict
	case http.StatusRequestEntityTooLarge:
		e.Kind = fault.ErrTooLarge
	case http.StatusNotFound:
		e.Kind = fault.ErrUnavailable
		e.Message += " (unknown route: is SUPABASE_URL the project URL? A bare Storage server, serving at its root, is SUPABASE_STORAGE_URL)"
		return fault.AsRetryable(e)
	default:
		e.Kind = fault.ErrInvalid
	}
	return fault.AsPermanent(e)
}

func kindOfMessage(m string) error {
	l := strings.ToLower(m)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(l, s) {
				return true
			}
		}
		return false
	}
	switch {
	case strings.HasPrefix(l, "invalid key"), strings.HasPrefix(l, "mime type"):
		return fault.ErrInvalid // first: the message quotes the key or type
	case l == "object not found" || l == "bucket not found" || has("not found") && !strings.HasPrefix(l, "route "):
		return fault.ErrNotFound
	case has("already exists", "not empty"):
		return fault.ErrConflict
	case has("claim timestamp check failed", "signature verification failed", "invalid signature", "invalid compact jws",
		"jwt", "jws", "token", "api key", "unauthorized", "access denied", "permission denied", "row-level security"):
		return fault.ErrUnauthorized
	case has("maximum allowed size", "too large"):
		return fault.ErrTooLarge
	}
	return nil
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
