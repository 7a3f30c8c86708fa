package tuya

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
)

// Data point codes the provider reads (reference §5.5).
const (
	dpSwitch     = "switch"
	dpCurPower   = "cur_power"
	dpCurVoltage = "cur_voltage"
	dpCurCurrent = "cur_current"
	dpAddEle     = "add_ele"
)

// maxScale bounds accepted scales; Tuya's are 0..3 in practice.
const maxScale = 9

// maxReading are the plausibility limits (package cloud's, shared with
// the Kasa provider) of the metering data points, in the base units scaled
// returns: a plug reporting more sends garbage. add_ele is the energy of
// one report, so its limit is cloud.MaxEnergyReportKWh.
var maxReading = map[string]float64{
	dpCurPower:   cloud.MaxPowerW,
	dpCurVoltage: cloud.MaxVoltageV,
	dpCurCurrent: cloud.MaxCurrentA,
	dpAddEle:     cloud.MaxEnergyReportKWh,
}

// dp is one data point of a device's specification.
type dp struct {
	Code string
	// Type is Boolean, Integer, Enum, String, Json or Raw ("" if unknown).
	Type string
	// Unit is the values' unit as the specification spells it, e.g. "W".
	Unit string
	// Scale: the reported integer is the real value × 10^Scale.
	Scale    int
	Min, Max float64
	HasRange bool
	// Step is an Integer's step (0 when not given).
	Step float64
	// Enum is an Enum's range of values.
	Enum []string
	// Values is the values object of a Json data point (a colour's
	// per-component ranges); nil for the other types.
	Values json.RawMessage
	// Writable is true when the code is among the specification's
	// functions (commands).
	Writable bool
}

// specification is the cached data point map of one device.
type specification map[string]dp

// parseSpecification decodes the result of GET
// /v1.0/iot-03/devices/{id}/specification: {category, functions[],
// status[]}, items {code, type, values} where values is a JSON string
// (or, tolerated, an object) holding unit, scale, min, max. Status items
// describe what is reported, functions what can be commanded; a code in
// both keeps the status description and is writable.
func parseSpecification(raw json.RawMessage) (specification, error) {
	m, ok := jsonv.Object(raw)
	if !ok {
		return nil, errors.New("specification: result is not an object")
	}
	spec := specification{}
	functions, _ := jsonv.Array(m["functions"])
	status, _ := jsonv.Array(m["status"])
	for _, it := range status {
		if d, ok := parseDP(it); ok {
			spec[d.Code] = d
		}
	}
	for _, it := range functions {
		d, ok := parseDP(it)
		if !ok {
			continue
		}
		if have, ok := spec[d.Code]; ok {
			have.Writable = true
			spec[d.Code] = have
			continue
		}
		d.Writable = true
		spec[d.Code] = d
	}
	return spec, nil
}

func parseDP(raw json.RawMessage) (dp, bool) {
	m, ok := jsonv.Object(raw)
	if !ok {
		return dp{}, false
	}
	code, _ := jsonv.String(m["code"])
	if code == "" || len(code) > 64 {
		return dp{}, false
	}
	d := dp{Code: code}
	d.Type, _ = jsonv.String(m["type"])
	values := m["values"]
	if s, ok := jsonv.String(values); ok {
		values = json.RawMessage(s)
	}
	if v, ok := jsonv.Object(values); ok {
		d.Unit, _ = jsonv.String(v["unit"])
		if sc, ok := jsonv.Int(v["scale"]); ok && sc >= 0 && sc <= maxScale {
			d.Scale = sc
		}
		lo, okLo := jsonv.Float(v["min"])
		hi, okHi := jsonv.Float(v["max"])
		if okLo && okHi {
			d.Min, d.Max, d.HasRange = lo, hi, true
		}
		if st, ok := jsonv.Float(v["step"]); ok && st > 0 {
			d.Step = st
		}
		if r, ok := jsonv.Array(v["range"]); ok {
			for _, it := range r {
				if e, ok := jsonv.String(it); ok && e != "" && len(e) <= 64 {
					d.Enum = append(d.Enum, e)
				}
			}
		}
		if strings.EqualFold(d.Type, typeJSON) {
			d.Values = values
		}
	}
	return d, true
}

