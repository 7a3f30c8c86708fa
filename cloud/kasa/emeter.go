package kasa

import (
	"encoding/json"
	"fmt"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
)

// emeterReading is an emeter.get_realtime answer in base units. A nil field
// was not reported (or was dropped as invalid).
type emeterReading struct {
	PowerW   *float64
	VoltageV *float64
	CurrentA *float64
	TotalKWh *float64
}

// bulbReadings is what a bulb's (or light strip's) energy meter reports,
// from its answer m when the device was listed: the power, and the energy
// total when the answer holds one, of either generation. Never voltage or
// current: a bulb measures only its own power (its answer has neither, or
// zeros).
func bulbReadings(m map[string]json.RawMessage) []cloud.Reading {
	readings := []cloud.Reading{cloud.ReadingPower}
	if _, ok := m["total"]; ok {
		return append(readings, cloud.ReadingEnergy)
	}
	if _, ok := m["total_wh"]; ok {
		return append(readings, cloud.ReadingEnergy)
	}
	return readings
}

// parseEmeter decodes both hardware generations: old firmware reports
// power (W), voltage (V), current (A) and total (kWh); newer firmware
// reports power_mw, voltage_mv, current_ma and total_wh. Old keys win when
// both are present. Invalid values (not a number, negative, or above the
// plausibility limits of package cloud: MaxPowerW, MaxVoltageV, MaxCurrentA,
// MaxEnergyCounterKWh for the device's counter) are dropped and described
// in problems.
func parseEmeter(m map[string]json.RawMessage) (r emeterReading, problems []string) {
	pick := func(name, oldKey, newKey string, limit float64) *float64 {
		key, div := oldKey, 1.0
		if _, ok := jsonv.Float(m[oldKey]); !ok && !jsonv.NonFinite(m[oldKey]) {
			key, div = newKey, 1000
		}
		v, ok := jsonv.Float(m[key])
		switch {
		case !ok && jsonv.NonFinite(m[key]):
			problems = append(problems, fmt.Sprintf("%s %s is not a number", name, key))
			return nil
		case !ok:
			return nil
		}
		v /= div
		switch {
		case v < 0:
			problems = append(problems, fmt.Sprintf("%s %s=%g is negative", name, key, v))
			return nil
		case v > limit:
			problems = append(problems, fmt.Sprintf("%s %s=%g is implausible", name, key, v))
			return nil
		}
		return &v
	}
	r.PowerW = pick("power", "power", "power_mw", cloud.MaxPowerW)
	r.VoltageV = pick("voltage", "voltage", "voltage_mv", cloud.MaxVoltageV)
	r.CurrentA = pick("current", "current", "current_ma", cloud.MaxCurrentA)
	r.TotalKWh = pick("energy total", "total", "total_wh", cloud.MaxEnergyCounterKWh)
	return r, problems
}
