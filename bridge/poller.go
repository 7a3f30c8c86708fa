package bridge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"go.uber.org/zap"
)

// poller owns one account's schedule: it lists devices at start, every
// listInterval and on demand, and reads the states of the listed devices
// right after each successful list and every pollInterval. Results go to the
// run loop as events. Each run gets a deadline of 80% of its interval (at
// least 10s) so runs never overlap; runs of one account never run
// concurrently, so a hung cloud holds at most one run's requests.
//
// While the account keeps failing (an account-level error, or every device
// failing with cloud.ErrUnavailable), state reads back off: see
// pollBackoff. The first successful read restores pollInterval.
type poller struct {
	prov         cloud.Provider
	pollInterval time.Duration
	listInterval time.Duration
	skip         func(id string) bool // disabled devices are not read
	events       chan<- event
	relist       chan struct{}
	log          *zap.Logger
	metrics      Metrics // may be nil
	clock        clock
	push         *pushGate // read at the reconcile interval while push is healthy
}

// listEvent carries a ListDevices result.
type listEvent struct {
	prov    cloud.Provider
	devices []cloud.Device
	err     error
}

// statesEvent carries a ReadStates result for the whole account.
type statesEvent struct {
	prov    cloud.Provider
	ids     []string
	states  []cloud.State
	err     error
	started time.Time
}

func runDeadline(interval time.Duration) time.Duration {
	return max(interval*8/10, 10*time.Second)
}

// backoffDelay is the wait after n ≥ 1 consecutive failures: with d =
// min(base·2ⁿ⁻¹, limit), a uniform pick from [d/2, d], so that clients that
// failed together do not retry together, even once at the limit.
func backoffDelay(n int, base, limit time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Poll back-off cap: at most pollBackoffFactor intervals, and at most
// pollBackoffMax unless the interval itself is longer.
const (
	pollBackoffFactor = 5
	pollBackoffMax    = 5 * time.Minute
)

// pollBackoff is the wait before the next state read after n ≥ 1
// consecutive failed reads of a failing account: backoffDelay from the
// interval, never less than the interval and never more than
// max(interval, min(5·interval, 5 min)). With the default 60s interval:
// 1 min, 1–2 min, 2–4 min, then 2.5–5 min.
func pollBackoff(n int, interval time.Duration) time.Duration {
	limit := max(interval, min(pollBackoffFactor*interval, pollBackoffMax))
	return max(interval, backoffDelay(n, interval, limit))
}

// outage turns a read in which every device failed with
// cloud.ErrUnavailable into an account-level error: then the cloud is
// failing, not the devices. Otherwise it returns nil.
func outage(states []cloud.State) error {
	if len(states) == 0 {
		return nil
	}
	for _, s := range states {
		if !errors.Is(s.Err, cloud.ErrUnavailable) {
			return nil
		}
	}
	return fmt.Errorf("no device could be read: %w", states[0].Err)
}

func (p *poller) send(ctx context.Context, ev event) bool {
	select {
	case p.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *poller) run(ctx context.Context) {
	var ids []string
	listTimer := p.clock.NewTimer(0)
	defer listTimer.Stop()
	pollTimer := stoppedTimer(p.clock)
	defer pollTimer.Stop()
	failures := 0

	var nextPoll time.Time // when pollTimer fires; zero before the first list
	list := func() {
		lctx, cancel := context.WithTimeout(ctx, runDeadline(p.listInterval))
		var devs []cloud.Device
		err := safely(p.log, "list devices", func() (err error) {
			devs, err = p.prov.ListDevices(lctx)
			return err
		})
		cancel()
		if ctx.Err() != nil {
			return
		}
		if !p.send(ctx, listEvent{prov: p.prov, devices: devs, err: err}) {
			return
		}
		if err != nil {
			failures++
			wait := p.listInterval
			switch {
			case errors.Is(err, cloud.ErrLoginNeeded):
				// The provider waits for a person (`kasa2mqtt login`)
				// without contacting the cloud: look for the tokens that
				// login stores at the poll interval.
				wait = min(p.pollInterval, p.listInterval)
			case !errors.Is(err, cloud.ErrAuth):
				wait = backoffDelay(failures, 5*time.Second, p.listInterval)
			}
			listTimer.Reset(wait)
			return
		}
		failures = 0
		ids = ids[:0]
		for _, d := range devs {
			if !p.skip(d.ID) {
				ids = append(ids, d.ID)
			}
		}
		listTimer.Reset(p.listInterval)
		pollTimer.Reset(0)
		nextPoll = p.clock.Now()
	}
	rateLimited, failing := 0, 0
	poll := func() {
		next := p.push.interval(p.pollInterval)
		defer func() { pollTimer.Reset(next); nextPoll = p.clock.Now().Add(next) }()
		if len(ids) == 0 {
			return
		}
		started := p.clock.Now()
		defer func() {
			if p.metrics != nil {
				p.metrics.ObservePoll(p.prov.Kind(), p.prov.Account(), p.clock.Now().Sub(started))
			}
		}()
		pctx, cancel := context.WithTimeout(ctx, runDeadline(p.pollInterval))
		var states []cloud.State
		err := safely(p.log, "read states", func() (err error) {
			states, err = p.prov.ReadStates(pctx, ids)
			return err
		})
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if oerr := outage(states); oerr != nil {
				err, states = oerr, nil
			}
		}
		switch {
		case errors.Is(err, cloud.ErrRateLimited):
			// A cloud that asks us to slow down gets growing pauses (up to
			// 5 s·2ⁿ⁻¹, jittered, at most an hour) instead of the normal
			// interval.
			failing = 0
			rateLimited++
			next = max(next, backoffDelay(rateLimited, 5*time.Second, time.Hour))
			p.log.Warn("cloud rate limit: polling paused", zap.Duration("for", next.Round(time.Second)), zap.Error(err))
		case err != nil:
			// A failing account (outage, timeouts, refused credentials)
			// is read less often until it answers; the run loop logs the
			// error itself once.
			rateLimited = 0
			failing++
			next = pollBackoff(failing, p.pollInterval)
			p.log.Debug("cloud account failing: next state read delayed", zap.Int("consecutive_failures", failing),
				zap.Duration("wait", next.Round(time.Millisecond)))
		default:
			rateLimited, failing = 0, 0
		}
		p.send(ctx, statesEvent{prov: p.prov, ids: append([]string(nil), ids...), states: states, err: err, started: started})
	}

	for {
		select {
		case <-ctx.Done():
			return
		case <-p.relist:
			list()
		case <-listTimer.C():
			list()
		case <-pollTimer.C():
			poll()
		case healthy := <-p.push.updates():
			if due, rearm := p.push.onChange(healthy, p.clock.Now(), nextPoll, p.pollInterval); rearm {
				nextPoll = due
				pollTimer.Reset(due.Sub(p.clock.Now()))
			}
		}
	}
}
