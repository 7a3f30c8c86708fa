package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// The registry's handlers for device commands over MQTT and for what the
// device workers did.

// handleMessage turns a message on a device command topic into worker
// jobs: /get re-reads; /set resolves ON, OFF and TOGGLE against what is
// known and queues the command (a light's through lightCommand, which
// coalesces a burst).
func (r *registry) handleMessage(m mqttMessage) []effect {
	ct, ok := parseCommandTopic(r.opts.BaseTopic, m.topic)
	if !ok {
		return nil
	}
	if r.retainedOrCleared(m, "message on a command topic") {
		return nil
	}
	dv := r.byTopic(ct.device)
	if dv == nil {
		r.log.Warn("command for an unknown device", zap.String(keyTopic, m.topic), payloadField(m.payload))
		return nil
	}
	if ct.verb == verbGet {
		if !r.enqueue(dv, job{}) {
			r.log.Warn("device busy, dropping refresh", zap.String(keyTopic, m.topic))
		}
		return r.done()
	}
	req, err := parseSet(ct.prop, m.payload)
	if m.size > maxPayload {
		err = badPayload("payload of %d bytes is larger than %d", m.size, maxPayload)
	}
	if err != nil {
		r.log.Warn("ignoring bad command", zap.String(keyTopic, m.topic), payloadField(m.payload), zap.Error(err))
		return nil
	}
	switch {
	case dv.dev.Has(cloud.CapLight) && (req.state != 0 || !req.light.empty()):
		r.lightCommand(dv, m, req)
	case !req.light.empty():
		r.log.Warn("device is not a light", zap.String(keyTopic, m.topic), payloadField(m.payload))
		return r.done()
	case req.state != 0:
		r.relayCommand(dv, m, req.state)
	}
	if req.led != 0 {
		r.simpleCommand(dv, m, cloud.CapLED, cloud.ActionSetLED, req.led, func(s *cloud.State) *bool { return s.LED })
	}
	if req.restart {
		r.simpleCommand(dv, m, cloud.CapReboot, cloud.ActionReboot, 0, nil)
	}
	return r.done()
}

// maxRetainedSeen bounds retainedSeen (a client could publish retained
// messages on any number of command topics).
const maxRetainedSeen = 4096

// retainedOrCleared reports whether m, on a command or request topic
// (what: "message on a command topic", "bridge request"), is to be ignored
// for its retain flag: a retained message (the broker hands it over at
// every subscription; applying it would repeat an old command at every
// connect), or the clear of one. Under MQTT 3.1.1 a clear reaches the
// bridge as an empty message without the retain flag, like an empty
// command; it is told apart by the retained message the bridge saw on the
// same topic before (at a connect). Both are logged at debug level.
func (r *registry) retainedOrCleared(m mqttMessage, what string) bool {
	switch {
	case m.retained:
		if m.size > 0 && len(r.retainedSeen) < maxRetainedSeen {
			r.retainedSeen[m.topic] = true
		}
		r.log.Debug("ignoring retained "+what, zap.String(keyTopic, m.topic))
		return true
	case m.size == 0 && r.retainedSeen[m.topic]:
		delete(r.retainedSeen, m.topic)
		r.log.Debug("cleared retained "+what, zap.String(keyTopic, m.topic))
		return true
	}
	return false
}

func (r *registry) relayCommand(dv *device, m mqttMessage, v switchValue) {
	if !dv.dev.Has(cloud.CapRelay) {
		r.log.Warn("device has no relay", zap.String(keyTopic, m.topic), payloadField(m.payload))
		return
	}
	on := v == switchOn
	if v == switchToggle {
		cur := dv.relayIntent
		if cur == nil && dv.state != nil {
			cur = dv.state.Relay
		}
		if cur == nil {
			r.log.Warn("cannot TOGGLE: the current state is not known yet; send ON or OFF",
				zap.String(keyTopic, m.topic))
			return
		}
		on = !*cur
	}
	cmd := cloud.Command{DeviceID: dv.dev.ID, Action: cloud.ActionSetRelay, On: on}
	if !r.enqueue(dv, job{cmd: &cmd}) {
		r.log.Warn("too many commands queued for the device, dropping", zap.String(keyTopic, m.topic), zap.Stringer("command", cmd))
		return
	}
	dv.relayIntent = &on
	dv.inflight++
	r.log.Debug("command queued", zap.String(keyTopic, m.topic), zap.Stringer("command", cmd))
}

func (r *registry) simpleCommand(dv *device, m mqttMessage, capa cloud.Capability, action cloud.Action, v switchValue, cur func(*cloud.State) *bool) {
	if !dv.dev.Has(capa) {
		r.log.Warn("device does not support this command", zap.String(keyTopic, m.topic),
			payloadField(m.payload), zap.String("capability", string(capa)))
		return
	}
	cmd := cloud.Command{DeviceID: dv.dev.ID, Action: action, On: v == switchOn}
	if v == switchToggle {
		if dv.state == nil || cur(dv.state) == nil {
			r.log.Warn("cannot TOGGLE: the current state is not known yet", zap.String(keyTopic, m.topic))
			return
		}
		cmd.On = !*cur(dv.state)
	}
	if !r.enqueue(dv, job{cmd: &cmd}) {
		r.log.Warn("too many commands queued for the device, dropping", zap.String(keyTopic, m.topic), zap.Stringer("command", cmd))
	}
}

