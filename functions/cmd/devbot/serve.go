package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/devbot-hq/devbot/functions"
	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/logging"
)

// shutdownGrace bounds how long in-flight requests may finish after SIGTERM.
// Cloud Run kills the container 10 s after SIGTERM.
const shutdownGrace = 9 * time.Second

func init() {
	register("serve", command{
		summary: "serve the functions on $PORT (FUNCTION_TARGET picks one)",
		usage: `With FUNCTION_TARGET set, serves only that function, at every path (one Cloud Run
service per function). Without it, serves every function at /<Name>.
Functions: ` + fmt.Sprint(functions.Names()),
		run: serve,
	})
}

func serve(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	target, _ := e.lookup("FUNCTION_TARGET")
	targets, err := functions.Select(target)
	if err != nil {
		return err
	}
	cfg, err := config.Load(e.lookup, functions.Needs(targets)...)
	if err != nil {
		return err
	}
	logger := logging.New(e.stderr, cfg.LogFormat, cfg.LogLevel, cfg.Secrets()...)
	deps := functions.NewDeps(cfg, logger)
	defer deps.Close()

	handler, err := functions.Handler(ctx, targets, deps)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", ":"+cfg.Port)
	if err != nil {
		return err
	}
	srv := newServer(handler, cfg.HandlerTimeout)
	logger.Info("serving", "port", cfg.Port, "functions", functions.Names(), "target", target)
	return serveUntilDone(ctx, srv, ln, logger, deps.Shutdown)
}

// handBackGrace bounds the shutdown hooks (a consumer releasing the leases
// of its work in flight: one UPDATE each), inside shutdownGrace.
const handBackGrace = 3 * time.Second

// newServer sets timeouts that net/http leaves unbounded: a slow client
// cannot hold a connection, while a consumer may run up to its deadline.
func newServer(h http.Handler, handlerTimeout time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      handlerTimeout + 30*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

type infoLogger interface {
	Info(msg string, args ...any)
}

// serveUntilDone serves until ctx ends (SIGTERM), runs handBack (the
// consumers stop their long work and release its leases, so the requests
// answer 503 at once and the redeliveries resume elsewhere without waiting),
// then lets in-flight requests finish within shutdownGrace.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, logger infoLogger, handBack func(context.Context)) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", shutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if handBack != nil {
		hctx, done := context.WithTimeout(sctx, handBackGrace)
		handBack(hctx)
		done()
	}
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: in-flight requests did not finish within %s: %w", shutdownGrace, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
