package cloudtest

import (
	"math"
	"strconv"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// checkEnergy: readings in W, V, A and kWh; the energy total grows with
// use and never decreases, across a device counter reset and a restart.
func checkEnergy(c *check) {
	h := c.home()
	c.list(h.p)
	const watts = 100
	c.cloud.SetPower(h.meter, watts)
	c.cloud.SetRelay(h.meter, true)
	st := c.readOK(h.p, h.meter)[h.meter]
	if st.PowerW == nil || math.Abs(*st.PowerW-watts) > 0.5 {
		c.Errorf("power drawing %d W read as %s W", watts, floatText(st.PowerW))
	}
	if st.VoltageV == nil || *st.VoltageV < 90 || *st.VoltageV > 260 {
		c.Errorf("voltage read as %s V, want mains voltage", floatText(st.VoltageV))
	} else if st.CurrentA == nil || math.Abs(*st.CurrentA - watts / *st.VoltageV) > 0.01 {
		c.Errorf("current at %d W and %.1f V read as %s A", watts, *st.VoltageV, floatText(st.CurrentA))
	}
	total := c.energy(st)

	// One hour at 100 W is 0.1 kWh.
	c.cloud.Tick(time.Hour)
	total = c.energyGrows(h.p, h.meter, total, 0.1, "an hour at 100 W")

	c.cloud.ResetEnergyCounter(h.meter)
	total = c.energyGrows(h.p, h.meter, total, 0, "after a device counter reset")
	c.cloud.Tick(time.Hour)
	total = c.energyGrows(h.p, h.meter, total, 0.1, "an hour at 100 W after a counter reset")

	c.cloud.SetRelay(h.meter, false)
	st = c.readOK(h.p, h.meter)[h.meter]
	if st.PowerW == nil || *st.PowerW != 0 {
		c.Errorf("power of a plug switched off read as %s W, want 0", floatText(st.PowerW))
	}
	c.cloud.Tick(time.Hour)
	total = c.energyGrows(h.p, h.meter, total, 0, "an hour switched off")

	restarted := c.provider(Options{})
	c.energyGrows(restarted, h.meter, total, 0, "after a restart")
}

// energy returns the reported total, failing the check when there is none.
func (c *check) energy(st cloud.State) float64 {
	c.Helper()
	if st.EnergyKWh == nil {
		c.Fatalf("device %s with %s reports no energy total", st.DeviceID, cloud.CapEnergy)
	}
	return *st.EnergyKWh
}

// energyGrows reads id and checks that its total grew by want kWh (to
// within the device's resolution) from before; it returns the new total.
func (c *check) energyGrows(p cloud.Provider, id string, before, want float64, when string) float64 {
	c.Helper()
	now := c.energy(c.readOK(p, id)[id])
	if now < before {
		c.Errorf("energy total went down %s: %v kWh, then %v kWh", when, before, now)
	} else if math.Abs(now-before-want) > 0.002 {
		c.Errorf("energy total %s grew by %v kWh, want %v kWh", when, now-before, want)
	}
	return now
}

func floatText(f *float64) string {
	if f == nil {
		return "not reported"
	}
	return strconv.FormatFloat(*f, 'g', -1, 64)
}
