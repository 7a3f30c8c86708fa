package broker

import (
	"errors"
	"net"
	"sync"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// errClosing refuses connections that arrive while the broker closes.
var errClosing = errors.New("broker: closing")

// connGuard orders the start of every connection before Close. mochi
// registers a connection in its client wait group inside the connection's
// own goroutine, so a connection still in its handshake when Close waits
// on that group is a data race (and could be missed by the wait). Each
// connection holds the guard's read lock from before mochi sees it until
// its first read, which mochi makes after registering it; Close takes the
// write lock first.
type connGuard struct {
	mu      sync.RWMutex
	closing bool
}

// enter reports whether a new connection may start; if so the caller must
// call the returned leave exactly once.
func (g *connGuard) enter() (leave func(), ok bool) {
	g.mu.RLock()
	if g.closing {
		g.mu.RUnlock()
		return nil, false
	}
	var once sync.Once
	return func() { once.Do(g.mu.RUnlock) }, true
}

// close waits until every starting connection is registered with mochi,
// then refuses new ones.
func (g *connGuard) close() {
	g.mu.Lock()
	g.closing = true
	g.mu.Unlock()
}

// guardedListener passes its connections through a connGuard.
type guardedListener struct {
	listeners.Listener
	guard *connGuard
}

// Serve serves the inner listener with a guarded establish function.
func (l guardedListener) Serve(establish listeners.EstablishFn) {
	l.Listener.Serve(func(id string, c net.Conn) error {
		leave, ok := l.guard.enter()
		if !ok {
			_ = c.Close()
			return errClosing
		}
		defer leave()
		return establish(id, &guardedConn{Conn: c, leave: leave})
	})
}

// guardedConn leaves the guard on its first read.
type guardedConn struct {
	net.Conn
	leave func()
}

func (c *guardedConn) Read(p []byte) (int, error) {
	c.leave()
	return c.Conn.Read(p)
}
