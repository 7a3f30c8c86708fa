package kasa

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// readGroup is the part of a ReadStates call that concerns one physical
// device: the device itself and/or some of its outlets.
type readGroup struct {
	ref     devRef
	self    []int // indices into the result for the device itself
	outlets []outletReq
}

type outletReq struct {
	idx      int
	id, wire string
}

func (g *readGroup) indices() []int {
	idx := append([]int(nil), g.self...)
	for _, o := range g.outlets {
		idx = append(idx, o.idx)
	}
	return idx
}

// ReadStates reads the given devices and returns one State per requested
// id, in the same order. Outlets are read through their strip: each
// physical device costs one passthrough per call (get_sysinfo, with
// emeter.get_realtime in the same request for a metering plug), and a
// metering strip one more per requested outlet. Devices run concurrently,
// at most Options.Concurrency requests at a time.
//
// A device the list reports offline is still read: the list's status is
// only refreshed with the list (every 30 minutes by default), and a -20571
// answer costs one cheap call, so a device that comes back is seen at the
// next poll. Offline devices get Online false and Err wrapping
// cloud.ErrDeviceOffline.
// Unknown ids get Err wrapping cloud.ErrUnknownDevice; other per-device
// failures land in State.Err. Authentication failures and cancellation
// are returned as the error. Energy totals go through Options.Energy
// (key "kasa/<id>"), flushed once per call. If no device was listed yet,
// ListDevices runs first.
func (p *Provider) ReadStates(ctx context.Context, ids []string) ([]cloud.State, error) {
	if err := p.ensureListed(ctx); err != nil {
		return nil, fmt.Errorf("kasa: read states: %w", err)
	}
	now := time.Now()
	states := make([]cloud.State, len(ids))
	groups := p.plan(ids, states, now)

	sem := make(chan struct{}, p.conc)
	var (
		wg      sync.WaitGroup
		errMu   sync.Mutex
		acctErr error
	)
	for _, g := range groups {
		wg.Go(func() {
			if err := p.readGroup(ctx, g, states, sem); err != nil {
				errMu.Lock()
				if acctErr == nil {
					acctErr = err
				}
				errMu.Unlock()
			}
		})
	}
	wg.Wait()
	if p.energy != nil {
		if err := p.energy.FlushSoon(); err != nil {
			p.log.Warn("kasa energy totals not saved", zap.Error(err))
		}
	}
	if acctErr != nil {
		return nil, fmt.Errorf("kasa: read states: %w", acctErr)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kasa: read states: %w", err)
	}
	return states, nil
}

// plan groups the requested ids by physical device and fills the States of
// unknown ids.
func (p *Provider) plan(ids []string, states []cloud.State, now time.Time) []*readGroup {
	p.mu.Lock()
	defer p.mu.Unlock()
	byParent := map[string]*readGroup{}
	var groups []*readGroup
	group := func(d *physDevice) *readGroup {
		g := byParent[d.row.ID]
		if g == nil {
			g = &readGroup{ref: d.ref()}
			byParent[d.row.ID] = g
			groups = append(groups, g)
		}
		return g
	}
	for i, id := range ids {
		states[i] = cloud.State{DeviceID: id, ReadAt: now}
		if d, ok := p.devices[id]; ok {
			g := group(d)
			g.self = append(g.self, i)
			continue
		}
		if o, ok := p.outlets[id]; ok {
			if d, ok := p.devices[o.parent]; ok {
				g := group(d)
				g.outlets = append(g.outlets, outletReq{idx: i, id: id, wire: o.wire})
				continue
			}
		}
		states[i].Err = fmt.Errorf("kasa: read %q: %w", id, cloud.ErrUnknownDevice)
	}
	return groups
}

