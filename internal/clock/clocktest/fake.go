// Package clocktest is a fake clock.Clock for tests that drive a daemon's
// schedules (polls, reconciles, keep-alive pings, back-off) without
// waiting real time.
package clocktest

import (
	"sync"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/internal/clock"
)

// Fake is a clock that moves only when told to: Advance fires the timers
// that fall due, in order of their due time. A timer armed with d ≤ 0
// fires at once. In instant mode (SetInstant) every timer fires as soon as
// it is armed and the clock jumps by its duration, so that code waiting
// for a retry delay goes on at once. Safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	armed   map[*timer]bool
	instant bool
}

// New returns a fake clock reading start.
func New(start time.Time) *Fake {
	c := &Fake{now: start, armed: map[*timer]bool{}}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// Now returns the fake time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the clock reaches Now()+d.
func (c *Fake) NewTimer(d time.Duration) clock.Timer {
	t := &timer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// Advance moves the clock on by d, firing every timer due meanwhile (the
// clock reads each timer's due time when it fires). It does not wait for
// the code behind the timers to run.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	end := c.now.Add(d)
	for {
		var next *timer
		for t := range c.armed {
			if !t.at.After(end) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next == nil {
			break
		}
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.fire(next)
	}
	c.now = end
}

// SetInstant turns instant mode on or off.
func (c *Fake) SetInstant(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.instant = on
}

// Armed returns how many timers are waiting.
func (c *Fake) Armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.armed)
}

// Next returns when the first armed timer fires, and false when none is
// armed.
func (c *Fake) Next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var at time.Time
	for t := range c.armed {
		if at.IsZero() || t.at.Before(at) {
			at = t.at
		}
	}
	return at, !at.IsZero()
}

// WaitArmed blocks until at least n timers are armed: the code under test
// is waiting for them.
func (c *Fake) WaitArmed(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.armed) < n {
		c.cond.Wait()
	}
}

// WaitTimerAt blocks until a timer is armed to fire at at.
func (c *Fake) WaitTimerAt(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for t := range c.armed {
			if t.at.Equal(at) {
				return
			}
		}
		c.cond.Wait()
	}
}

// fire delivers t's tick; c.mu is held.
func (c *Fake) fire(t *timer) {
	delete(c.armed, t)
	select {
	case t.ch <- c.now:
	default:
	}
}

type timer struct {
	c  *Fake
	ch chan time.Time
	at time.Time
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.stopLocked()
}

func (t *timer) stopLocked() bool {
	was := t.c.armed[t]
	delete(t.c.armed, t)
	select { // like time.Timer since Go 1.23: no stale tick after Stop
	case <-t.ch:
	default:
	}
	return was
}

func (t *timer) Reset(d time.Duration) bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	was := t.stopLocked()
	if c.instant {
		c.now = c.now.Add(max(d, 0))
		t.at = c.now
		c.fire(t)
		return was
	}
	t.at = c.now.Add(d)
	if d <= 0 {
		c.fire(t)
		return was
	}
	c.armed[t] = true
	c.cond.Broadcast()
	return was
}