// relayOrder orders relay codes: the master "switch", then switch_N, then
// switch_usbN, each by N.
func relayOrder(code string) (group, n int, ok bool) {
	if code == dpSwitch {
		return 0, 0, true
	}
	rest, found := strings.CutPrefix(code, "switch_")
	if !found {
		return 0, 0, false
	}
	group = 1
	if r, usb := strings.CutPrefix(rest, "usb"); usb {
		group, rest = 2, r
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 || n > 99 || strconv.Itoa(n) != rest {
		return 0, 0, false
	}
	return group, n, true
}

// layout is how one physical device is bridged.
type layout struct {
	// relay is the code switching the device itself ("" for a strip
	// without a master switch).
	relay string
	// outlets are the codes that become child devices, in order.
	outlets []string
	// metering data points present.
	power, voltage, current, energy bool
	// lights are the lights of a device of a light category (which has no
	// relay and no outlets): one light is the device itself, several
	// become child devices like outlets, by their switch code.
	lights []lightSpec
}

func (l layout) supported() bool {
	return l.relay != "" || len(l.outlets) > 0 || len(l.lights) > 0
}

// children are the codes of the device's child devices: its outlets, or
// its lights when it has several.
func (l layout) children() []string {
	if len(l.lights) < 2 {
		return l.outlets
	}
	codes := make([]string, len(l.lights))
	for i, ls := range l.lights {
		codes[i] = ls.sw
	}
	return codes
}

// selfLight is the light the device itself is, or nil.
func (l layout) selfLight() *lightSpec {
	if len(l.lights) != 1 {
		return nil
	}
	return &l.lights[0]
}

// childLight is the light child of the given switch code, or nil.
func (l layout) childLight(code string) *lightSpec {
	if len(l.lights) < 2 {
		return nil
	}
	for i := range l.lights {
		if l.lights[i].sw == code {
			return &l.lights[i]
		}
	}
	return nil
}

// childName names a child device after its parent: "Desk strip 2", "Desk
// strip USB 1" for outlets, "Landing 2" for the second light.
func (l layout) childName(parent, code string) string {
	for i, ls := range l.lights {
		if ls.sw == code {
			return parent + " " + strconv.Itoa(i+1)
		}
	}
	return outletName(parent, code)
}

func (l layout) hasEnergy() bool { return l.power || l.energy }

// readings are the values of the metering data points the device has
// (cur_power, cur_voltage, cur_current, add_ele): each is optional in
// Tuya's instruction set, and many plugs meter power and energy only.
func (l layout) readings() []cloud.Reading {
	var out []cloud.Reading
	for _, r := range []struct {
		has     bool
		reading cloud.Reading
	}{{l.power, cloud.ReadingPower}, {l.voltage, cloud.ReadingVoltage}, {l.current, cloud.ReadingCurrent}, {l.energy, cloud.ReadingEnergy}} {
		if r.has {
			out = append(out, r.reading)
		}
	}
	return out
}
func (l layout) hasMetering() bool { return l.power || l.voltage || l.current || l.energy }

// deviceLayout is the layout of a device of the given category: its
// lights for a light category, else its relays; the metering codes either
// way. src is its specification or, without one, the list's status.
func deviceLayout(category string, codes map[string]bool, src dpSource) layout {
	l := makeLayout(codes)
	if isLightCategory(category) {
		l.relay, l.outlets = "", nil
		l.lights = findLights(category, src)
	}
	return l
}

// makeLayout derives the layout from the codes a device has (from its
// specification, or from the list's status codes when there is none):
// one relay code gives a plug; several give a strip whose switch_N and
// switch_usbN become outlets (and whose "switch", if any, is the master
// relay of the strip itself).
func makeLayout(codes map[string]bool) layout {
	var relays []string
	for c := range codes {
		if _, _, ok := relayOrder(c); ok {
			relays = append(relays, c)
		}
	}
	slices.SortFunc(relays, func(a, b string) int {
		ga, na, _ := relayOrder(a)
		gb, nb, _ := relayOrder(b)
		if ga != gb {
			return ga - gb
		}
		return na - nb
	})
	var l layout
	switch {
	case len(relays) == 1:
		l.relay = relays[0]
	case len(relays) > 1 && relays[0] == dpSwitch:
		l.relay, l.outlets = dpSwitch, relays[1:]
	default:
		l.outlets = relays
	}
	l.power, l.voltage, l.current, l.energy = codes[dpCurPower], codes[dpCurVoltage], codes[dpCurCurrent], codes[dpAddEle]
	return l
}

// outletID is the Device.ID of a strip outlet: "<device id>_<code>", e.g.
// "bf0123456789abcdef_switch_2". It is stable (the code is Tuya's standard
// data point code), unique on the account and made of [A-Za-z0-9_-].
func outletID(parent, code string) string { return parent + "_" + code }

// outletName names an outlet after its strip: "Desk strip 2", "Desk strip
// USB 1".
func outletName(parent, code string) string {
	g, n, _ := relayOrder(code)
	if g == 2 {
		return parent + " USB " + strconv.Itoa(n)
	}
	return parent + " " + strconv.Itoa(n)
}

// defaultScales and defaultUnits apply when a device's specification is
// unknown (reference §5.5 "typical spec").
var (
	defaultScales = map[string]int{dpCurPower: 1, dpCurVoltage: 1, dpCurCurrent: 0, dpAddEle: 3}
	defaultUnits  = map[string]string{dpCurPower: "W", dpCurVoltage: "V", dpCurCurrent: "mA", dpAddEle: "kWh"}
)

// unitFactor converts a value in unit to the neutral unit of code (W, V,
// A, kWh). Unknown or empty units count as the code's usual unit.
func unitFactor(code, unit string) float64 {
	u := strings.ToLower(strings.TrimSpace(unit))
	switch code {
	case dpCurCurrent:
		if u == "a" {
			return 1
		}
		return 0.001 // mA, the standard unit
	case dpCurPower:
		if u == "kw" {
			return 1000
		}
	case dpAddEle:
		if u == "wh" {
			return 0.001
		}
	}
	return 1
}

// scaled converts a raw reported integer: raw / 10^scale × unit factor.
// Negative, non-finite and implausible (see maxReading) readings are
// refused.
func scaled(raw json.RawMessage, code string, scale int, unit string) (float64, bool) {
	v, ok := jsonv.Float(raw)
	if !ok || v < 0 {
		return 0, false
	}
	f := v / math.Pow10(scale) * unitFactor(code, unit)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	if limit, ok := maxReading[code]; ok && f > limit {
		return 0, false
	}
	return f, true
}
