package bridge

import "time"

// pushGate is the poller's hook for accounts whose provider pushes changes
// (cloud.Pusher): while the push connection is healthy, the account's
// states are read every reconcile interval instead of the poll interval;
// when it drops, the poll interval applies again at once. (A command's
// confirming read is the worker's and is not affected.) The run loop
// reports the connection's health with set; the poller's goroutine reads
// changed (pollRun.pushHealth) and takes interval as its base interval.
type pushGate struct {
	reconcile time.Duration
	changed   chan bool // latest health, buffer 1
	healthy   bool      // owned by the poller's goroutine
}

func newPushGate(reconcile time.Duration) *pushGate {
	return &pushGate{reconcile: reconcile, changed: make(chan bool, 1)}
}

// set reports the push connection's health; it never blocks, and only the
// latest report counts. Called by the run loop.
func (g *pushGate) set(healthy bool) {
	for {
		select {
		case g.changed <- healthy:
			return
		default:
		}
		select {
		case <-g.changed: // drop the stale report
		default:
		}
	}
}

// updates delivers the health reports (nil for a nil gate: never).
func (g *pushGate) updates() <-chan bool {
	if g == nil {
		return nil
	}
	return g.changed
}

// interval is the wait between state reads: reconcile while push is
// healthy, else pollInterval (also for a nil gate).
func (g *pushGate) interval(pollInterval time.Duration) time.Duration {
	if g != nil && g.healthy {
		return max(g.reconcile, pollInterval)
	}
	return pollInterval
}
