package cloudtest

import (
	"errors"
	"maps"
	"slices"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

const unknownID = "no-such-device"

func checkOneStatePerID(c *check) {
	h := c.home()
	c.list(h.p)
	ids := append(h.ids(), unknownID)
	slices.Reverse(ids)
	states := c.read(h.p, ids...)
	for _, id := range ids {
		st := states[id]
		switch {
		case id == unknownID:
			if !errors.Is(st.Err, cloud.ErrUnknownDevice) {
				c.Errorf("state of an unknown id: Err %v, want cloud.ErrUnknownDevice", st.Err)
			}
		case st.Err != nil || !st.Online || st.ReadAt.IsZero():
			c.Errorf("state of %s: Err %v, Online %v, ReadAt %v", id, st.Err, st.Online, st.ReadAt)
		}
	}
	none, err := h.p.ReadStates(c.ctx(), nil)
	c.track(err)
	if err != nil || len(none) != 0 {
		c.Errorf("ReadStates(nil) = %v, %v: want no states and no error", none, err)
	}
}

func checkReadFollowsDevice(c *check) {
	h := c.home()
	c.list(h.p)
	for _, round := range []map[string]bool{
		{h.plug: true, h.outlets[0]: true, h.outlets[1]: false},
		{h.plug: false, h.outlets[0]: false, h.outlets[1]: true},
	} {
		for id, on := range round {
			c.cloud.SetRelay(id, on)
		}
		states := c.readOK(h.p, keys(round)...)
		for id, on := range round {
			if r := states[id].Relay; r == nil || *r != on {
				c.Errorf("relay of %s switched to %v on the device, read as %v", id, on, boolText(r))
			}
		}
	}
}

// checkCapabilities: a State reports values only for declared
// capabilities (and a relay whenever it declares one), an energy meter
// lists its Readings and reports exactly those, and a command for an
// undeclared capability is refused without calling the cloud.
func checkCapabilities(c *check) {
	h := c.home()
	devs := c.list(h.p)
	ids := keys(devs)
	states := c.readOK(h.p, ids...)
	for _, id := range ids {
		d, st := devs[id], states[id]
		reported := map[cloud.Capability]bool{
			cloud.CapRelay:  st.Relay != nil,
			cloud.CapLED:    st.LED != nil,
			cloud.CapLight:  st.Light != nil,
			cloud.CapRSSI:   st.RSSI != nil,
			cloud.CapEnergy: st.PowerW != nil || st.VoltageV != nil || st.CurrentA != nil || st.EnergyKWh != nil,
		}
		for cp, has := range reported {
			if has && !d.Has(cp) {
				c.Errorf("device %s reports %s without declaring it (declares %v)", id, cp, d.Capabilities)
			}
		}
		if d.Has(cloud.CapRelay) && st.Relay == nil {
			c.Errorf("device %s declares %s but reports no relay", id, cloud.CapRelay)
		}
		if d.Has(cloud.CapLight) && st.Light == nil {
			c.Errorf("device %s declares %s but reports no light state", id, cloud.CapLight)
		}
		checkReadings(c, d, st)
	}
	need := map[cloud.Action]cloud.Capability{
		cloud.ActionSetRelay: cloud.CapRelay, cloud.ActionSetLED: cloud.CapLED, cloud.ActionReboot: cloud.CapReboot,
		cloud.ActionSetLight: cloud.CapLight,
	}
	for _, id := range ids {
		for _, action := range []cloud.Action{cloud.ActionSetRelay, cloud.ActionSetLED, cloud.ActionReboot, cloud.ActionSetLight} {
			cmd := cloud.Command{DeviceID: id, Action: action, On: action == cloud.ActionSetLED || action == cloud.ActionSetLight}
			if devs[id].Has(need[action]) {
				c.apply(h.p, cmd)
				continue
			}
			c.wantUnsupported(h.p, cmd)
		}
	}
	c.wantUnsupported(h.p, cloud.Command{DeviceID: h.plug, Action: "explode"})
	err := h.p.Apply(c.ctx(), cloud.Command{DeviceID: unknownID, Action: cloud.ActionSetRelay, On: true})
	c.track(err)
	if !errors.Is(err, cloud.ErrUnknownDevice) {
		c.Errorf("command to an unknown id: %v, want cloud.ErrUnknownDevice", err)
	}
}

func (c *check) wantUnsupported(p cloud.Provider, cmd cloud.Command) {
	c.Helper()
	before, _ := c.obs.counts()
	err := p.Apply(c.ctx(), cmd)
	c.track(err)
	after, _ := c.obs.counts()
	if !errors.Is(err, cloud.ErrUnsupported) {
		c.Errorf("Apply(%s): %v, want cloud.ErrUnsupported", cmd, err)
	}
	if after != before {
		c.Errorf("Apply(%s) of an unsupported command made %d cloud calls, want none", cmd, after-before)
	}
}

func checkApply(c *check) {
	h := c.home()
	c.list(h.p)
	for _, on := range []bool{true, false, true} {
		c.apply(h.p, cloud.Command{DeviceID: h.plug, Action: cloud.ActionSetRelay, On: on})
		if got := c.cloud.Relay(h.plug); got != on {
			c.Errorf("Apply(set_relay=%v) returned, the device's relay is %v", on, got)
		}
	}
	for range 2 { // a set is idempotent
		c.apply(h.p, cloud.Command{DeviceID: h.outlets[1], Action: cloud.ActionSetRelay, On: true})
	}
	if !c.cloud.Relay(h.outlets[1]) || c.cloud.Relay(h.outlets[0]) {
		c.Errorf("outlet relays after switching the second on: %v, %v", c.cloud.Relay(h.outlets[0]), c.cloud.Relay(h.outlets[1]))
	}
	states := c.readOK(h.p, h.outlets...)
	if r := states[h.outlets[1]].Relay; r == nil || !*r {
		c.Errorf("switched outlet read as %v", boolText(r))
	}
	if r := states[h.outlets[0]].Relay; r == nil || *r {
		c.Errorf("other outlet read as %v", boolText(r))
	}
}

func boolText(b *bool) string {
	if b == nil {
		return "not reported"
	}
	if *b {
		return "on"
	}
	return "off"
}

// checkPlanReads checks a ReadPlanner: every id in exactly one group,
// each group read with one ReadStates call that answers all of it, at no
// more calls than the group says, and the same plan for the same ids.
func checkPlanReads(c *check) {
	h := c.home()
	rp, ok := h.p.(cloud.ReadPlanner)
	if !ok {
		return
	}
	ids := slices.Sorted(maps.Keys(c.list(h.p)))
	plan := rp.PlanReads(append(ids, unknownID))
	seen := map[string]int{}
	for _, g := range plan {
		if g.Calls < 1 {
			c.Errorf("PlanReads: group %v costs %d calls, want at least 1", g.IDs, g.Calls)
		}
		for _, id := range g.IDs {
			seen[id]++
		}
	}
	for _, id := range append(ids, unknownID) {
		if seen[id] != 1 {
			c.Errorf("PlanReads puts %q in %d groups, want exactly 1", id, seen[id])
		}
	}
	if again := rp.PlanReads(append(ids, unknownID)); !slices.EqualFunc(plan, again, func(a, b cloud.ReadGroup) bool {
		return a.Calls == b.Calls && slices.Equal(a.IDs, b.IDs)
	}) {
		c.Errorf("PlanReads gave another plan for the same ids")
	}
	for _, g := range plan {
		before, _ := c.obs.counts()
		states, err := h.p.ReadStates(c.ctx(), g.IDs)
		c.track(err)
		if err != nil {
			c.Fatalf("ReadStates(%v): %v", g.IDs, err)
		}
		c.oneEach(g.IDs, states)
		if after, _ := c.obs.counts(); after-before > g.Calls {
			c.Errorf("reading group %v made %d calls; PlanReads said %d", g.IDs, after-before, g.Calls)
		}
	}
}

// checkReadings: a device with CapEnergy lists its Readings (Home
// Assistant is told of a sensor for each), and a read reports exactly
// those: a value of another reading would never be shown, a listed one
// without a value would stay "unknown" for ever.
func checkReadings(c *check, d cloud.Device, st cloud.State) {
	c.Helper()
	if d.Has(cloud.CapEnergy) && len(d.Readings) == 0 {
		c.Errorf("device %s declares %s without its Readings", d.ID, cloud.CapEnergy)
	}
	values := map[cloud.Reading]*float64{
		cloud.ReadingPower: st.PowerW, cloud.ReadingVoltage: st.VoltageV,
		cloud.ReadingCurrent: st.CurrentA, cloud.ReadingEnergy: st.EnergyKWh,
	}
	for _, r := range cloud.AllReadings() {
		switch listed := d.Has(cloud.CapEnergy) && slices.Contains(d.Readings, r); {
		case listed && values[r] == nil:
			c.Errorf("device %s lists the reading %s but reports none", d.ID, r)
		case !listed && values[r] != nil:
			c.Errorf("device %s reports %s %v without listing it (lists %v)", d.ID, r, *values[r], d.Readings)
		}
	}
}
