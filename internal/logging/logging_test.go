package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/logging"
)

func TestJSONUsesCloudLoggingFields(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := logging.New(&buf, "json", "info")
	h := logging.Middleware("proj", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := logging.With(r.Context(), slog.String("message_id", "m-1"))
		logger.WarnContext(ctx, "redelivered", "attempt", 2)
		logger.DebugContext(ctx, "hidden")
	}))
	req := httptest.NewRequest("POST", "/", nil)
	req.Header.Set("X-Cloud-Trace-Context", "105445aa7843bc8bf206b12000100000/1;o=1")
	h.ServeHTTP(httptest.NewRecorder(), req)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1 (debug filtered): %q", len(lines), buf.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"severity":                      "WARNING",
		"message":                       "redelivered",
		"message_id":                    "m-1",
		"attempt":                       float64(2),
		logging.TraceKey:                "projects/proj/traces/105445aa7843bc8bf206b12000100000",
		"logging.googleapis.com/spanId": "1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (line %s)", k, got[k], v, lines[0])
		}
	}
	if _, ok := got["msg"]; ok {
		t.Error("slog's msg key leaked into Cloud Logging output")
	}
}

func TestTextLocally(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logging.New(&buf, "text", "debug").InfoContext(logging.With(context.Background(), slog.Int64("job", 7)), "done")
	if s := buf.String(); !strings.Contains(s, "msg=done") || !strings.Contains(s, "job=7") {
		t.Errorf("text line %q lacks message or context attribute", s)
	}
}

func TestTraceIgnoresGarbage(t *testing.T) {
	t.Parallel()
	if a := logging.Trace("p", "not a trace"); a != nil {
		t.Errorf("garbage header gave %v", a)
	}
	if a := logging.Trace("", "abc/1"); a != nil {
		t.Errorf("unknown project gave %v", a)
	}
}
