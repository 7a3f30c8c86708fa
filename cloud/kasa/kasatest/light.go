package kasatest

import (
	"fmt"
	"math"
	"strings"
)

// Lights: wall dimmers (IOT.SMARTPLUGSWITCH with a brightness), bulbs and
// light strips (IOT.SMARTBULB), simulated from python-kasa's recorded
// fixtures (HS220, KL130, KL120, KL50, KL430): the sysinfo shapes, the
// services each kind answers and the ones it refuses.

// lightKind says which services a light answers.
type lightKind int

const (
	kindDimmer lightKind = iota + 1 // smartlife.iot.dimmer, system relay
	kindBulb                        // smartlife.iot.smartbulb.lightingservice
	kindStrip                       // smartlife.iot.lightStrip
)

// lightSim is the simulated light of a dimmer, bulb or strip. A dimmer's
// on/off is the device's relay; a bulb's and a strip's is on.
type lightSim struct {
	kind lightKind
	// The sysinfo flags of bulbs and strips (is_dimmable, is_color,
	// is_variable_color_temp).
	dimmable, color, variableTemp bool
	kelvin                        [2]int // the temperatures the light takes
	length                        int    // strip zones

	on         bool
	brightness int // 1–100
	hue, sat   int
	colorTemp  int // 0: colour (HS) mode
	// lastTransition is the transition_period (bulb) or duration
	// (dimmer) of the last command that carried one, in ms; -1: none yet.
	lastTransition int

	watts   float64 // bulbs and strips: draw at full brightness
	totalWh float64
}

// modelKelvin is the colour temperature range a bulb model takes (its
// firmware refuses others).
func modelKelvin(model string) [2]int {
	switch {
	case strings.HasPrefix(model, "LB120"), strings.HasPrefix(model, "KL120(EU)"):
		return [2]int{2700, 6500}
	case strings.HasPrefix(model, "KL120"):
		return [2]int{2700, 5000}
	case strings.HasPrefix(model, "KL125"):
		return [2]int{2500, 6500}
	}
	return [2]int{2500, 9000}
}

// AddDimmer adds a wall dimmer (e.g. "HS220(US)", "KP405(US)", "ES20M(US)"):
// a plug-switch whose dev_name says "Dimmer", with a relay, an LED, a
// brightness of 1–100 in sysinfo and the smartlife.iot.dimmer service
// (set_brightness, set_dimmer_transition). It starts off at 50 %.
func (s *Server) AddDimmer(user, alias, model string) string {
	d := &device{
		alias: alias, model: model,
		devName: "Smart Wi-Fi Dimmer", hwVer: "1.0", swVer: "1.5.7 Build 180912 Rel.104837",
		deviceType: "IOT.SMARTPLUGSWITCH", online: true, rssi: -35,
		light: &lightSim{kind: kindDimmer, brightness: 50, lastTransition: -1},
	}
	switch {
	case strings.HasPrefix(model, "KP405"):
		d.devName = "Kasa Smart Wi-Fi Outdoor Plug-In Dimmer"
	case strings.HasPrefix(model, "ES20M"):
		d.devName = "Wi-Fi Smart Dimmer with sensor"
	}
	return s.addNew(user, d)
}

// AddBulb adds a bulb (IOT.SMARTBULB) with the given sysinfo flags:
// "KL130(US)" with color and variableTemp, "KL120(US)" with variableTemp
// only, "KL50(US)" with neither (it still reports hue, saturation and a
// color_temp of 2700, as the real one does). Every bulb dims, takes
// transitions and has an energy meter (smartlife.iot.common.emeter, 9 W
// at full brightness). It starts off, white at 2700 K (neither flag: that
// is only what it reports) and 50 %.
func (s *Server) AddBulb(user, alias, model string, color, variableTemp bool) string {
	d := &device{
		alias: alias, model: model,
		devName: "Smart Wi-Fi LED Bulb", hwVer: "1.0", swVer: "1.8.11 Build 191113 Rel.105336",
		deviceType: "IOT.SMARTBULB", online: true, rssi: -52,
		light: &lightSim{kind: kindBulb, dimmable: true, color: color, variableTemp: variableTemp,
			kelvin: modelKelvin(model), brightness: 50, colorTemp: 2700, lastTransition: -1, watts: 9},
	}
	switch {
	case color:
		d.devName = "Smart Wi-Fi LED Bulb with Color Changing"
	case variableTemp:
		d.devName = "Smart Wi-Fi LED Bulb with Tunable White"
	default:
		d.devName = "Smart Wi-Fi LED Bulb with Dimmable Light"
	}
	return s.addNew(user, d)
}

// AddLightStrip adds a colour light strip (e.g. "KL430(US)", 16 zones):
// IOT.SMARTBULB with "length" in sysinfo, its own smartlife.iot.lightStrip
// service (get_light_state, set_light_state; transitions are ignored) and
// an energy meter. The bulb service answers -2001, as a real KL420L5 does.
// variableTemp is the is_variable_color_temp flag (KL400L5 firmware
// before 1.0.11 reports 0). It starts off, orange, at 50 %.
func (s *Server) AddLightStrip(user, alias, model string, length int, variableTemp bool) string {
	return s.addNew(user, &device{
		alias: alias, model: model,
		devName: "Kasa Smart Light Strip, Multicolor", hwVer: "2.0", swVer: "1.0.8 Build 210121 Rel.084339",
		deviceType: "IOT.SMARTBULB", online: true, rssi: -61,
		light: &lightSim{kind: kindStrip, dimmable: true, color: true, variableTemp: variableTemp, length: length,
			kelvin: modelKelvin(model), brightness: 50, hue: 30, sat: 100, lastTransition: -1, watts: 12},
	})
}

