package tuya

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/text"
)

// Polled and pushed status take one code path: both update the device's
// last known data point values, and snapshot turns those values into
// States with the same data point mapping, scales and energy rule.

// deviceView is what building a State needs of a cached device.
type deviceView struct {
	layout layout
	spec   specification
	online bool
	// values are the device's last known data point values (a map that
	// is never changed once built: updates replace it).
	values map[string]json.RawMessage
}

// eleReport is one add_ele report: the energy used since the previous
// report, and its report time in ms (0 when not given).
type eleReport struct {
	raw json.RawMessage
	t   int64
}

// observe updates the cached device from a batch answer read at started
// (host clock): its online state and its values. A value pushed after the
// read started is newer than the read's and is kept. It returns a view of
// the device, false when the device is no longer listed.
func (p *Provider) observe(id string, e statusEntry, present, offline bool, started time.Time) (deviceView, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.devices[id]
	if d == nil {
		return deviceView{}, false
	}
	switch {
	case offline || !present:
		if d.offline == reachable {
			p.log.Info("tuya device offline", zap.String(keyDeviceID, id))
		}
		d.offline = offlineByCloud
	case e.online != nil && *e.online:
		d.offline = reachable
	case e.online != nil:
		d.offline = offlineByCloud
	case d.offline == offlineByCloud:
		d.offline = reachable
	}
	if present && d.online() {
		next := maps.Clone(e.values)
		for code, at := range d.pushedAt {
			if v, ok := d.values[code]; ok && at.After(started) {
				next[code] = v
			}
		}
		d.values = next
	}
	return deviceView{layout: d.layout(), spec: d.spec, online: d.online(), values: d.values}, true
}

// fillGroup turns one device's batch answer into its States.
func (p *Provider) fillGroup(g *readGroup, states []cloud.State, e statusEntry, present, offline bool, started time.Time) {
	v, ok := p.observe(g.id, e, present, offline, started)
	if !ok {
		p.failGroup(g, states, cloud.ErrUnknownDevice)
		return
	}
	if !v.online {
		why := "the cloud reports it offline"
		if !offline && !present {
			why = "the cloud returned no status for it"
		}
		for _, i := range g.self {
			states[i].Err = fmt.Errorf("tuya: read %q: %s: %w", states[i].DeviceID, why, cloud.ErrDeviceOffline)
		}
		for _, o := range g.outlets {
			states[o.idx].Err = fmt.Errorf("tuya: read %q: %s: %w", states[o.idx].DeviceID, why, cloud.ErrDeviceOffline)
		}
		return
	}
	var reports []eleReport
	if raw, ok := e.values[dpAddEle]; ok {
		reports = append(reports, eleReport{raw: raw, t: e.times[dpAddEle]})
	}
	self, outlets := p.snapshot(g.id, v, reports, true)
	for _, i := range g.self {
		states[i] = withIdentity(self, states[i])
	}
	for _, o := range g.outlets {
		states[o.idx] = withIdentity(outlets[o.code], states[o.idx])
	}
}

// withIdentity returns s with the DeviceID and ReadAt of slot.
func withIdentity(s, slot cloud.State) cloud.State {
	s.DeviceID, s.ReadAt = slot.DeviceID, slot.ReadAt
	return s
}

