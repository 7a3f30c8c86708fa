package bridge

import (
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// pollControl is what crosses between an account's poller and the rest of
// the bridge: the base interval set with Bridge.SetPollInterval (zero: the
// configured one), and the intervals the poller derived, for bridge/info.
// Safe for concurrent use.
type pollControl struct {
	baseNS   atomic.Int64
	notify   chan struct{} // 1 deep: the base changed
	interval atomic.Int64  // effective poll interval, ns; 0 until derived
	list     atomic.Int64  // effective list interval, ns
	reason   atomic.Pointer[string]
}

func newPollControl() *pollControl { return &pollControl{notify: make(chan struct{}, 1)} }

func (c *pollControl) base() time.Duration { return time.Duration(c.baseNS.Load()) }

// setBase sets the base interval (<= 0: back to the configured one).
func (c *pollControl) setBase(d time.Duration) {
	c.baseNS.Store(int64(max(d, 0)))
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// intervalEvent tells the run loop that an account's effective intervals
// changed (bridge/info shows them).
type intervalEvent struct{ prov cloud.Provider }

// pollStatus is an account's derived schedule, for bridge/info.
type pollStatus struct {
	interval, list time.Duration
	stretched      string // "budget", "cycle" or ""
}

func (c *pollControl) status() pollStatus {
	s := pollStatus{interval: time.Duration(c.interval.Load()), list: time.Duration(c.list.Load())}
	if r := c.reason.Load(); r != nil {
		s.stretched = *r
	}
	return s
}

// Why an interval is longer than asked for.
const (
	stretchBudget = "budget"
	stretchCycle  = "cycle"
)

// cycleHeadroom: a full cycle of reads may take this share of the
// interval before the interval stretches.
const cycleHeadroom = 0.9

// cycleBackHeadroom: a stretched interval returns to the configured one
// only once a full cycle takes at most this share of it.
const cycleBackHeadroom = 0.75

// derive works out the effective poll and list intervals: the longest of
// the base interval (the reconcile interval while push is healthy), the budget's and the measured cycle's (a full cycle
// of reads at the concurrency bound, over cycleHeadroom). A change of
// reason is logged once, with the numbers.
func (r *pollRun) derive() {
	p := r.p
	r.reads = 0
	now := p.clock.Now()
	r.derivedAt = now
	cost, _ := r.sched.cycleCost()
	base := p.push.interval(r.base)
	budgetPoll, list := p.pace.intervals(now, base, p.listInterval, cost, r.listCost)
	n := r.sched.len()
	cycle := r.meanRead * time.Duration(n) / time.Duration(r.conc)
	need := seconds(cycle.Seconds() / cycleHeadroom)
	interval, reason := base, ""
	if budgetPoll > interval {
		interval, reason = budgetPoll, stretchBudget
	}
	if need > interval {
		interval, reason = need, stretchCycle
	}
	if r.stretch == stretchCycle && reason == "" && seconds(cycle.Seconds()/cycleBackHeadroom) > base {
		// Stretched for the cycle, and not yet clearly fitting again:
		// stay stretched rather than flap around the threshold.
		interval, reason = max(interval, need), stretchCycle
	}
	r.listEvery = list
	changed := interval != r.sched.interval || reason != r.stretch
	r.sched.interval = interval
	if p.control != nil {
		p.control.interval.Store(int64(interval))
		p.control.list.Store(int64(list))
		p.control.reason.Store(&reason)
	}
	if changed && r.listed {
		// bridge/info shows the interval in use.
		p.send(r.ctx, intervalEvent{prov: p.prov})
	}
	if reason == r.stretch {
		return
	}
	r.stretch = reason
	fields := []zap.Field{zap.Int("devices", len(r.ids)), zap.Int("reads_per_poll", n),
		zap.Duration("interval", base), zap.Duration("effective_interval", interval)}
	switch reason {
	case stretchBudget:
		p.log.Warn("poll interval stretched to fit the account's call budget",
			append(fields, zap.Stringer("budget", p.pace.budget), zap.Int("calls_per_poll", cost),
				zap.Duration("device_list_interval", list))...)
	case stretchCycle:
		p.log.Warn("poll interval stretched: a full poll takes longer than the interval",
			append(fields, zap.Duration("cycle", cycle.Round(time.Millisecond)), zap.Int("concurrency", r.conc))...)
	default:
		p.log.Info("poll interval back to the configured one", fields...)
	}
}
