// Package listgate makes a provider list its devices once before the
// first read or command that needs the list, however many callers arrive
// at once.
package listgate

import (
	"context"
	"sync"
	"sync/atomic"
)

// Gate remembers whether a device list has been taken. The zero Gate is
// open (nothing listed yet). It is safe for concurrent use.
type Gate struct {
	mu     sync.Mutex // serialises the implicit first listing
	listed atomic.Bool
}

// Listed records that a device list was taken (the provider's
// ListDevices calls it on success, whoever called ListDevices).
func (g *Gate) Listed() { g.listed.Store(true) }

// Ensure calls list unless a device list was taken already. Concurrent
// callers wait for one listing; when it fails, each waiting caller tries
// once more in turn (a failed listing records nothing). list gets ctx and
// its error is returned as is; ctx also bounds the wait.
func (g *Gate) Ensure(ctx context.Context, list func(context.Context) error) error {
	if g.listed.Load() {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.listed.Load() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return list(ctx)
}