// snapshot builds the States of an online physical device and of its
// children, outlets or lights (by switch code), from v.values. reports are the add_ele reports
// that arrived with this answer or push (the cached add_ele value is
// never counted again); polled tells a poll from a push for the energy
// rule (see energyTotal).
func (p *Provider) snapshot(id string, v deviceView, reports []eleReport, polled bool) (cloud.State, map[string]cloud.State) {
	self := cloud.State{DeviceID: id, Online: true}
	if v.layout.relay != "" {
		if on, ok := jsonv.Bool(v.values[v.layout.relay]); ok {
			self.Relay = &on
		}
	}
	if ls := v.layout.selfLight(); ls != nil {
		self.Light = ls.state(v.values)
	}
	if v.layout.hasMetering() {
		if v.layout.power {
			self.PowerW = p.reading(id, dpCurPower, v.spec, v.values)
		}
		if v.layout.voltage {
			self.VoltageV = p.reading(id, dpCurVoltage, v.spec, v.values)
		}
		if v.layout.current {
			self.CurrentA = p.reading(id, dpCurCurrent, v.spec, v.values)
		}
		if v.layout.energy {
			self.EnergyKWh = p.energyTotal(id, v.spec, reports, polled)
		}
	}
	children := v.layout.children()
	outlets := make(map[string]cloud.State, len(children))
	for _, code := range children {
		st := cloud.State{DeviceID: outletID(id, code), Online: true}
		if ls := v.layout.childLight(code); ls != nil {
			st.Light = ls.state(v.values)
		} else if on, ok := jsonv.Bool(v.values[code]); ok {
			st.Relay = &on
		}
		outlets[code] = st
	}
	return self, outlets
}

// scaleFor returns the scale and unit of a data point of device id: the
// override, else the specification, else the usual defaults.
func (p *Provider) scaleFor(id, code string, spec specification) (int, string) {
	scale, unit := defaultScales[code], defaultUnits[code]
	if d, ok := spec[code]; ok {
		scale = d.Scale
		if d.Unit != "" {
			unit = d.Unit
		}
	}
	if sc, ok := p.overrides[id][code]; ok {
		scale = sc
	}
	return scale, unit
}

// reading scales the value of code in values; nil when absent or not a
// plausible non-negative number (logged once per device and code).
func (p *Provider) reading(id, code string, spec specification, values map[string]json.RawMessage) *float64 {
	raw, ok := values[code]
	if !ok {
		return nil
	}
	scale, unit := p.scaleFor(id, code, spec)
	f, ok := scaled(raw, code, scale, unit)
	if !ok {
		p.noteOnce("badvalue/"+id+"/"+code, "tuya data point value dropped (not a plausible non-negative number)",
			zap.String(keyDeviceID, id), zap.String(keyDP, code), zap.String("value", text.Truncate(string(raw), 40)))
		return nil
	}
	return &f
}

// energyTotal counts the add_ele reports of one answer or push into the
// device's lifetime total and returns it. The once-only rule:
//
//   - a report with a report time (every push has one; a poll only if the
//     cloud gives one) is counted only if it is later than the last
//     report counted for the device (EnergyMeter.AddReport, persisted), so
//     a report that arrives twice (redelivered, sent in both protocol
//     families, or both pushed and polled) counts once, also across
//     restarts;
//   - a pushed report without a time counts once (its message was
//     deduplicated before);
//   - a polled report without a time counts only while the energy comes
//     from polls (push off, not connected yet, or refused; see
//     Provider.energyByPoll): once the message service took the
//     subscription, the pushed reports are the energy (kept for the
//     subscription while the connection is down), and a poll could only
//     see one of them again.
func (p *Provider) energyTotal(id string, spec specification, reports []eleReport, polled bool) *float64 {
	key := ProviderKind + "/" + id
	total, err := p.energy.Add(key, 0)
	for _, r := range reports {
		if err != nil {
			break
		}
		delta := p.reading(id, dpAddEle, spec, map[string]json.RawMessage{dpAddEle: r.raw})
		switch {
		case delta == nil:
		case r.t > 0:
			total, _, err = p.energy.AddReport(key, *delta, r.t)
		case !polled || p.energyByPoll():
			total, err = p.energy.Add(key, *delta)
		}
	}
	if err != nil {
		p.log.Warn("tuya energy report rejected", zap.String(keyDeviceID, id), zap.Error(err))
		return nil
	}
	return &total
}

// noteOnce logs a warning the first time key is seen.
func (p *Provider) noteOnce(key, msg string, fields ...zap.Field) {
	p.mu.Lock()
	seen := p.noted[key]
	p.noted[key] = true
	p.mu.Unlock()
	if !seen {
		p.log.Warn(msg, fields...)
	}
}
