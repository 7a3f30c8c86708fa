package bridge

import (
	"slices"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/discovery"
)

// Components a device no longer has. Home Assistant keeps a component of a
// device-based discovery payload that a later payload leaves out; it
// deletes it only when a payload names it with its platform alone
// (discovery.Device.Removed). So the registry remembers, per device, the
// components of its last discovery payload (announced) and, in
// bridge-devices.json, every component Home Assistant may hold. When
// components disappear (a dimmer announced as a switch by an earlier
// release, a device listed before it could be reached and learned later to
// be a light), they go into removed: every discovery payload of the device
// carries them as stubs until the broker has acknowledged one, after which
// they are dropped for good.

// removal is the set of stubs a discovery message carries; the outbox
// hands it back (removalSentEvent) once the broker acknowledged the
// message.
type removal struct {
	key string // the device's key
	// seq identifies the device's set of stubs when the message was built;
	// an acknowledgement of an older set is ignored (the newer set is in a
	// later message).
	seq uint64
	ids []string
}

// removalSentEvent tells the run loop that the broker accepted a discovery
// message with stubs.
type removalSentEvent struct{ removal }

// announcedBefore returns the components Home Assistant may hold for a
// device from an earlier run: its record's, or for a record written before
// bridge-devices.json kept them, every component id a light may have been
// announced with (lights were switches before), and for any other device
// the components it had when every energy meter was announced with all
// four sensors. Nil when Home Assistant holds nothing under d's discovery
// topic.
func (r *registry) announcedBefore(key string, d cloud.Device) []string {
	kd, ok := r.known[key]
	if !ok || !r.opts.HomeAssistant || kd.ConfigTopic != r.configTopic(d) {
		return nil
	}
	switch {
	case kd.Components != nil:
		return kd.Components
	case d.Has(cloud.CapLight):
		return discovery.AllComponentIDs()
	case d.Has(cloud.CapEnergy):
		d.Readings = nil // all four
		return discovery.ComponentIDs(d)
	}
	return nil
}

// noteComponents records that dv is about to be announced with its current
// components: the ones announced before and gone now join dv.removed (a new
// set of stubs), the ones back again leave it. Nothing changes while dv's
// listing stays the same (dv.noted): every replay would otherwise build
// each device's components once more only for their ids.
func (r *registry) noteComponents(dv *device) {
	if dv.noted {
		return
	}
	dv.noted = true
	cur := discovery.ComponentIDs(dv.dev)
	grew := false
	for _, id := range dv.announced {
		if !slices.Contains(cur, id) && !slices.Contains(dv.removed, id) {
			dv.removed = append(dv.removed, id)
			grew = true
		}
	}
	dv.removed = slices.DeleteFunc(dv.removed, func(id string) bool { return slices.Contains(cur, id) })
	if grew {
		slices.Sort(dv.removed)
		r.removals++
		dv.removedSeq = r.removals
		r.log.Info("device lost components; telling Home Assistant to remove them",
			zap.String(keyDeviceID, dv.dev.ID), zap.String(keyTopic, dv.topic), zap.Strings("components", dv.removed))
	}
	dv.announced = cur
	r.remember(dv)
}

// removalOf is the removal a discovery message of dv carries, or nil.
func (r *registry) removalOf(dv *device) *removal {
	if len(dv.removed) == 0 {
		return nil
	}
	return &removal{key: dv.key, seq: dv.removedSeq, ids: slices.Clone(dv.removed)}
}

// heldComponents is what bridge-devices.json records for dv: the components
// Home Assistant may hold, never nil (nil marks a record of a release that
// did not keep them).
func (r *registry) heldComponents(dv *device) []string {
	if !r.opts.HomeAssistant {
		return []string{}
	}
	held := slices.Concat([]string{}, dv.announced, dv.removed)
	slices.Sort(held)
	return slices.Compact(held)
}

// handleRemovalSent drops the stubs the broker has accepted: later
// payloads leave them out, and bridge-devices.json no longer lists them.
func (r *registry) handleRemovalSent(ev removalSentEvent) []effect {
	dv := r.devices[ev.key]
	if dv == nil || dv.removedSeq != ev.seq || len(dv.removed) == 0 {
		return nil
	}
	dv.removed = slices.DeleteFunc(dv.removed, func(id string) bool { return slices.Contains(ev.ids, id) })
	r.log.Debug("home assistant was told to remove the components", zap.String(keyDeviceID, dv.dev.ID), zap.Strings("components", ev.ids))
	r.remember(dv)
	r.saveKnown()
	return r.done()
}
