package region

import (
	"context"
	"sync"
	"time"
)

// Loops runs the background goroutines of a service and stops them: a
// service's Start calls Go for each of its loops, its Stop calls Stop,
// which cancels their context and waits until every one has returned.
// The zero value is ready to use; a Loops is started at most once.
type Loops struct {
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Go runs fn in a goroutine with a context that keeps parent's values and
// ends at Stop.
func (l *Loops) Go(parent context.Context, fn func(ctx context.Context)) {
	l.mu.Lock()
	if l.ctx == nil {
		l.ctx, l.cancel = context.WithCancel(context.WithoutCancel(parent))
	}
	ctx := l.ctx
	l.wg.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.wg.Done()
		fn(ctx)
	}()
}

// Stop cancels the loops and waits for them to return.
func (l *Loops) Stop() {
	l.mu.Lock()
	if l.cancel != nil {
		l.cancel()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// DefaultPurgeInterval is how often expired workspaces are purged when
// PurgeInterval is 0.
const DefaultPurgeInterval = time.Minute

// Start starts the kernel's loop: the purge of workspaces whose retention
// ended, every PurgeInterval.
func (r *Region) Start(ctx context.Context) {
	every := r.PurgeInterval
	if every <= 0 {
		every = DefaultPurgeInterval
	}
	r.loops.Go(ctx, func(ctx context.Context) { r.RunPurger(ctx, every) })
}

// Stop stops the kernel's loop and waits for it. Call Shutdown first, so
// that long polls answer at once.
func (r *Region) Stop() { r.loops.Stop() }
