package httpfault

import (
	"context"
	"sync"
)

// Gate holds requests until a given number of them have arrived, then lets
// them all go on together: for tests whose calls must be in flight at the
// same moment however slowly they were sent (a latency only bunches calls
// that arrive within it). The zero value holds nothing. Gate is safe for
// concurrent use.
type Gate struct {
	mu      sync.Mutex
	n       int           // requests still to hold before the release
	release chan struct{} // closed when the n-th arrives
}

// Hold makes the next n requests wait in Wait until the n-th of them has
// arrived. Hold(0) releases the requests held so far and holds no more.
func (g *Gate) Hold(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.release != nil && g.n > 0 {
		close(g.release)
	}
	g.n, g.release = max(n, 0), make(chan struct{})
}

// Wait holds a request while the gate counts requests (see Hold). It
// returns false, early, when ctx ends (the client gave up) or closing is
// closed (the server is closing): then there is nothing to answer.
// Without a Hold it returns true at once.
func (g *Gate) Wait(ctx context.Context, closing <-chan struct{}) bool {
	g.mu.Lock()
	if g.n == 0 {
		g.mu.Unlock()
		return true
	}
	g.n--
	release := g.release
	if g.n == 0 {
		close(release)
	}
	g.mu.Unlock()
	select {
	case <-release:
		return true
	case <-ctx.Done():
	case <-closing:
	}
	return false
}
