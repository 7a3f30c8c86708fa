package bridge

import "time"

// clock is how the bridge reads the time and waits: the command retry
// delays, the pollers' schedules and back-off, the reconnect and subscribe
// delays, the Home Assistant birth delay, the run loop's 15 s tick, the
// once-a-minute early relist and every timestamp the registry keeps. The
// bounds of network calls (contexts, paho tokens) stay on the real clock.
// Tests inject a fake (Options.clock) so that nothing sleeps real time.
//
// Implementations are safe for concurrent use.
type clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) timer
}

// timer is the part of *time.Timer the bridge uses. As with time.Timer
// since Go 1.23, no stale value is received after Stop or Reset returns.
type timer interface {
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration) bool
}

// realClock is the system clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

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
