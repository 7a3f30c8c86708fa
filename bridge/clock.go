package bridge

import (
	"time"

	iclock "github.com/kasa2mqtt/kasa2mqtt/internal/clock"
)

// clock is how the bridge reads the time and waits (internal/clock): the
// command retry delays, the pollers' schedules and back-off, the reconnect
// and subscribe delays, the Home Assistant birth delay, the run loop's
// 15 s tick, the once-a-minute early relist and every timestamp the
// registry keeps. The bounds of network calls (contexts, paho tokens) stay
// on the real clock. Tests inject a fake (Options.clock) so that nothing
// sleeps real time.
type clock = iclock.Clock

// timer is the part of *time.Timer the bridge uses (internal/clock.Timer).
type timer = iclock.Timer

// realClock is the system clock.
type realClock = iclock.Real

// stoppedTimer returns a timer that is not running (for Reset later).
func stoppedTimer(c clock) timer {
	t := c.NewTimer(time.Hour)
	t.Stop()
	return t
}

// sleep waits d on c, or returns false as soon as done is closed.
func sleep(c clock, d time.Duration, done <-chan struct{}) bool {
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-done:
		return false
	}
}