// handleResult applies what a worker did: the command's outcome, the
// re-read (newer than any poll that started before it), and the answer to
// the bridge request the job carried.
func (r *registry) handleResult(ev resultEvent) []effect {
	dv := r.devices[ev.key]
	if dv == nil {
		if ev.reply != nil {
			r.respond(ev.reply, nil, errors.New("the device was removed meanwhile"))
		}
		return r.done()
	}
	if ev.worker == dv.worker {
		dv.queued--
	}
	pushed := dv.pushedInJob
	dv.pushedInJob = false
	if ev.cmd != nil && ev.cmd.Action == cloud.ActionSetRelay {
		dv.inflight--
		if dv.inflight <= 0 {
			dv.inflight, dv.relayIntent = 0, nil
		}
	}
	if ev.cmd != nil && ev.cmd.Action == cloud.ActionSetLight {
		r.lightDone(dv)
	}
	if ev.cmd != nil && ev.applyErr != nil {
		r.log.Error("command failed", zap.String(keyTopic, dv.topic), zap.Stringer("command", *ev.cmd), zap.Error(ev.applyErr))
		if errors.Is(ev.applyErr, cloud.ErrDeviceOffline) {
			r.setAvailable(dv, false)
		}
	} else if ev.cmd != nil {
		r.log.Info("command applied", zap.String(keyTopic, dv.topic), zap.Stringer("command", *ev.cmd))
		// The load follows a switch with a delay: read the device again
		// sooner than its turn.
		r.emit(hurryEffect{dv.prov, dv.dev.ID})
	}
	switch {
	case ev.state != nil:
		if ev.started.After(dv.confirmedAt) {
			dv.confirmedAt = ev.started
		}
		// The re-read's state is published even when unchanged (it
		// confirms the command), unless a pushed update published this
		// very state during the job: then it is on the wire already.
		force := !pushed || !bytes.Equal(encodeState(dv.dev, ev.state), encodeState(dv.dev, dv.state))
		r.readOK(dv, ev.state, force)
	case ev.cmd != nil && ev.applyErr == nil && ev.cmd.Action == cloud.ActionReboot:
		r.log.Info("device is rebooting; its state follows at the next poll", zap.String(keyTopic, dv.topic))
	case ev.cmd != nil && ev.applyErr == nil:
		s := cloud.State{DeviceID: dv.dev.ID, Online: true, ReadAt: r.clock.Now()}
		if dv.state != nil {
			s = *dv.state
		}
		switch ev.cmd.Action {
		case cloud.ActionSetRelay:
			s.Relay = cloud.Bool(ev.cmd.On)
		case cloud.ActionSetLED:
			s.LED = cloud.Bool(ev.cmd.On)
		case cloud.ActionSetLight:
			s.Light = commandedLight(s.Light, *ev.cmd)
		}
		r.log.Warn("re-read after the command failed; publishing the commanded state optimistically",
			zap.String(keyTopic, dv.topic), zap.Stringer("command", *ev.cmd), zap.Error(ev.readErr))
		dv.state = &s
		r.publishState(dv, true)
	case ev.readErr != nil:
		r.readFailed(dv, ev.readErr, false)
	}
	if ev.reply != nil {
		r.replyResult(dv, ev)
	}
	return r.done()
}

// replyResult answers the bridge request a worker job carried.
func (r *registry) replyResult(dv *device, ev resultEvent) {
	switch {
	case ev.rename != "" && ev.renameErr != nil:
		r.respond(ev.reply, nil, ev.renameErr)
	case ev.rename != "":
		dv.cloudName = ev.rename
		r.respond(ev.reply, r.renamed(dv, ev.rename), nil)
		r.emit(relistEffect{dv.prov}) // confirm from the cloud's own list
	case ev.readErr != nil:
		r.respond(ev.reply, nil, fmt.Errorf("re-reading %q: %w", dv.topic, ev.readErr))
	default:
		// The state just published (encoded again rather than kept).
		var state any = struct{}{}
		if payload := encodeState(dv.dev, dv.state); payload != nil {
			state = json.RawMessage(payload)
		}
		r.respond(ev.reply, map[string]any{"id": dv.dev.ID, "topic": dv.topic, "state": state}, nil)
	}
}

// renamed applies a successful vendor-cloud rename: the new name (unless a
// configured name overrides it), the topic that follows from it, and new
// discovery with the same unique_ids.
func (r *registry) renamed(dv *device, name string) map[string]any {
	from := dv.dev.Name
	d := dv.dev
	d.Name = name
	d.Name = r.topics.name(d)
	r.updateDevice(dv, d)
	r.saveKnown()
	r.publishDeviceList()
	r.deviceEvent("device_renamed", dv, from)
	return map[string]any{"id": dv.dev.ID, "from": from, "to": dv.dev.Name, "topic": dv.topic}
}
