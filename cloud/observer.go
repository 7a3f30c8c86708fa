package cloud

import (
	"context"
	"sync"
	"time"
)

// Observer receives an event for every cloud call and every login or token
// refresh, for metrics. Implementations must be safe for concurrent use and
// must not block. A nil Observer in provider options means none.
type Observer interface {
	// CloudCall reports one HTTP call to the vendor cloud: method is the
	// vendor's method or API path (never holding a secret); err is nil on
	// success.
	CloudCall(provider, account, method string, err error)
	// Login reports a successful login ("login") or token refresh
	// ("refresh").
	Login(provider, account, kind string)
}

// AccountStats is what a provider reports about its account for
// bridge/info and the bridge's Home Assistant diagnostics.
type AccountStats struct {
	// CallsToday counts cloud calls since local midnight.
	CallsToday int `json:"calls_today"`
	// LoggedIn: the provider holds a token it believes valid.
	LoggedIn bool `json:"logged_in"`
}

// StatsReporter is implemented by providers that can report AccountStats.
type StatsReporter interface {
	Stats() AccountStats
}

// Renamer is implemented by providers that can rename a device in the
// vendor cloud (so the vendor app shows the new name too).
type Renamer interface {
	Rename(ctx context.Context, id, name string) error
}

// CallCounter counts calls per local calendar day. The zero value is ready;
// it is safe for concurrent use.
type CallCounter struct {
	mu  sync.Mutex
	day string
	n   int
}

// Add counts one call made at now.
func (c *CallCounter) Add(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := now.Format(time.DateOnly); d != c.day {
		c.day, c.n = d, 0
	}
	c.n++
}

// Today returns the calls counted on now's day.
func (c *CallCounter) Today(now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Format(time.DateOnly) != c.day {
		return 0
	}
	return c.n
}
