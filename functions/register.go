package functions

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"sync"

	ffunctions "github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/logging"
)

// Every target is registered with functions-framework-go, so the framework's
// own runner (funcframework.Start) and source deploys find them. devbot serve
// serves the same targets through Handler, with the server timeouts, the
// graceful shutdown and the refusal of unknown targets that the framework
// lacks.
func init() {
	for _, t := range Targets() {
		ffunctions.HTTP(t.Name, lazy(t))
	}
}

// lazy builds t's dependencies from the process environment on the first
// request; a configuration error answers 500 on every request, naming the
// problem in the log.
func lazy(t Target) func(http.ResponseWriter, *http.Request) {
	var (
		once sync.Once
		h    http.Handler
	)
	return func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() {
			cfg, err := config.LoadEnv(t.Needs...)
			logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
			if err == nil {
				logger = logging.New(os.Stderr, cfg.LogFormat, cfg.LogLevel, cfg.Secrets()...)
				h, err = Handler(r.Context(), []Target{t}, NewDeps(cfg, logger))
			}
			if err != nil {
				logger.Error("function cannot start", "function", t.Name, "error", err.Error())
				h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Error(w, t.Name+" is misconfigured; see the logs", http.StatusInternalServerError)
				})
			}
		})
		h.ServeHTTP(w, r)
	}
}

// Handler builds the handler for targets: a single target is served at
// every path (as on Cloud Run, one service per function); several are
// served at /<Name>.
//
// In production a consumer without push authentication is refused here,
// before anything is built or connected, so the process does not start.
func Handler(ctx context.Context, targets []Target, d *Deps) (http.Handler, error) {
	for _, t := range targets {
		if t.Consumes != "" {
			if err := requirePushAuth(d.Config); err != nil {
				return nil, fmt.Errorf("%s: %w", t.Name, err)
			}
		}
	}
	project := d.Config.GoogleCloudProject
	if len(targets) == 1 {
		h, err := targets[0].Build(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", targets[0].Name, err)
		}
		return logging.Middleware(project, recoverPanics(d.Logger, targets[0].Name, h)), nil
	}
	mux := http.NewServeMux()
	for _, t := range targets {
		h, err := t.Build(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		mux.Handle("/"+t.Name, recoverPanics(d.Logger, t.Name, h))
		mux.Handle("/"+t.Name+"/", recoverPanics(d.Logger, t.Name, h))
	}
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "devbot: functions at /<Name>:")
		for _, t := range targets {
			fmt.Fprintln(w, "  /"+t.Name)
		}
	})
	return logging.Middleware(project, mux), nil
}

// recoverPanics is the last line of defence: a panic answers 500 (a nack, so
// Pub/Sub redelivers) and is logged with its stack. Consumers recover
// earlier, in the events package, to record the failure.
func recoverPanics(logger *slog.Logger, name string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger.ErrorContext(r.Context(), "panic in function", "function", name,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func notImplemented(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, name+" is not implemented yet", http.StatusNotImplemented)
	})
}
