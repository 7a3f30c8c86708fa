package bridge

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"go.uber.org/zap"
)

// poller owns one account's schedule: it lists devices at start, every
// listInterval and on demand, and reads the states of the listed devices
// right after each successful list and every pollInterval. Results go to the
// run loop as events. Each run gets a deadline of 80% of its interval (at
// least 10s) so runs never overlap.
type poller struct {
	prov         cloud.Provider
	pollInterval time.Duration
	listInterval time.Duration
	skip         func(id string) bool // disabled devices are not read
	events       chan<- event
	relist       chan struct{}
	log          *zap.Logger
	metrics      Metrics // may be nil
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

// backoffDelay is the wait after n consecutive failures: 5s·2ⁿ⁻¹ capped at
// limit, jittered ×0.5–1.5.
func backoffDelay(n int, limit time.Duration) time.Duration {
	d := 5 * time.Second
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
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
	listTimer := time.NewTimer(0)
	defer listTimer.Stop()
	pollTimer := time.NewTimer(time.Hour)
	pollTimer.Stop()
	defer pollTimer.Stop()
	failures := 0

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
			if !errors.Is(err, cloud.ErrAuth) {
				wait = backoffDelay(failures, p.listInterval)
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
	}
	rateLimited := 0
	poll := func() {
		next := p.pollInterval
		defer func() { pollTimer.Reset(next) }()
		if len(ids) == 0 {
			return
		}
		started := time.Now()
		defer func() {
			if p.metrics != nil {
				p.metrics.ObservePoll(p.prov.Kind(), p.prov.Account(), time.Since(started))
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
		// A cloud that asks us to slow down gets growing pauses (5 s·2ⁿ,
		// jittered, at most an hour) instead of the normal interval.
		if errors.Is(err, cloud.ErrRateLimited) {
			rateLimited++
			next = max(next, backoffDelay(rateLimited, time.Hour))
			p.log.Warn("cloud rate limit: polling paused", zap.Duration("for", next.Round(time.Second)), zap.Error(err))
		} else {
			rateLimited = 0
		}
		p.send(ctx, statesEvent{prov: p.prov, ids: append([]string(nil), ids...), states: states, err: err, started: started})
	}

	for {
		select {
		case <-ctx.Done():
			return
		case <-p.relist:
			list()
		case <-listTimer.C:
			list()
		case <-pollTimer.C:
			poll()
		}
	}
}
