package bridge

import (
	"context"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// infoTick is how often the run loop wakes when nothing happens (for
// Alive); every fourth tick republishes bridge/info.
const infoTick = 15 * time.Second

// runLoop is the goroutine of Bridge.Run that owns the registry: it feeds
// the registry what the pollers, workers and paho handlers send, and
// carries out the effects the registry returns, in order: publications
// through the publisher (and so the outbox), workers started, stopped and
// given jobs, pollers asked to re-list, state files written, gauges and
// readiness updated, a restart requested.
type runLoop struct {
	b       *Bridge
	ctx     context.Context // the workers' parent
	reg     *registry
	pub     publisher
	known   knownFile
	workers map[string]*worker
	pollers map[cloud.Provider]*poller
	// clears fires when the registry's next pending clear is due (at
	// clearsAt; zero while stopped).
	clears   timer
	clearsAt time.Time
}

func newRunLoop(ctx context.Context, b *Bridge, out sink) *runLoop {
	o := b.opts
	l := &runLoop{
		b: b, ctx: ctx,
		reg:     newRegistry(o, b.disc, b.providers, b.ov, b.started, b.online.Load),
		pub:     newMQTTPublisher(out, o.BaseTopic, o.Output, o.HomeAssistant, b.online.Load),
		known:   newKnownFile(o.StateDir),
		workers: map[string]*worker{},
		pollers: map[cloud.Provider]*poller{},
		clears:  stoppedTimer(o.clock),
	}
	l.reg.polls = func(p cloud.Provider) pollStatus {
		if c := b.controls[p]; c != nil {
			return c.status()
		}
		return pollStatus{}
	}
	known, err := l.known.load()
	if err != nil {
		b.log.Warn("could not read the list of published devices; stale ones may need manual clearing", zap.Error(err))
	}
	l.apply(l.reg.start(known))
	return l
}

// run serves until ctx ends.
func (l *runLoop) run(ctx context.Context) {
	b := l.b
	c := b.opts.clock
	birth := stoppedTimer(c)
	defer birth.Stop()
	tick := c.NewTimer(infoTick)
	defer tick.Stop()
	defer l.clears.Stop()
	infoEvery := 0
	for {
		b.heartbeat.Store(int64(c.Now().Sub(b.started)))
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
			tick.Reset(infoTick)
			// Refresh bridge/info (uptime, calls today) every minute.
			if infoEvery++; infoEvery%4 == 0 {
				l.minutely()
				if b.online.Load() {
					l.apply(l.reg.info())
				}
			}
		case <-b.connected:
			l.apply(l.reg.replay("connected"))
			b.readyOnce.Do(func() { close(b.ready) })
		case <-birth.C():
			l.apply(l.reg.replay("home assistant restarted"))
		case <-l.clears.C():
			l.clearsAt = time.Time{}
			l.apply(l.reg.flushClears())
		case m := <-b.msgs:
			l.message(m, birth)
		case ev := <-b.events:
			switch ev := ev.(type) {
			case listEvent:
				l.apply(l.reg.handleList(ev))
			case statesEvent:
				l.apply(l.reg.handleStates(ev))
			case resultEvent:
				l.apply(l.reg.handleResult(ev))
			case intervalEvent:
				l.apply(l.reg.info())
			case pushEvent:
				l.apply(l.reg.handlePush(ev))
			case pushStatusEvent:
				l.apply(l.reg.handlePushStatus(ev))
			case removalSentEvent:
				l.apply(l.reg.handleRemovalSent(ev))
			}
		}
	}
}

