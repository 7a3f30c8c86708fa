package bridge

import (
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/internal/clock/clocktest"
)

// fakeClock is clocktest.Fake (a clock that moves only when told to),
// starting at a fixed date.
type fakeClock struct{ *clocktest.Fake }

func newFakeClock() *fakeClock {
	return &fakeClock{clocktest.New(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))}
}

// waitArmed blocks until at least n timers are armed: the code under test
// is waiting for them.
func (c *fakeClock) waitArmed(t *testing.T, n int) {
	t.Helper()
	c.WaitArmed(n)
}

// advanceNext moves the clock to the first armed timer due by limit and
// fires it, or to limit when none is.
func (c *fakeClock) advanceNext(limit time.Time) {
	at := limit
	if next, ok := c.Next(); ok && next.Before(at) {
		at = next
	}
	c.Advance(max(at.Sub(c.Now()), 0))
}
