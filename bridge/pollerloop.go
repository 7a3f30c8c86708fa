package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// pollRun is the state of one poller's goroutine.
type pollRun struct {
	p     *poller
	ctx   context.Context
	sched *schedule
	conc  int

	results   chan readDone
	lists     chan listDone
	inflight  int
	listing   bool
	relistDue bool // a list was asked for while one was under way

	listed    bool // a list has succeeded
	ids       []string
	base      time.Duration // the interval before stretching
	listEvery time.Duration // the list interval after stretching
	listCost  int           // calls of the last list
	listFails int

	rateLimited int // rate-limited reads in a row
	failing     int // failed rounds in a row (the account fails as a whole)
	round       int // reads left in the current round while failing
	streak      int // reads in a row in which every device was unavailable

	meanRead  time.Duration // moving mean of a read's duration
	reads     int           // reads since the interval was last derived
	derivedAt time.Time     // when the interval was last derived
	stretch   string        // why the interval is stretched ("" not)
}

type readDone struct {
	sl      *slot
	ids     []string
	states  []cloud.State
	err     error
	started time.Time
	took    time.Duration
}

type listDone struct {
	devices  []cloud.Device
	err      error
	calls    int // calls the list made, when known
	estimate int // calls paid for when it started
}

func (p *poller) concurrencyOrDefault() int {
	if p.concurrency <= 0 {
		return DefaultConcurrency
	}
	return p.concurrency
}

func (p *poller) readDeadline() time.Duration {
	rt := p.requestTimeout
	if rt <= 0 {
		rt = cloud.DefaultRequestTimeout
	}
	return readDeadlineFactor * rt
}

func (p *poller) run(ctx context.Context) {
	if p.pace == nil {
		p.pace = newPacer(cloud.NoBudget, nil)
	}
	r := &pollRun{p: p, ctx: ctx, conc: p.concurrencyOrDefault(), base: p.pollInterval, listEvery: p.listInterval}
	if c := p.control; c != nil {
		if d := c.base(); d > 0 {
			r.base = d
		}
	}
	r.sched = newSchedule(r.base)
	r.sched.adaptive = p.pace.limited()
	r.results = make(chan readDone, r.conc)
	r.lists = make(chan listDone, 1)
	listTimer := p.clock.NewTimer(0)
	defer listTimer.Stop()
	wake := stoppedTimer(p.clock)
	defer wake.Stop()
	var notify <-chan struct{}
	if p.control != nil {
		notify = p.control.notify
	}
	for {
		if at := r.dispatch(); at.IsZero() {
			wake.Stop()
		} else {
			wake.Reset(at.Sub(p.clock.Now()))
		}
		select {
		case <-ctx.Done():
			r.wait()
			return
		case <-p.relist:
			if ok, wait := r.startList(); !ok {
				listTimer.Reset(wait)
			}
		case <-listTimer.C():
			if ok, wait := r.startList(); !ok {
				listTimer.Reset(wait)
			}
		case l := <-r.lists:
			if wait, ok := r.listed1(l); ok {
				listTimer.Reset(wait)
			}
		case d := <-r.results:
			r.readEnded(d)
		case <-wake.C():
		case id := <-p.hurry:
			r.sched.hurry(id, p.clock.Now())
		case healthy := <-p.push.updates():
			r.pushHealth(healthy)
		case <-notify:
			if d := p.control.base(); d > 0 {
				r.base = d
			} else {
				r.base = p.pollInterval
			}
			r.derive()
		}
	}
}

// wait waits for the reads and the list under way (cancelled with the
// context), so that nothing of the poller outlives run.
func (r *pollRun) wait() {
	for ; r.inflight > 0; r.inflight-- {
		<-r.results
	}
	if r.listing {
		<-r.lists
	}
}

// pushHealth applies a report of the push connection's health: while
// healthy, the account is read at the reconcile interval; when it stops
// being healthy, every device is read again within the poll interval.
func (r *pollRun) pushHealth(healthy bool) {
	was := r.p.push.healthy
	r.p.push.healthy = healthy
	r.derive()
	if was && !healthy {
		r.sched.respread(r.p.clock.Now())
	}
}

