// Package logging sets up log/slog: JSON with Cloud Logging's field names in
// production (severity, message, logging.googleapis.com/trace), readable text
// locally; attributes carried by the context, so every line written while
// handling an event names that event; and a last line of defence that
// scrubs every configured secret, and every secret the context carries (a
// user's own key), from every line.
package logging

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// Cloud Logging's special JSON fields.
const (
	TraceKey = "logging.googleapis.com/trace"
	SpanKey  = "logging.googleapis.com/spanId"
)

// New returns a logger writing to w. format is "json" (Cloud Logging) or
// "text"; level is debug, info, warn or error. No line shows any of
// secrets (the configuration's: config.Config.Secrets) or a secret of the
// line's context (WithSecret): see Scrub.
func New(w io.Writer, format, level string, secrets ...string) *slog.Logger {
	var lvl slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lvl = slog.LevelDebug
	case "warn", "warning":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		lvl = slog.LevelInfo
	}
	var h slog.Handler
	if format == "json" {
		h = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl, ReplaceAttr: cloudLogging})
	} else {
		h = slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})
	}
	return slog.New(&contextHandler{Handler: Scrub(h, secrets...)})
}

// cloudLogging renames slog's built-in keys to the fields Cloud Logging reads.
func cloudLogging(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.MessageKey:
		a.Key = "message"
	case slog.LevelKey:
		a.Key = "severity"
		switch lvl := a.Value.Any().(slog.Level); {
		case lvl >= slog.LevelError:
			a.Value = slog.StringValue("ERROR")
		case lvl >= slog.LevelWarn:
			a.Value = slog.StringValue("WARNING")
		case lvl >= slog.LevelInfo:
			a.Value = slog.StringValue("INFO")
		default:
			a.Value = slog.StringValue("DEBUG")
		}
	}
	return a
}

type ctxKey struct{}

// With returns a context whose log lines carry attrs (in addition to any it
// already carries): the event id, the subscription, the job.
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(ctxKey{}).([]slog.Attr)
	all := make([]slog.Attr, 0, len(prev)+len(attrs))
	all = append(append(all, prev...), attrs...)
	return context.WithValue(ctx, ctxKey{}, all)
}

// Attrs returns the attributes a context carries.
func Attrs(ctx context.Context) []slog.Attr {
	a, _ := ctx.Value(ctxKey{}).([]slog.Attr)
	return a
}

type contextHandler struct{ slog.Handler }

func (h *contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if attrs := Attrs(ctx); len(attrs) > 0 {
		r = r.Clone()
		r.AddAttrs(attrs...)
	}
	return h.Handler.Handle(ctx, r)
}

func (h *contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h *contextHandler) WithGroup(name string) slog.Handler {
	return &contextHandler{h.Handler.WithGroup(name)}
}

// Trace returns the trace attributes for a request's X-Cloud-Trace-Context
// header ("TRACE_ID/SPAN_ID;o=1"), in the form Cloud Logging links to the
// request log; none when the header is absent or the project unknown.
func Trace(project, header string) []slog.Attr {
	if project == "" || header == "" {
		return nil
	}
	traceID, rest, _ := strings.Cut(header, "/")
	if traceID == "" || strings.ContainsAny(traceID, " ;") {
		return nil
	}
	attrs := []slog.Attr{slog.String(TraceKey, "projects/"+project+"/traces/"+traceID)}
	if span, _, _ := strings.Cut(rest, ";"); span != "" {
		attrs = append(attrs, slog.String(SpanKey, span))
	}
	return attrs
}

// Middleware attaches the request's trace to its context's log attributes.
func Middleware(project string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if attrs := Trace(project, r.Header.Get("X-Cloud-Trace-Context")); attrs != nil {
			r = r.WithContext(With(r.Context(), attrs...))
		}
		next.ServeHTTP(w, r)
	})
}
