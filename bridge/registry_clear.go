package bridge

import (
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"
)

// The registry's clears: the retained topics of devices that moved or are
// no longer bridged, emptied in an order that no subscriber trips over.
//
// Home Assistant's MQTT entities subscribe to the state and availability
// topics their discovery names, and parse every message there with their
// templates. So:
//   - a device whose topic changed (renamed) gets its new discovery (which
//     moves its entities to the new topics), availability and state first,
//     and its old topics cleared after them;
//   - a device that is no longer bridged (removed from its account,
//     disabled, of an account no longer configured, or found gone at
//     start) gets its discovery cleared at once (Home Assistant then removes
//     its entities, which unsubscribe), and its state and availability
//     topics clearGrace later. Until then its record stays in
//     bridge-devices.json, so a restart in between clears it again. A
//     replay (every connect, Home Assistant's birth) starts the grace again,
//     because it is what delivers a discovery clear made while the broker
//     was away. Without discovery there is nothing to wait for: everything
//     is cleared at once.

// clearGrace is the wait between clearing a device's discovery and
// clearing its state and availability topics: Home Assistant removes the
// entities, and their subscriptions, when the empty discovery arrives,
// which takes milliseconds; the rest is margin for a busy instance.
const clearGrace = 5 * time.Second

// pendingClear is a device no longer bridged whose discovery was cleared
// and whose state and availability topics wait for due.
type pendingClear struct {
	topic string
	due   time.Time
}

// forget clears a device that is no longer bridged (see above). key's
// record in r.known is dropped once its topics are cleared.
func (r *registry) forget(key, topic, configTopic string) {
	if !r.opts.HomeAssistant || configTopic == "" || topic == "" {
		r.clearUnowned(topic, configTopic)
		delete(r.known, key)
		return
	}
	r.emit(clearEffect{"", configTopic})
	due := r.clock.Now().Add(clearGrace)
	r.pending[key] = pendingClear{topic: topic, due: due}
	r.emit(wakeEffect{due})
}

// clearUnowned clears topic's state and availability (and configTopic,
// when set) unless another device holds topic now: that device publishes
// its own.
func (r *registry) clearUnowned(topic, configTopic string) {
	if _, owned := r.topics.owner(topic); owned || topic == "" {
		topic = ""
	}
	if topic != "" || configTopic != "" {
		r.emit(clearEffect{topic, configTopic})
	}
}

// flushClears clears the state and availability topics whose grace has
// passed, if the broker is connected (else the next replay starts the
// grace again), and asks to be called again for the next one.
func (r *registry) flushClears() []effect {
	if !r.connected() {
		return nil
	}
	now := r.clock.Now()
	flushed := false
	for _, key := range slices.Sorted(maps.Keys(r.pending)) {
		if !r.pending[key].due.After(now) {
			r.finishClear(key)
			flushed = true
		}
	}
	if flushed {
		r.saveKnown()
	}
	r.armClears()
	return r.done()
}

// finishClear clears the topics of a pending device now and forgets it.
func (r *registry) finishClear(key string) {
	pc := r.pending[key]
	delete(r.pending, key)
	r.clearUnowned(pc.topic, "")
	if r.devices[key] == nil {
		delete(r.known, key)
	}
	r.log.Debug("cleared the state and availability of a device no longer bridged", zap.String(keyTopic, pc.topic))
}

// armClears asks the run loop to call flushClears when the next pending
// clear is due.
func (r *registry) armClears() {
	var next time.Time
	for _, pc := range r.pending {
		if next.IsZero() || pc.due.Before(next) {
			next = pc.due
		}
	}
	if !next.IsZero() {
		r.emit(wakeEffect{next})
	}
}

// restartGrace gives every pending clear a full grace from now (at a
// replay, which republishes the discovery clears).
func (r *registry) restartGrace() {
	due := r.clock.Now().Add(clearGrace)
	for key, pc := range r.pending {
		pc.due = due
		r.pending[key] = pc
	}
	r.armClears()
}

// takeTopic gives topic to the device key. A device no longer bridged that
// still waits for topic's clear is cleared now, before the newcomer
// publishes there; the same device coming back just cancels its clear.
func (r *registry) takeTopic(topic, key string) {
	if _, back := r.pending[key]; back {
		delete(r.pending, key)
	}
	for _, other := range slices.Sorted(maps.Keys(r.pending)) {
		if r.pending[other].topic == topic {
			r.finishClear(other)
		}
	}
	r.topics.claim(topic, key)
}