// dispatch starts the reads that are due and returns when to look again
// (zero: when something happens).
func (r *pollRun) dispatch() time.Time {
	p := r.p
	now := p.clock.Now()
	for r.inflight < r.conc {
		sl := r.sched.peek()
		if sl == nil {
			return time.Time{}
		}
		if due := sl.due(); due.After(now.Add(dispatchSlack)) {
			return due
		}
		if ok, wait := p.pace.allow(now, sl.cost); !ok {
			return now.Add(wait)
		}
		r.sched.take()
		p.pace.take(sl.cost)
		r.inflight++
		go p.read(r.ctx, sl, sl.ids, now, r.results)
	}
	return time.Time{}
}

// read runs one read (its own goroutine).
func (p *poller) read(ctx context.Context, sl *slot, ids []string, started time.Time, out chan<- readDone) {
	rctx, cancel := context.WithTimeout(ctx, p.readDeadline())
	var states []cloud.State
	err := safely(p.log, "read states", func() (err error) {
		states, err = p.prov.ReadStates(rctx, ids)
		return err
	})
	cancel()
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		// This read's own deadline: its devices did not answer in time,
		// which says nothing about the others.
		states, err = failAll(ids, fmt.Errorf("read states: no answer within %s: %w", p.readDeadline(), cloud.ErrTimeout)), nil
	}
	out <- readDone{sl: sl, ids: ids, states: states, err: err, started: started, took: p.clock.Now().Sub(started)}
}

// failAll returns one failed State per id.
func failAll(ids []string, err error) []cloud.State {
	states := make([]cloud.State, len(ids))
	for i, id := range ids {
		states[i] = cloud.State{DeviceID: id, Err: err}
	}
	return states
}

// startList starts a list unless one is under way. When the budget
// cannot pay for it now, it returns false and when to try again.
func (r *pollRun) startList() (bool, time.Duration) {
	if r.listing {
		r.relistDue = true
		return true, 0
	}
	p := r.p
	cost := max(r.listCost, 1)
	if ok, wait := p.pace.allow(p.clock.Now(), cost); !ok {
		return false, wait
	}
	p.pace.take(cost)
	r.listing = true
	go func() {
		lctx, cancel := context.WithTimeout(r.ctx, runDeadline(p.listInterval))
		defer cancel()
		var before uint64
		if p.pace.limited() {
			before = p.pace.counts(p.clock.Now()).Total
		}
		var devs []cloud.Device
		err := safely(p.log, "list devices", func() (err error) {
			devs, err = p.prov.ListDevices(lctx)
			return err
		})
		l := listDone{devices: devs, err: err}
		if p.pace.limited() {
			l.calls = int(p.pace.counts(p.clock.Now()).Total - before)
		}
		l.estimate = cost
		r.lists <- l
	}()
	return true, 0
}

// listed1 handles a list's result and returns when to list next (ok
// false: shutting down).
func (r *pollRun) listed1(l listDone) (time.Duration, bool) {
	p := r.p
	r.listing = false
	p.pace.done(l.estimate)
	if r.ctx.Err() != nil {
		return 0, false
	}
	if !p.send(r.ctx, listEvent{prov: p.prov, devices: l.devices, err: l.err}) {
		return 0, false
	}
	if r.relistDue {
		r.relistDue = false
		defer func() { _, _ = r.startList() }()
	}
	if l.err != nil {
		r.listFails++
		switch {
		case errors.Is(l.err, cloud.ErrLoginNeeded):
			// The provider waits for a person (`kasa2mqtt login`)
			// without contacting the cloud: look for the tokens that
			// login stores at the poll interval.
			return min(r.base, r.listEvery), true
		case errors.Is(l.err, cloud.ErrAuth):
			return r.listEvery, true
		}
		return backoffDelay(r.listFails, 5*time.Second, r.listEvery), true
	}
	r.listFails = 0
	if l.calls > 0 {
		r.listCost = l.calls
	}
	r.ids = r.ids[:0]
	for _, d := range l.devices {
		if !p.skip(d.ID) {
			r.ids = append(r.ids, d.ID)
		}
	}
	now := p.clock.Now()
	r.sched.plan(cloud.PlanReads(p.prov, r.ids), now, !r.listed)
	cost, maxSlot := r.sched.cycleCost()
	if !r.listed {
		p.pace.start(now, cost, maxSlot)
	} else {
		p.pace.setBurst(maxSlot)
	}
	r.listed = true
	r.derive()
	return r.listEvery, true
}

