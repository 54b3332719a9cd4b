package functions

import (
	"context"
	"log/slog"
	"sync"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/storage"
)

// Deps holds what the functions share in one instance, each built on first
// use and at most once: a function that does not need the database never
// connects to it.
type Deps struct {
	Config *config.Config
	Logger *slog.Logger

	mu      sync.Mutex
	db      *db.DB
	files   *storage.Files // deps_storage.go
	pubsub  pubsubDeps     // deps_pubsub.go
	closers []func()
	// shutdown holds the OnShutdown hooks (shutdown.go).
	shutdown []func(ctx context.Context)
}

// NewDeps returns dependencies for cfg.
func NewDeps(cfg *config.Config, logger *slog.Logger) *Deps {
	return &Deps{Config: cfg, Logger: logger}
}

// DB returns the shared connection pool.
func (d *Deps) DB(ctx context.Context) (*db.DB, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.db != nil {
		return d.db, nil
	}
	pool, err := db.Open(ctx, d.Config.DatabaseURL, db.Options{
		ExecMode: d.Config.DatabaseExecMode, MaxConns: d.Config.DatabaseMaxConns})
	if err != nil {
		return nil, err
	}
	d.db = pool
	d.closers = append(d.closers, pool.Close)
	return pool, nil
}

// OnClose registers fn to run at Close, in reverse order of registration.
func (d *Deps) OnClose(fn func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closers = append(d.closers, fn)
}

// Close releases everything built, newest first.
func (d *Deps) Close() {
	d.mu.Lock()
	closers := d.closers
	d.closers = nil
	d.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}
