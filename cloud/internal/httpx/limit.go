package httpx

import (
	"context"
	"net/http"
	"net/url"
	"sync"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// hostLimit bounds the requests in flight per host. Safe for concurrent
// use.
type hostLimit struct {
	n     int
	mu    sync.Mutex
	hosts map[string]chan struct{}
}

func (l *hostLimit) sem(host string) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.hosts[host]
	if s == nil {
		s = make(chan struct{}, l.n)
		l.hosts[host] = s
	}
	return s
}

// acquire waits for a slot of rawURL's host (or ctx); release gives it
// back. Requests marked cloud.Interactive take no slot.
func (l *hostLimit) acquire(ctx context.Context, rawURL string) (release func(), err error) {
	if l == nil || cloud.IsInteractive(ctx) {
		return func() {}, nil
	}
	host := rawURL
	if u, err := url.Parse(rawURL); err == nil {
		host = u.Host
	}
	s := l.sem(host)
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// LimitPerHost returns a copy of c that has at most n requests in flight
// per host (n <= 0: no bound); requests whose context is marked
// cloud.Interactive (commands) do not wait for a slot. The copy's own
// timeout starts once the request has its slot. When c uses the shared
// pool, the copy uses Pooled(n), whose idle connections per host fit n.
func (c *Caller) LimitPerHost(n int) *Caller {
	cp := *c
	cp.limit = nil
	if n > 0 {
		cp.limit = &hostLimit{n: n, hosts: map[string]chan struct{}{}}
		if c.pooled {
			cp.hc = Pooled(n)
		}
	}
	return &cp
}

// interactiveIdle are the idle connections per host kept beyond the bound
// of a pool, for commands that do not wait for a slot.
const interactiveIdle = 2

// DefaultPerHost is the per-host size of Shared's pool.
const DefaultPerHost = 8

var pools sync.Map // int -> *http.Client

// Pooled returns the process-wide pooled client for up to perHost
// requests in flight per host: the settings of NewTransport with
// perHost+2 idle connections per host (for commands beside the bound) and
// four times that in all, a 60 s overall backstop, and redirects never
// followed. Clients of the same size share their connections.
func Pooled(perHost int) *http.Client {
	perHost = max(perHost, 1)
	if c, ok := pools.Load(perHost); ok {
		return c.(*http.Client)
	}
	actual, _ := pools.LoadOrStore(perHost, newClient(newTransport(perHost)))
	return actual.(*http.Client)
}