// minutely writes the call counts and updates the accounts' gauges.
func (l *runLoop) minutely() {
	o := l.b.opts
	if o.Calls != nil {
		if err := o.Calls.Flush(); err != nil {
			l.b.log.Warn("could not save the call counts", zap.Error(err))
		}
	}
	if o.Metrics == nil {
		return
	}
	now := o.clock.Now()
	for _, p := range l.b.providers {
		if ps := l.b.controls[p].status(); ps.interval > 0 {
			o.Metrics.SetPollInterval(p.Kind(), p.Account(), ps.interval)
		}
		if ci := accountCallsInfo(o.Calls, o.Budgets[p], p, now); ci != nil {
			left := -1
			if ci.Left != nil {
				left = *ci.Left
			}
			o.Metrics.SetCalls(p.Kind(), p.Account(), ci.Day, ci.Month, left)
		}
	}
}

// message routes an MQTT message: Home Assistant's status (a birth
// schedules a replay), a bridge request or a device command.
func (l *runLoop) message(m mqttMessage, birth timer) {
	o := l.b.opts
	if m.topic == o.StatusTopic {
		if strings.EqualFold(strings.TrimSpace(string(m.payload)), "online") {
			d := o.BirthDelay()
			l.b.log.Info("home assistant is online; replaying discovery and state", zap.Duration("delay", d))
			birth.Reset(d)
		}
		return
	}
	if path, ok := isRequestTopic(o.BaseTopic, m.topic); ok {
		l.apply(l.reg.handleRequest(path, m))
		return
	}
	l.apply(l.reg.handleMessage(m))
}

// apply carries out effects in order.
func (l *runLoop) apply(effs []effect) {
	o := l.b.opts
	for _, e := range effs {
		if p, ok := e.(publication); ok {
			p.publishTo(l.pub)
			continue
		}
		switch e := e.(type) {
		case startWorkerEffect:
			var allow func() error
			if bu := o.Budgets[e.prov]; !bu.IsZero() && o.Calls != nil {
				prov := e.prov
				allow = func() error { return commandAllowed(o.Calls, bu, prov, o.clock.Now()) }
			}
			l.workers[e.key] = startWorker(l.ctx, e.key, e.serial, e.id, e.prov, l.b.events,
				l.b.log, o.RequestTimeout, o.clock, allow)
		case stopWorkerEffect:
			if w := l.workers[e.key]; w != nil {
				w.stop()
				delete(l.workers, e.key)
			}
		case enqueueEffect:
			// The registry never sends more jobs than the queue takes.
			if w := l.workers[e.key]; w == nil || !w.enqueue(e.job) {
				l.b.log.Error("device worker refused a job; please report this as a bug", zap.String("device_key", e.key))
			}
		case pushHealthEffect:
			if pl := l.pollers[e.prov]; pl != nil && pl.push != nil {
				pl.push.set(e.healthy)
			}
		case relistEffect:
			if pl := l.pollers[e.prov]; pl != nil {
				select {
				case pl.relist <- struct{}{}:
				default: // a list is already pending
				}
			}
		case hurryEffect:
			if pl := l.pollers[e.prov]; pl != nil {
				select {
				case pl.hurry <- e.id:
				default: // the poller is busy; the device is read in its turn
				}
			}
		case saveKnownEffect:
			if err := l.known.save(e.devices); err != nil {
				l.b.log.Warn("could not save the list of published devices", zap.Error(err))
			}
		case saveOptionsEffect:
			l.apply(l.reg.optionsSaved(e, l.b.ov.set(e.id, e.opt)))
		case devicesMetricEffect:
			if o.Metrics != nil {
				o.Metrics.SetDevices(e.provider, e.account, e.total)
				o.Metrics.SetDevicesOnline(e.provider, e.account, e.online)
			}
		case readinessEffect:
			w, a := e.waiting, e.attention
			l.b.waiting.Store(&w)
			l.b.attention.Store(&a)
		case restartEffect:
			o.Restart()
		case wakeEffect:
			if l.clearsAt.IsZero() || e.at.Before(l.clearsAt) {
				l.clearsAt = e.at
				l.clears.Reset(max(0, e.at.Sub(o.clock.Now())))
			}
		}
	}
}

// stopWorkers stops every device worker (at shutdown).
func (l *runLoop) stopWorkers() {
	for key, w := range l.workers {
		w.stop()
		delete(l.workers, key)
	}
}