// readEnded handles a read's result.
func (r *pollRun) readEnded(d readDone) {
	p := r.p
	r.inflight--
	p.pace.done(d.sl.cost)
	if r.ctx.Err() != nil {
		return
	}
	if p.metrics != nil {
		p.metrics.ObservePoll(p.prov.Kind(), p.prov.Account(), d.took)
	}
	r.meanRead = movingMean(r.meanRead, d.took, r.sched.len())
	// Derive the interval again after a round of reads, or after an
	// interval's worth of them (a slow cloud's round is long).
	if r.reads++; r.reads >= max(r.sched.len(), 1) || (r.reads >= 2*r.conc && p.clock.Now().Sub(r.derivedAt) >= r.base) {
		r.derive()
	}
	err, states := d.err, d.states
	if err == nil {
		if allUnavailable(states) {
			r.streak++
			// Every read since the last success failed, a full round of
			// them (or the account is failing already): the cloud is
			// down, not the devices.
			if r.failing > 0 || r.streak >= r.sched.len() {
				err = outage(states)
			}
		} else {
			r.streak = 0
		}
	}
	if err != nil && errors.Is(err, context.Canceled) {
		r.sched.done(d.sl, d.started, nil)
		return
	}
	now := p.clock.Now()
	switch {
	case err == nil:
		r.sched.done(d.sl, d.started, states)
		if r.failing > 0 || r.rateLimited > 0 {
			// Back: the reads resume at their usual pace, spread again.
			r.failing, r.rateLimited, r.round = 0, 0, 0
			r.sched.respread(now)
		}
		p.send(r.ctx, statesEvent{prov: p.prov, ids: d.ids, states: states, started: d.started})
		return
	case errors.Is(err, cloud.ErrRateLimited):
		// A cloud that asks us to slow down gets growing pauses (up to
		// 5 s·2ⁿ⁻¹, jittered, at most an hour) instead of the interval;
		// then every device is read again.
		r.sched.done(d.sl, d.started, nil)
		r.failing = 0
		r.rateLimited++
		wait := max(r.sched.interval, backoffDelay(r.rateLimited, 5*time.Second, time.Hour))
		r.newRound(now, wait)
		p.log.Warn("cloud rate limit: polling paused", zap.Duration("for", wait.Round(time.Second)), zap.Error(err))
	default:
		// A failing account (outage, refused credentials) is read in
		// rounds of every device, with growing waits between them, until
		// it answers; each device counts its own failed reads. The run
		// loop logs the error once.
		r.sched.done(d.sl, d.started, nil)
		r.rateLimited = 0
		switch {
		case r.failing == 0:
			r.failing = 1
			r.delayRound(now)
		case r.round > 0:
			if r.round--; r.round == 0 {
				r.failing++
				r.delayRound(now)
			}
		}
	}
	p.send(r.ctx, statesEvent{prov: p.prov, ids: d.ids, err: err, started: d.started})
}

// delayRound schedules the next round of a failing account after
// pollBackoff and logs the wait.
func (r *pollRun) delayRound(now time.Time) {
	wait := pollBackoff(r.failing, r.sched.interval)
	r.newRound(now, wait)
	r.p.log.Debug("cloud account failing: next state read delayed", zap.Int("consecutive_failures", r.failing),
		zap.Duration("wait", wait.Round(time.Millisecond)))
}

// newRound makes every device due after wait, together.
func (r *pollRun) newRound(now time.Time, wait time.Duration) {
	r.sched.dueAll(now.Add(wait))
	r.round = r.sched.len()
}

// allUnavailable reports whether every device of a read failed with
// cloud.ErrUnavailable (timeouts included).
func allUnavailable(states []cloud.State) bool {
	return outage(states) != nil
}

// movingMean folds d into the mean m over about n values.
func movingMean(m, d time.Duration, n int) time.Duration {
	if m == 0 {
		return d
	}
	n = min(max(n, 1), 100)
	return m + (d-m)/time.Duration(n)
}
