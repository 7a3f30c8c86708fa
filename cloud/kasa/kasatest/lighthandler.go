package kasatest

import (
	"encoding/json"
	"maps"
	"slices"
)

// The light services inside a device.
const (
	moduleBulb        = "smartlife.iot.smartbulb.lightingservice"
	moduleStrip       = "smartlife.iot.lightStrip"
	moduleDimmer      = "smartlife.iot.dimmer"
	moduleBulbEmeter  = "smartlife.iot.common.emeter"
	moduleBulbSystem  = "smartlife.iot.common.system"
	codeStripNoBulbOp = -2001 // KL420L5 answering the bulb service (piekstra e2e15cc)
)

// lightModule answers a light service, or reports (false) that module is
// not one.
func (s *Server) lightModule(d *device, module string, methods map[string]json.RawMessage) (any, bool) {
	kind := lightKind(0)
	if d.light != nil {
		kind = d.light.kind
	}
	switch module {
	case moduleBulb:
		switch kind {
		case kindBulb:
			return d.eachMethod(methods, d.bulbMethod), true
		case kindStrip:
			return deviceErr(codeStripNoBulbOp, "Module not support"), true
		}
	case moduleStrip:
		if kind == kindStrip {
			return d.eachMethod(methods, d.bulbMethod), true
		}
	case moduleDimmer:
		if kind == kindDimmer {
			return d.eachMethod(methods, d.dimmerMethod), true
		}
	case moduleBulbEmeter:
		if d.isBulb() {
			return d.eachMethod(methods, func(name string, _ map[string]json.RawMessage) any {
				if name != "get_realtime" {
					return deviceErr(-2, "member not support")
				}
				return d.bulbRealtime()
			}), true
		}
	case moduleBulbSystem:
		if d.isBulb() {
			return d.eachMethod(methods, d.bulbSystemMethod), true
		}
	default:
		return nil, false
	}
	return deviceErr(-1, "module not support"), true
}

// eachMethod answers every method of a module with fn(name, argument).
func (d *device) eachMethod(methods map[string]json.RawMessage, fn func(name string, arg map[string]json.RawMessage) any) map[string]any {
	out := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(methods)) {
		arg, _ := object(methods[name])
		out[name] = fn(name, arg)
	}
	return out
}

// bulbMethod answers the bulb service of a bulb and the strip service of
// a strip (the same fields; a strip ignores transition_period).
func (d *device) bulbMethod(name string, arg map[string]json.RawMessage) any {
	l := d.light
	switch {
	case name == "get_light_state":
	case name == "transition_light_state" && l.kind == kindBulb, name == "set_light_state" && l.kind == kindStrip:
		if code, msg := l.setLightState(arg); code != 0 {
			return deviceErr(code, msg)
		}
	default:
		return deviceErr(-2, "member not support")
	}
	st := l.lightState()
	st["err_code"] = 0
	return st
}

// setLightState applies transition_light_state / set_light_state. Values
// are checked as firmware does (-3 for a bad one, nothing changed). With
// on_off 1 and ignore_default 0 (or absent) the light comes back as it
// was and the other fields are ignored (python-kasa _set_light_state);
// ignore_default 1 applies them. color_temp 0 with a hue and saturation is
// colour mode.
func (l *lightSim) setLightState(arg map[string]json.RawMessage) (code int, msg string) {
	if arg == nil {
		return -3, "invalid argument"
	}
	num := func(key string, lo, hi int) (int, bool, bool) {
		raw, ok := arg[key]
		if !ok {
			return 0, false, true
		}
		var v int
		if err := json.Unmarshal(raw, &v); err != nil || v < lo || v > hi {
			return 0, true, false
		}
		return v, true, true
	}
	onOff, hasOnOff, ok1 := num("on_off", 0, 1)
	ignore, _, ok2 := num("ignore_default", 0, 1)
	bri, hasBri, ok3 := num("brightness", 0, 100)
	hue, hasHue, ok4 := num("hue", 0, 360)
	sat, hasSat, ok5 := num("saturation", 0, 100)
	ct, hasCT, ok6 := num("color_temp", 0, 20000)
	period, hasPeriod, ok7 := num("transition_period", 0, 3_600_000)
	switch {
	case !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7:
		return -3, "invalid argument"
	case (hasHue || hasSat) && !l.color:
		return -3, "invalid argument: not a color light"
	case hasCT && ct != 0 && (!l.variableTemp || ct < l.kelvin[0] || ct > l.kelvin[1]):
		return -3, "invalid argument: color_temp"
	case hasBri && !l.dimmable:
		return -3, "invalid argument: not dimmable"
	}
	if hasPeriod && l.kind == kindBulb {
		l.lastTransition = period
	}
	if !hasOnOff {
		onOff = 1
	}
	if onOff == 0 {
		l.on = false
		return 0, ""
	}
	l.on = true
	if ignore == 0 {
		return 0, "" // back as it was
	}
	if hasBri && bri > 0 {
		l.brightness = bri
	}
	if hasCT {
		l.colorTemp = ct
	}
	if hasHue {
		l.hue = hue
	}
	if hasSat {
		l.sat = sat
	}
	return 0, ""
}

// dimmerMethod answers smartlife.iot.dimmer: set_brightness (1–100, the
// relay unchanged), set_dimmer_transition (brightness 0–100 over a
// duration > 0 ms: 0 switches off, anything else on at that brightness)
// and get_dimmer_parameters.
func (d *device) dimmerMethod(name string, arg map[string]json.RawMessage) any {
	l := d.light
	intArg := func(key string, lo, hi int) (int, bool) {
		var v int
		if err := json.Unmarshal(arg[key], &v); err != nil || v < lo || v > hi {
			return 0, false
		}
		return v, true
	}
	switch name {
	case "set_brightness":
		b, ok := intArg("brightness", 1, 100) // dimmers refuse 0
		if !ok {
			return deviceErr(-3, "invalid argument")
		}
		l.brightness = b
		return ok0()
	case "set_dimmer_transition":
		b, ok1 := intArg("brightness", 0, 100)
		ms, ok2 := intArg("duration", 1, 3_600_000)
		if !ok1 || !ok2 {
			return deviceErr(-3, "invalid argument")
		}
		l.lastTransition = ms
		if b == 0 {
			d.setRelay(false)
			return ok0()
		}
		l.brightness = b
		d.setRelay(true)
		return ok0()
	case "get_dimmer_parameters":
		return map[string]any{"bulb_type": 1, "fadeOffTime": 1000, "fadeOnTime": 1000, "gentleOffTime": 10000,
			"gentleOnTime": 3000, "minThreshold": 0, "rampRate": 30, "err_code": 0}
	}
	return deviceErr(-2, "member not support")
}

// bulbSystemMethod answers smartlife.iot.common.system of a bulb or
// strip: set_dev_alias and reboot.
func (d *device) bulbSystemMethod(name string, arg map[string]json.RawMessage) any {
	switch name {
	case "set_dev_alias":
		alias, ok := str(arg["alias"])
		if !ok || alias == "" {
			return deviceErr(-3, "invalid argument")
		}
		d.alias = alias
		return ok0()
	case "reboot":
		d.reboots++
		return ok0()
	}
	return deviceErr(-2, "member not support")
}
