package functions

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/config"
)

func TestSelect(t *testing.T) {
	t.Parallel()
	all, err := Select("")
	if err != nil || len(all) != 7 {
		t.Fatalf("Select(\"\") = %d targets, %v", len(all), err)
	}
	one, err := Select("RefineJobs")
	if err != nil || len(one) != 1 || one[0].Name != "RefineJobs" {
		t.Fatalf("Select(RefineJobs) = %v, %v", one, err)
	}
	// Names are exact: functions-framework would fall back to another function.
	for _, name := range []string{"refinejobs", "RefineJobs ", "NoSuchFunction"} {
		var unknown *UnknownTargetError
		if _, err := Select(name); !errors.As(err, &unknown) || !strings.Contains(err.Error(), "TelegramWebhook") {
			t.Errorf("Select(%q) = %v, want an UnknownTargetError naming the known targets", name, err)
		}
	}
	needs := Needs(one)
	if !slices.Contains(needs, config.Database) || slices.Contains(needs, config.StripeWebhook) {
		t.Errorf("RefineJobs needs %v", needs)
	}
}

func testTarget(name string, h http.HandlerFunc) Target {
	return Target{Name: name, Build: func(context.Context, *Deps) (http.Handler, error) { return h, nil }}
}

func TestHandlerRouting(t *testing.T) {
	t.Parallel()
	d := NewDeps(&config.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	a := testTarget("A", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "a") })
	b := testTarget("B", func(w http.ResponseWriter, r *http.Request) { panic("bug") })

	single, err := Handler(context.Background(), []Target{a}, d)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/anything", "/B"} {
		rec := httptest.NewRecorder()
		single.ServeHTTP(rec, httptest.NewRequest("POST", path, nil))
		if rec.Body.String() != "a" {
			t.Errorf("single target at %s answered %q", path, rec.Body.String())
		}
	}

	multi, err := Handler(context.Background(), []Target{a, b}, d)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	multi.ServeHTTP(rec, httptest.NewRequest("POST", "/A", nil))
	if rec.Body.String() != "a" {
		t.Errorf("/A answered %q", rec.Body.String())
	}
	rec = httptest.NewRecorder()
	multi.ServeHTTP(rec, httptest.NewRequest("POST", "/B", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("a panic answered %d, want 500 (a nack)", rec.Code)
	}
	rec = httptest.NewRecorder()
	multi.ServeHTTP(rec, httptest.NewRequest("POST", "/C", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("/C answered %d, want 404", rec.Code)
	}
}
