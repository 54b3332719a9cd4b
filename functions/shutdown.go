package functions

import (
	"context"
	"sync"
)

// OnShutdown registers fn to run at Shutdown: when the instance is told to
// stop (SIGTERM), before the server waits for requests in flight, so that a
// consumer holding long work hands it back at once rather than be killed
// 10 s later still holding it.
func (d *Deps) OnShutdown(fn func(ctx context.Context)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shutdown = append(d.shutdown, fn)
}

// Shutdown runs the registered hooks, concurrently, and returns when all
// are done or ctx ends.
func (d *Deps) Shutdown(ctx context.Context) {
	d.mu.Lock()
	hooks := d.shutdown
	d.shutdown = nil
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, fn := range hooks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(ctx)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
