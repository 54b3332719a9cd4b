package logging

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Redacted replaces a secret in a log line.
const Redacted = "[redacted]"

// MinSecretLen is the length below which a value is not scrubbed: shorter
// values match ordinary words ("postgres", "true") and no real key is that
// short. Config refuses nothing on this ground; it is only the logger's rule.
const MinSecretLen = 8

type secretKey struct{}

// WithSecret returns a context whose log lines never show secret (a user's
// decrypted key, say): the logger replaces it with [redacted] wherever it
// appears, in the message, an attribute, a group or an error's text. It is
// the last line of defence; errors should not hold secrets to begin with.
func WithSecret(ctx context.Context, secret string) context.Context {
	if len(secret) < MinSecretLen {
		return ctx
	}
	prev, _ := ctx.Value(secretKey{}).([]string)
	all := make([]string, 0, len(prev)+1)
	all = append(append(all, prev...), secret)
	return context.WithValue(ctx, secretKey{}, all)
}

// Scrub returns a handler that writes through next with every one of
// secrets, and every secret of the record's context (WithSecret), replaced
// by [redacted]. Attributes bound with WithAttrs are scrubbed of secrets
// when bound; context secrets apply to the record's own attributes, its
// message, and the context's attributes (With).
func Scrub(next slog.Handler, secrets ...string) slog.Handler {
	var keep []string
	for _, s := range secrets {
		if len(s) >= MinSecretLen {
			keep = append(keep, s)
		}
	}
	return &scrubHandler{next: next, secrets: keep}
}

type scrubHandler struct {
	next    slog.Handler
	secrets []string
}

func (h *scrubHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *scrubHandler) Handle(ctx context.Context, r slog.Record) error {
	extra, _ := ctx.Value(secretKey{}).([]string)
	secrets := secretSet{h.secrets, extra}
	if len(h.secrets)+len(extra) == 0 {
		return h.next.Handle(ctx, r)
	}
	// The common case, nothing to hide, allocates nothing: look first.
	dirty := holds(r.Message, secrets)
	if !dirty {
		r.Attrs(func(a slog.Attr) bool {
			dirty = attrHolds(a, secrets)
			return !dirty
		})
	}
	if !dirty {
		return h.next.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, scrub(r.Message, secrets), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(scrubAttr(a, secrets))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *scrubHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = scrubAttr(a, secretSet{h.secrets, nil})
	}
	return &scrubHandler{next: h.next.WithAttrs(clean), secrets: h.secrets}
}

func (h *scrubHandler) WithGroup(name string) slog.Handler {
	return &scrubHandler{next: h.next.WithGroup(scrub(name, secretSet{h.secrets, nil})), secrets: h.secrets}
}

// secretSet is the configured secrets and the context's, kept apart so
// that a line costs no allocation to check.
type secretSet [2][]string

func holds(s string, secrets secretSet) bool {
	if len(s) < MinSecretLen {
		return false
	}
	for _, list := range secrets {
		for _, k := range list {
			if strings.Contains(s, k) {
				return true
			}
		}
	}
	return false
}

func scrub(s string, secrets secretSet) string {
	for _, list := range secrets {
		for _, k := range list {
			if strings.Contains(s, k) {
				s = strings.ReplaceAll(s, k, Redacted)
			}
		}
	}
	return s
}

// attrHolds reports whether a shows a secret in its key or value.
func attrHolds(a slog.Attr, secrets secretSet) bool {
	if holds(a.Key, secrets) {
		return true
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return holds(v.String(), secrets)
	case slog.KindGroup:
		for _, g := range v.Group() {
			if attrHolds(g, secrets) {
				return true
			}
		}
	case slog.KindAny:
		s, _ := anyText(v.Any())
		return holds(s, secrets)
	}
	return false
}

// scrubAttr returns a with every secret replaced. A value of another type
// that shows a secret (an error, a Stringer, a struct) becomes its scrubbed
// text.
func scrubAttr(a slog.Attr, secrets secretSet) slog.Attr {
	a.Key = scrub(a.Key, secrets)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(scrub(v.String(), secrets))
	case slog.KindGroup:
		g := v.Group()
		clean := make([]slog.Attr, len(g))
		for i, ga := range g {
			clean[i] = scrubAttr(ga, secrets)
		}
		a.Value = slog.GroupValue(clean...)
	case slog.KindAny:
		if s, _ := anyText(v.Any()); holds(s, secrets) {
			a.Value = slog.StringValue(scrub(s, secrets))
		} else {
			a.Value = v
		}
	default:
		a.Value = v
	}
	return a
}

// anyText is the text an Any value shows in a log line.
func anyText(x any) (s string, ok bool) {
	defer func() {
		if recover() != nil { // a nil pointer's Error, say: slog shows it as such
			s, ok = "", false
		}
	}()
	switch t := x.(type) {
	case nil:
		return "", false
	case error:
		return t.Error(), true
	case fmt.Stringer:
		return t.String(), true
	case []byte:
		return string(t), true
	}
	return fmt.Sprintf("%+v", x), true
}