// addNew gives d an id from its alias, adds it to user's account and
// returns the id.
func (s *Server) addNew(user string, d *device) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.id = s.idFor(d.alias)
	s.addDevice(user, d)
	return d.id
}

// LightInfo is a light as the device has it.
type LightInfo struct {
	On         bool
	Brightness int // 1–100
	// ColorTemp is the white temperature in K; 0 means colour mode, with
	// Hue (0–360) and Saturation (0–100).
	ColorTemp       int
	Hue, Saturation int
	// Transition is the transition of the last command that carried one,
	// in ms (bulbs: transition_period; dimmers: set_dimmer_transition's
	// duration); -1 when none did.
	Transition int
}

// Light reports a dimmer, bulb or strip.
func (s *Server) Light(id string) LightInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.mustLight(id)
	l := d.light
	return LightInfo{On: d.lightOn(), Brightness: l.brightness, ColorTemp: l.colorTemp, Hue: l.hue, Saturation: l.sat, Transition: l.lastTransition}
}

// SetLight changes a light as its app or wall switch would (Transition
// is ignored). Values are not checked.
func (s *Server) SetLight(id string, li LightInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.mustLight(id)
	l := d.light
	d.setLightOn(li.On)
	l.brightness, l.colorTemp, l.hue, l.sat = li.Brightness, li.ColorTemp, li.Hue, li.Saturation
}

func (s *Server) mustLight(id string) *device {
	d := s.mustPhysical(id)
	if d.light == nil {
		panic(fmt.Sprintf("kasatest: %q is not a light", id))
	}
	return d
}

func (d *device) lightOn() bool {
	if d.light.kind == kindDimmer {
		return d.relay
	}
	return d.light.on
}

func (d *device) setLightOn(on bool) {
	if d.light.kind == kindDimmer {
		d.setRelay(on)
		return
	}
	d.light.on = on
}

// isBulb reports a bulb or strip (IOT.SMARTBULB).
func (d *device) isBulb() bool { return d.light != nil && d.light.kind != kindDimmer }

// lightState renders light_state (sysinfo) and get_light_state: the
// values when on; when off, on_off 0 and the values it comes back with
// under dft_on_state.
func (l *lightSim) lightState() map[string]any {
	values := map[string]any{
		"mode": "normal", "hue": l.hue, "saturation": l.sat, "color_temp": l.colorTemp, "brightness": l.brightness,
	}
	if !l.color {
		values["hue"], values["saturation"] = 0, 0
	}
	if l.on {
		values["on_off"] = 1
		return values
	}
	return map[string]any{"on_off": 0, "dft_on_state": values}
}

// bulbSysinfo renders system.get_sysinfo of a bulb or strip.
func (d *device) bulbSysinfo() map[string]any {
	l := d.light
	m := map[string]any{
		"sw_ver": d.swVer, "hw_ver": d.hwVer, "model": d.model, "description": d.devName,
		"alias": d.alias, "mic_type": "IOT.SMARTBULB", "dev_state": "normal",
		"mic_mac": d.mac(), "deviceId": d.id, "oemId": hexOf("oem/"+d.model, 32), "hwId": hexOf("hw/"+d.model, 32),
		"is_factory": false, "disco_ver": "1.0", "ctrl_protocols": map[string]any{"name": "Linkie", "version": "1.0"},
		"light_state": l.lightState(), "is_dimmable": bit(l.dimmable), "is_color": bit(l.color),
		"is_variable_color_temp": bit(l.variableTemp), "rssi": d.rssi, "active_mode": "none",
		"heapsize": 305252, "err_code": 0,
		"preferred_state": []map[string]any{
			{"index": 0, "hue": 0, "saturation": 0, "color_temp": 2700, "brightness": 50},
			{"index": 1, "hue": 120, "saturation": 75, "color_temp": 0, "brightness": 100},
		},
	}
	if l.kind == kindStrip {
		m["length"] = l.length
		m["LEF"] = 1
		m["lighting_effect_state"] = map[string]any{"brightness": 50, "custom": 0, "enable": 0, "id": "", "name": "station"}
		m["preferred_state"] = []map[string]any{}
	}
	return m
}

// bulbRealtime renders smartlife.iot.common.emeter.get_realtime: power
// and total; bulbs report no voltage or current (zeros).
func (d *device) bulbRealtime() map[string]any {
	l := d.light
	power := 0.0
	if l.on {
		power = l.watts * float64(l.brightness) / 100
	}
	return map[string]any{
		"power_mw": int(math.Round(power * 1000)), "total_wh": int(math.Floor(l.totalWh)),
		"voltage_mv": 0, "current_ma": 0, "err_code": 0,
	}
}
