package bridge

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// scriptedAccount answers lists and reads with the errors it is given
// (nil: success with one device).
type scriptedAccount struct {
	testProvider
	mu      sync.Mutex
	listErr error
	readErr error
}

func (a *scriptedAccount) set(listErr, readErr error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.listErr, a.readErr = listErr, readErr
}

func (a *scriptedAccount) ListDevices(context.Context) ([]cloud.Device, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.listErr != nil {
		return nil, a.listErr
	}
	return []cloud.Device{{ID: "A", Provider: "kasa"}}, nil
}

func (a *scriptedAccount) ReadStates(_ context.Context, ids []string) ([]cloud.State, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.readErr != nil {
		return nil, a.readErr
	}
	return []cloud.State{{DeviceID: ids[0]}}, nil
}

// pollerRun runs a poller on a fake clock.
type pollerRun struct {
	t      *testing.T
	clock  *fakeClock
	events chan event
	p      *poller
}

func startPoller(t *testing.T, acct *scriptedAccount, poll, list time.Duration, mods ...func(*poller)) *pollerRun {
	r := &pollerRun{t: t, clock: newFakeClock(), events: make(chan event, 16)}
	r.p = &poller{prov: acct, pollInterval: poll, listInterval: list, skip: func(string) bool { return false },
		events: r.events, relist: make(chan struct{}, 1), log: zap.NewNop(), clock: r.clock}
	for _, m := range mods {
		m(r.p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.p.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// next returns the poller's next event ("list", "list error", "read",
// "read error").
func (r *pollerRun) next() string {
	r.t.Helper()
	for {
		select {
		case ev := <-r.events:
			if _, ok := ev.(intervalEvent); ok {
				continue // for bridge/info, not part of the schedule
			}
			return r.name(ev)
		case <-time.After(10 * time.Second): // a guard against a hang, not a timing
			r.t.Fatal("the poller sent nothing")
			return ""
		}
	}
}

// name names an event of the poller.
func (r *pollerRun) name(ev event) string {
	switch ev := ev.(type) {
	case listEvent:
		if ev.err != nil {
			return "list error"
		}
		return "list"
	case statesEvent:
		if ev.err != nil {
			return "read error"
		}
		return "read"
	}
	return ""
}

// expect checks the poller's next events.
func (r *pollerRun) expect(want ...string) {
	r.t.Helper()
	for _, w := range want {
		if got := r.next(); got != w {
			r.t.Fatalf("got %s, want %s", got, w)
		}
	}
}

// intervalChanged waits for the poller's intervalEvent: it has applied a
// change of its interval (a push health report) and told bridge/info.
func (r *pollerRun) intervalChanged() {
	r.t.Helper()
	select {
	case ev := <-r.events:
		if _, ok := ev.(intervalEvent); !ok {
			r.t.Fatalf("got %s (%T), want the interval's change", r.name(ev), ev)
		}
	case <-time.After(10 * time.Second): // a guard against a hang, not a timing
		r.t.Fatal("the poller did not report its interval's change")
	}
}

// idle waits until the poller waits for its timers (n armed) and checks
// that it sent nothing meanwhile.
func (r *pollerRun) idle(n int) {
	r.t.Helper()
	r.clock.waitArmed(r.t, n)
	if len(r.events) != 0 {
		r.t.Fatalf("unexpected event %T", <-r.events)
	}
}

// The schedule: list at start, every device read right after the first
// list, then every interval, keeping its phase; a list every list
// interval (the reads go on at their own times) and when asked.
func TestPoller_Schedule(t *testing.T) {
	r := startPoller(t, &scriptedAccount{testProvider: *home}, 7*time.Minute, 30*time.Minute)
	r.expect("list", "read")
	for range 4 { // at 7, 14, 21 and 28 min
		r.idle(2)
		r.clock.Advance(6 * time.Minute)
		r.idle(2)
		r.clock.Advance(time.Minute)
		r.expect("read")
	}
	r.idle(2)
	r.clock.Advance(2 * time.Minute) // 30 min: a list
	r.expect("list")
	r.idle(2)
	r.clock.Advance(5 * time.Minute) // 35 min: the read keeps its phase
	r.expect("read")
	r.idle(2)
	r.p.relist <- struct{}{}
	r.expect("list")
}

// A failed list is retried after a back-off of 5 s (jittered, doubling);
// after refused credentials, only at the list interval.
func TestPoller_ListRetries(t *testing.T) {
	acct := &scriptedAccount{testProvider: *home}
	acct.set(fmt.Errorf("v: %w", cloud.ErrUnavailable), nil)
	r := startPoller(t, acct, time.Minute, 30*time.Minute)
	r.expect("list error")
	r.idle(1)
	r.clock.Advance(2499 * time.Millisecond)
	r.idle(1)
	r.clock.Advance(2501 * time.Millisecond) // the first retry comes within 2.5–5 s
	r.expect("list error")

	acct.set(fmt.Errorf("v: %w", cloud.ErrAuth), nil)
	r.idle(1)
	r.clock.Advance(10 * time.Second) // the next retry comes within 5–10 s
	r.expect("list error")
	acct.set(nil, nil)
	r.idle(1)
	r.clock.Advance(29 * time.Minute)
	r.idle(1)
	r.clock.Advance(time.Minute)
	r.expect("list")
}

// A failing account is read less often: after three failures in a row the
// next read waits at least two intervals; a success restores the interval.
func TestPoller_FailingAccountBacksOff(t *testing.T) {
	acct := &scriptedAccount{testProvider: *home}
	acct.set(nil, fmt.Errorf("v: %w", cloud.ErrUnavailable))
	r := startPoller(t, acct, time.Minute, 30*time.Minute)
	r.expect("list", "read error")
	for range 2 {
		r.idle(2)
		r.clock.Advance(2 * time.Minute) // waits of 1 min, then 1–2 min
		r.expect("read error")
	}
	acct.set(nil, nil)
	r.idle(2)
	r.clock.Advance(2*time.Minute - time.Second)
	r.idle(2)
	r.clock.Advance(2*time.Minute + time.Second) // the third wait is 2–4 min
	r.expect("read")
	r.idle(2)
	r.clock.Advance(time.Minute)
	r.expect("read")
}
