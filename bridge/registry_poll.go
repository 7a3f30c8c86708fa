package bridge

import (
	"context"
	"errors"
	"maps"
	"slices"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// The registry's handlers for what the pollers send: device lists and
// state reads.

// loudAdds is the most devices one list adds with a log line each at info
// level; beyond, one line sums them up (thousands of lines at start say
// nothing more).
const loudAdds = 50

// handleList applies an account's device list: removed devices first (their
// topics become free), then known devices of the account that are gone are
// cleared, new devices added and the rest updated; then bridge-devices.json
// is saved and bridge/devices and bridge/info republished.
func (r *registry) handleList(ev listEvent) []effect {
	p := ev.prov
	if ev.err != nil {
		if errors.Is(ev.err, context.Canceled) {
			return nil
		}
		r.accountFailed(p, "list devices", ev.err)
		if errors.Is(ev.err, cloud.ErrAuth) {
			for _, dv := range r.providerDevices(p) {
				r.setAvailable(dv, false)
			}
		}
		return r.done()
	}
	r.accountOK(p)

	present := map[string]cloud.Device{}
	for _, d := range ev.devices {
		key := deviceKey(d.Provider, d.ID)
		if r.ov.get(d.ID).Disabled {
			if !r.skipped[key] {
				r.log.Info("device disabled by configuration", zap.String(keyDeviceID, d.ID), zap.String(keyDevice, d.Name))
				r.skipped[key] = true
			}
			continue
		}
		if other, ok := r.devices[key]; ok && other.prov != p {
			if !r.skipped[key] {
				r.log.Warn("device is on two accounts; bridging it from the first only",
					zap.String(keyDeviceID, d.ID), zap.String(keyAccount, p.Account()), zap.String("first_account", other.prov.Account()))
				r.skipped[key] = true
			}
			continue
		}
		present[key] = d
	}

	// Removed devices first, so their topics are free for newcomers;
	// outlets before their strips, so none names a removed via_device.
	for _, outlets := range []bool{true, false} {
		for _, dv := range r.providerDevices(p) {
			if _, ok := present[dv.key]; !ok && (dv.dev.ParentID != "") == outlets {
				r.removeDevice(dv, "no longer on the account")
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(r.known)) {
		kd := r.known[key]
		_, waiting := r.pending[key]
		if kd.Account == p.Account() && kd.Provider == p.Kind() && !waiting {
			if _, ok := present[key]; !ok {
				r.forget(key, kd.Topic, kd.ConfigTopic)
				r.log.Info("clearing a device that is no longer bridged", zap.String(keyDeviceID, kd.ID), zap.String(keyTopic, kd.Topic))
			}
		}
	}

	devs := slices.Collect(maps.Values(present))
	added := 0
	for _, d := range devs {
		if r.devices[deviceKey(d.Provider, d.ID)] == nil {
			added++
		}
	}
	r.quietAdds = added > loudAdds
	defer func() { r.quietAdds = false }()
	if r.quietAdds {
		r.log.Info("devices added", zap.String(keyAccount, p.Account()), zap.Int("devices", added),
			zap.String("detail", "one line per device at debug level"))
	}
	r.topics.sort(devs)
	for _, d := range devs {
		key := deviceKey(d.Provider, d.ID)
		cloudName := d.Name
		d.Name = r.topics.name(d)
		if dv, ok := r.devices[key]; ok {
			dv.cloudName = cloudName
			from := dv.dev.Name
			r.updateDevice(dv, d)
			if from != d.Name {
				r.deviceEvent("device_renamed", dv, from)
			}
		} else {
			r.addDevice(key, p, d, cloudName)
		}
	}
	r.saveKnown()
	r.publishDeviceList()
	r.publishInfo()
	return r.done()
}

// handleStates applies a poll's state reads.
func (r *registry) handleStates(ev statesEvent) []effect {
	p := ev.prov
	if ev.err != nil {
		if errors.Is(ev.err, context.Canceled) {
			return nil
		}
		r.accountFailed(p, "read states", ev.err)
		for _, id := range ev.ids {
			if dv := r.devices[deviceKey(p.Kind(), id)]; dv != nil && dv.prov == p {
				// The account's error supersedes what the device logged
				// before it; the account's recovery line covers both.
				dv.lastErr = ""
				r.readFailed(dv, ev.err, true)
			}
		}
		return r.done()
	}
	// A read that ends an account-wide failure may still see the tail of
	// it (calls that were under way when the cloud came back): those are
	// part of the account's outage, not news about the devices.
	wasFailing := r.accounts.status(p).lastErr != ""
	r.accountOK(p)
	for i := range ev.states {
		s := ev.states[i]
		dv := r.devices[deviceKey(p.Kind(), s.DeviceID)]
		if dv == nil || dv.prov != p {
			continue
		}
		if ev.started.Before(dv.confirmedAt) {
			continue // a command re-read is newer than this poll
		}
		if s.Err != nil {
			r.readFailed(dv, s.Err, wasFailing && errors.Is(s.Err, cloud.ErrUnavailable))
			continue
		}
		r.readOK(dv, &s, false)
	}
	return r.done()
}

func (r *registry) readOK(dv *device, s *cloud.State, force bool) {
	if !dv.available && !dv.dev.Online {
		r.relistSoon(dv.prov)
	}
	if dv.lastErr != "" {
		r.log.Info("device readable again", zap.String(keyDeviceID, dv.dev.ID), zap.String(keyTopic, dv.topic), zap.Int("failed_reads", dv.misses))
		dv.lastErr = ""
	}
	dv.misses = 0
	dv.state = s
	r.setAvailable(dv, true)
	r.publishState(dv, force)
}

// readFailed counts a failed read of dv and makes it unavailable at once
// for errors that say so, else after MissedPolls failures in a row. A
// device the cloud no longer knows makes its account list again (at most
// once a minute), so that it is removed without waiting for the list
// interval. The
// device's error is logged once per distinct error, unless accountWide:
// then the account's error was logged once for all its devices, and the
// device does not log its recovery either.
func (r *registry) readFailed(dv *device, err error, accountWide bool) {
	dv.misses++
	if msg := err.Error(); !accountWide && msg != dv.lastErr {
		dv.lastErr = msg
		lvl := zap.WarnLevel
		if errors.Is(err, cloud.ErrDeviceOffline) {
			lvl = zap.InfoLevel
		}
		r.log.Log(lvl, "cannot read device", zap.String(keyDeviceID, dv.dev.ID), zap.String(keyTopic, dv.topic), zap.Error(err))
	}
	if errors.Is(err, cloud.ErrDeviceOffline) || errors.Is(err, cloud.ErrAuth) || errors.Is(err, cloud.ErrUnknownDevice) ||
		errors.Is(err, cloud.ErrRefused) || dv.misses >= r.opts.MissedPolls {
		r.setAvailable(dv, false)
	}
	if errors.Is(err, cloud.ErrUnknownDevice) {
		// Removed from the account (or moved to another): the list says
		// which, now rather than at the next list interval.
		r.relistSoon(dv.prov)
	}
}

// accountFailed records an account-wide failure (with Options.Advise's
// advice added); a new distinct error is announced (account_error,
// readiness, bridge/info).
func (r *registry) accountFailed(p cloud.Provider, op string, err error) {
	if r.opts.Advise != nil {
		err = r.opts.Advise(p, err)
	}
	if !r.accounts.failed(p, op, err) {
		return
	}
	as := r.accounts.status(p)
	r.event("account_error", map[string]string{"account": p.Account(), "provider": p.Kind(), "status": as.status, "error": as.lastErr})
	r.updateReadiness()
	r.publishInfo()
}

// accountOK records an account-wide success; the end of a failure is
// announced (account_recovered), and any change of status republished.
func (r *registry) accountOK(p cloud.Provider) {
	changed, recovered := r.accounts.ok(p)
	if !changed {
		return
	}
	if recovered {
		r.event("account_recovered", map[string]string{"account": p.Account(), "provider": p.Kind()})
	}
	r.updateReadiness()
	r.publishInfo()
}
