package bridge

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told to: Advance fires the
// timers that fall due, in order. With instant set, a timer fires as soon as
// it is armed and the clock jumps by its duration, so that code waiting for
// a retry delay goes on at once.
type fakeClock struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	armed   map[*fakeTimer]bool
	instant bool
}

func newFakeClock() *fakeClock {
	c := &fakeClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), armed: map[*fakeTimer]bool{}}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// Advance moves the clock on by d, firing every timer due meanwhile.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	end := c.now.Add(d)
	for {
		var next *fakeTimer
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

// waitArmed blocks until at least n timers are armed: the code under test
// is waiting for them.
func (c *fakeClock) waitArmed(t *testing.T, n int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.armed) < n {
		c.cond.Wait()
	}
}

// fire delivers t's tick; c.mu is held.
func (c *fakeClock) fire(t *fakeTimer) {
	delete(c.armed, t)
	select {
	case t.ch <- c.now:
	default:
	}
}

type fakeTimer struct {
	c  *fakeClock
	ch chan time.Time
	at time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.stopLocked()
}

func (t *fakeTimer) stopLocked() bool {
	was := t.c.armed[t]
	delete(t.c.armed, t)
	select { // like time.Timer since Go 1.23: no stale tick after Stop
	case <-t.ch:
	default:
	}
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
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

// advanceNext moves the clock to the first armed timer due by limit and
// fires it, or to limit when none is.
func (c *fakeClock) advanceNext(limit time.Time) {
	c.mu.Lock()
	at := limit
	for t := range c.armed {
		if t.at.Before(at) {
			at = t.at
		}
	}
	d := max(at.Sub(c.now), 0)
	c.mu.Unlock()
	c.Advance(d)
}
