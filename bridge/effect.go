package bridge

import (
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// effect is something a registry handler asks the run loop to do. The
// registry never publishes, starts goroutines or touches files itself: it
// returns its effects, in order, and the run loop carries them out
// (runLoop.apply). Publications go to the publisher; the rest to workers,
// pollers, the state files, metrics and the daemon.
type effect interface{ isEffect() }

// publication is an effect carried out by a publisher.
type publication interface {
	effect
	publishTo(p publisher)
}

// retainEffect publishes payload retained on topic (empty clears it),
// skipped when unchanged unless force is set.
type retainEffect struct {
	topic   string
	payload []byte
	force   bool
}

// discoveryEffect publishes a device's discovery message retained (see
// publisher.announce), skipped when unchanged unless force is set.
type discoveryEffect struct {
	m     message
	force bool
}

// stateEffect publishes a device's state on its topic segment.
type stateEffect struct {
	topic   string
	payload []byte
	force   bool
}

// clearEffect clears a device's retained topics (see publisher.clear).
type clearEffect struct{ topic, configTopic string }

// sendEffect publishes a message that is not retained.
type sendEffect struct {
	topic   string
	payload []byte
}

// eventEffect publishes a bridge event.
type eventEffect struct{ payload []byte }

// replayEffect republishes everything retained.
type replayEffect struct{ set replaySet }

func (e retainEffect) publishTo(p publisher)    { p.retain(e.topic, e.payload, e.force) }
func (e discoveryEffect) publishTo(p publisher) { p.announce(e.m, e.force) }
func (e stateEffect) publishTo(p publisher)     { p.state(e.topic, e.payload, e.force) }
func (e clearEffect) publishTo(p publisher)     { p.clear(e.topic, e.configTopic) }
func (e sendEffect) publishTo(p publisher)      { p.send(e.topic, e.payload) }
func (e eventEffect) publishTo(p publisher)     { p.event(e.payload) }
func (e replayEffect) publishTo(p publisher)    { p.replay(e.set) }

// startWorkerEffect starts the worker of a device that was added. serial
// tells this worker's results from those of an earlier worker of the same
// key (removed and added again).
type startWorkerEffect struct {
	key, id string
	serial  uint64
	prov    cloud.Provider
}

// stopWorkerEffect stops (and waits for) the worker of a removed device.
type stopWorkerEffect struct{ key string }

// enqueueEffect hands a job to a device's worker. The registry counts the
// jobs each worker holds and never sends more than its queue takes.
type enqueueEffect struct {
	key string
	job job
}

// relistEffect asks an account's poller to list devices now.
type relistEffect struct{ prov cloud.Provider }

// hurryEffect asks an account's poller to read a device sooner than its
// turn (after a command).
type hurryEffect struct {
	prov cloud.Provider
	id   string
}

// saveKnownEffect writes bridge-devices.json.
type saveKnownEffect struct{ devices map[string]knownDevice }

// saveOptionsEffect stores device options set over MQTT
// (device-options.json); the run loop hands the outcome back to
// registry.optionsSaved, which answers the request.
type saveOptionsEffect struct {
	id    string
	key   string // the device's key; empty when it is not registered
	opt   runtimeOption
	reply *pendingReply
}

// devicesMetricEffect updates an account's device gauges.
type devicesMetricEffect struct {
	provider, account string
	total, online     int
}

// readinessEffect records the accounts Bridge.Ready still waits for, and
// those Bridge.Attention reports.
type readinessEffect struct{ waiting, attention []string }

// restartEffect calls Options.Restart (after the answer was queued).
type restartEffect struct{}

// wakeEffect asks the run loop to call registry.flushClears at at (or
// earlier, if it was asked for an earlier time meanwhile).
type wakeEffect struct{ at time.Time }

func (retainEffect) isEffect()        {}
func (discoveryEffect) isEffect()     {}
func (stateEffect) isEffect()         {}
func (clearEffect) isEffect()         {}
func (sendEffect) isEffect()          {}
func (eventEffect) isEffect()         {}
func (replayEffect) isEffect()        {}
func (startWorkerEffect) isEffect()   {}
func (stopWorkerEffect) isEffect()    {}
func (enqueueEffect) isEffect()       {}
func (relistEffect) isEffect()        {}
func (hurryEffect) isEffect()         {}
func (saveKnownEffect) isEffect()     {}
func (saveOptionsEffect) isEffect()   {}
func (devicesMetricEffect) isEffect() {}
func (readinessEffect) isEffect()     {}
func (restartEffect) isEffect()       {}
func (wakeEffect) isEffect()          {}