// readGroup reads one physical device and fills the States of g. It returns
// only account-level errors.
func (p *Provider) readGroup(ctx context.Context, g *readGroup, states []cloud.State, sem chan struct{}) error {
	fail := func(err error, online bool) {
		for _, i := range g.indices() {
			states[i].Online = online
			states[i].Err = fmt.Errorf("kasa: read %q: %w", states[i].DeviceID, err)
		}
	}
	meterPlug := !g.ref.info.isStrip() && g.ref.info.hasEnergy()
	meterBulb := g.ref.info != nil && len(g.ref.info.emeter) > 0
	req := newRequest("system", "get_sysinfo", nil)
	if meterPlug {
		req.add("emeter", "get_realtime", nil)
	}
	if meterBulb {
		req.add(moduleBulbEmeter, "get_realtime", nil)
	}
	var si *sysinfo
	resp, err := withSlot(ctx, sem, func() (*deviceResponse, error) { return p.passthrough(ctx, g.ref, req) })
	if err == nil {
		var m map[string]json.RawMessage
		if m, err = resp.result("system", "get_sysinfo"); err == nil {
			si, err = parseSysinfo(m)
		}
	}
	if err != nil {
		if isAccountError(err) {
			return err
		}
		fail(err, !errors.Is(err, cloud.ErrDeviceOffline))
		return nil
	}
	p.learn(g.ref.id, si, false)

	for _, i := range g.self {
		st := &states[i]
		st.Online = true
		switch {
		case si.Kind != notLight:
			if st.Light = si.lightState(); st.Light == nil {
				st.Err = fmt.Errorf("kasa: read %q: get_sysinfo holds no light state", g.ref.id)
				continue
			}
		case !si.isStrip():
			st.Relay = si.Relay
		}
		st.LED = si.LEDOn
		st.RSSI = si.RSSI
		for _, meter := range []struct {
			on       bool
			module   string
			readings []cloud.Reading
		}{{meterPlug, "emeter", cloud.AllReadings()}, {meterBulb && si.Kind != notLight, moduleBulbEmeter, si.emeter}} {
			if !meter.on {
				continue
			}
			if m, err := resp.result(meter.module, "get_realtime"); err != nil {
				p.log.Warn("kasa energy reading failed", zap.String(keyDeviceID, g.ref.id), zap.Error(err))
			} else {
				p.applyEmeter(st, g.ref.id, m, meter.readings)
			}
		}
	}

	var metered []outletReq
	for _, o := range g.outlets {
		st := &states[o.idx]
		c, ok := si.child(o.wire)
		if !ok {
			st.Online = true
			st.Err = fmt.Errorf("kasa: read %q: outlet no longer on strip %q: %w", o.id, g.ref.id, cloud.ErrUnknownDevice)
			continue
		}
		st.Online = true
		st.Relay = c.On
		if si.hasEnergy() {
			metered = append(metered, o)
		}
	}
	return p.readOutletMeters(ctx, g.ref, metered, states, sem)
}

// readOutletMeters reads the energy meter of each requested outlet of a
// metering strip, one passthrough per outlet (the strip has no total).
func (p *Provider) readOutletMeters(ctx context.Context, ref devRef, outlets []outletReq, states []cloud.State, sem chan struct{}) error {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		acctErr error
	)
	for _, o := range outlets {
		wg.Go(func() {
			req := newRequest("emeter", "get_realtime", nil).forChild(o.wire)
			resp, err := withSlot(ctx, sem, func() (*deviceResponse, error) { return p.passthrough(ctx, ref, req) })
			var m map[string]json.RawMessage
			if err == nil {
				m, err = resp.result("emeter", "get_realtime")
			}
			if err != nil {
				if isAccountError(err) {
					mu.Lock()
					acctErr = cmp.Or(acctErr, err)
					mu.Unlock()
					return
				}
				p.log.Warn("kasa outlet energy reading failed", zap.String(keyDeviceID, o.id), zap.Error(err))
				return
			}
			p.applyEmeter(&states[o.idx], o.id, m, cloud.AllReadings())
		})
	}
	wg.Wait()
	return acctErr
}

// applyEmeter puts a realtime reading into st. Invalid values are dropped
// with a warning; the energy total goes through the EnergyMeter so that it
// never decreases. Only the values of readings (the device's
// Device.Readings) are kept: a bulb, for one, reports no voltage or
// current (or zeros), as it measures only its own power.
func (p *Provider) applyEmeter(st *cloud.State, id string, m map[string]json.RawMessage, readings []cloud.Reading) {
	r, problems := parseEmeter(m)
	for _, pr := range problems {
		p.log.Warn("kasa energy value dropped", zap.String(keyDeviceID, id), zap.String("reason", pr))
	}
	keep := func(rd cloud.Reading, v *float64) *float64 {
		if slices.Contains(readings, rd) {
			return v
		}
		return nil
	}
	st.PowerW = keep(cloud.ReadingPower, r.PowerW)
	st.VoltageV = keep(cloud.ReadingVoltage, r.VoltageV)
	st.CurrentA = keep(cloud.ReadingCurrent, r.CurrentA)
	if keep(cloud.ReadingEnergy, r.TotalKWh) == nil {
		return
	}
	total := *r.TotalKWh
	if p.energy != nil {
		t, err := p.energy.Counter(ProviderKind+"/"+id, total)
		if err != nil {
			p.log.Warn("kasa energy total rejected", zap.String(keyDeviceID, id), zap.Error(err))
			return
		}
		total = t
	}
	st.EnergyKWh = &total
}

// withSlot runs fn while holding one slot of sem.
func withSlot[T any](ctx context.Context, sem chan struct{}, fn func() (T, error)) (T, error) {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
	defer func() { <-sem }()
	return fn()
}
