package kasa

import (
	"encoding/json"
	"strings"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
)

// Lights over the passthrough: wall dimmers, bulbs and light strips (see
// docs/kasa-protocol.md). Everything here is learned from get_sysinfo,
// so a poll still costs one call per device.

// lightKind is what kind of light a device is, from get_sysinfo as
// python-kasa decides it (_get_device_type_from_sys_info).
type lightKind int

const (
	notLight lightKind = iota
	// lightDimmer: dev_name contains "Dimmer" (HS220, KP405, ES20M, all
	// IOT.SMARTPLUGSWITCH): relay for on/off, smartlife.iot.dimmer for
	// brightness and fades.
	lightDimmer
	// lightBulb: IOT.SMARTBULB without "length":
	// smartlife.iot.smartbulb.lightingservice.
	lightBulb
	// lightStrip: IOT.SMARTBULB with "length" (KL400L5, KL420L5, KL430):
	// smartlife.iot.lightStrip; the bulb service fails on it.
	lightStrip
)

const (
	micTypeBulb = "IOT.SMARTBULB"
	// Services of the lights.
	moduleBulb       = "smartlife.iot.smartbulb.lightingservice"
	moduleStrip      = "smartlife.iot.lightStrip"
	moduleDimmer     = "smartlife.iot.dimmer"
	moduleBulbEmeter = "smartlife.iot.common.emeter"
	moduleBulbSystem = "smartlife.iot.common.system"
)

// bulbLight is a bulb's or strip's light_state: the values it shows when
// on, the ones it comes back with (dft_on_state) when off. Nil fields were
// not reported (or not integers).
type bulbLight struct {
	On                                     bool
	Brightness, Hue, Saturation, ColorTemp *int
}

// parseLight reads the light fields of get_sysinfo into si.
func (si *sysinfo) parseLight(m map[string]json.RawMessage) {
	si.DevName, _ = jsonv.String(m["dev_name"])
	switch {
	case si.MicType == micTypeBulb:
		si.Kind = lightBulb
		if _, ok := m["length"]; ok {
			si.Kind = lightStrip
		}
	case strings.Contains(si.DevName, "Dimmer") && len(si.Children) == 0:
		si.Kind = lightDimmer
	default:
		return
	}
	// Capabilities from the flags only: a non-colour bulb still reports a
	// hue and a color_temp.
	si.Dimmable, _ = jsonv.Bit(m["is_dimmable"])
	si.Color, _ = jsonv.Bit(m["is_color"])
	si.VariableTemp, _ = jsonv.Bit(m["is_variable_color_temp"])
	if b, ok := jsonv.Int(m["brightness"]); ok && si.Kind == lightDimmer && b >= 1 && b <= 100 {
		si.Brightness = &b
	}
	if si.MAC == "" {
		if mac, ok := jsonv.String(m["mic_mac"]); ok {
			si.MAC = normalizeMAC(mac)
		}
	}
	if si.Kind != lightDimmer {
		si.Light = parseBulbLight(m["light_state"])
	}
}

// parseBulbLight decodes light_state (or a get_light_state answer); nil
// when it is not an object with an on_off.
func parseBulbLight(raw json.RawMessage) *bulbLight {
	ls, ok := jsonv.Object(raw)
	if !ok {
		return nil
	}
	on, ok := jsonv.Bit(ls["on_off"])
	if !ok {
		return nil
	}
	values := ls
	if dft, ok := jsonv.Object(ls["dft_on_state"]); ok && !on {
		values = dft
	}
	intOf := func(key string, lo, hi int) *int {
		if v, ok := jsonv.Int(values[key]); ok && v >= lo && v <= hi {
			return &v
		}
		return nil
	}
	return &bulbLight{
		On:         on,
		Brightness: intOf("brightness", 0, 100),
		Hue:        intOf("hue", 0, cloud.MaxHue),
		Saturation: intOf("saturation", 0, cloud.MaxPercent),
		ColorTemp:  intOf("color_temp", 0, 20000),
	}
}

// lightCaps is the capability list of a light (before RSSI, LED and
// reboot): dimmers dim and fade; bulbs and strips do what their flags
// say, bulbs fade (strips ignore a transition), and both meter energy when
// their emeter answered at listing.
func (si *sysinfo) lightCaps() []cloud.Capability {
	caps := []cloud.Capability{cloud.CapLight}
	if si.Kind == lightDimmer {
		return append(caps, cloud.CapBrightness, cloud.CapTransition)
	}
	if si.Dimmable {
		caps = append(caps, cloud.CapBrightness)
	}
	if si.VariableTemp {
		caps = append(caps, cloud.CapColorTemp)
	}
	if si.Color {
		caps = append(caps, cloud.CapColor)
	}
	if si.Kind == lightBulb {
		caps = append(caps, cloud.CapTransition)
	}
	if len(si.emeter) > 0 {
		caps = append(caps, cloud.CapEnergy)
	}
	return caps
}

// kelvinRanges are the colour temperature ranges by model prefix
// (python-kasa TPLINK_KELVIN, matched in this order).
var kelvinRanges = []struct {
	prefix string
	r      cloud.KelvinRange
}{
	{"LB130", cloud.KelvinRange{Min: 2500, Max: 9000}},
	{"LB230", cloud.KelvinRange{Min: 2500, Max: 9000}},
	{"KB130", cloud.KelvinRange{Min: 2500, Max: 9000}},
	{"KL130", cloud.KelvinRange{Min: 2500, Max: 9000}},
	{"KL135", cloud.KelvinRange{Min: 2500, Max: 9000}},
	{"KL400L5", cloud.KelvinRange{Min: 2500, Max: 9000}},
	{"KL430", cloud.KelvinRange{Min: 2500, Max: 9000}},
	{"LB120", cloud.KelvinRange{Min: 2700, Max: 6500}},
	{"KL125", cloud.KelvinRange{Min: 2500, Max: 6500}},
	{"KL120(EU)", cloud.KelvinRange{Min: 2700, Max: 6500}},
	{"KL120(US)", cloud.KelvinRange{Min: 2700, Max: 5000}},
}

// fallbackKelvin is python-kasa's range for a model it does not know.
var fallbackKelvin = cloud.KelvinRange{Min: 2700, Max: 5000}

// kelvinRange returns the colour temperature range of a light with
// variable temperature (the zero range for the others); known is false
// when the model is not in the table and the fallback applies.
func (si *sysinfo) kelvinRange() (r cloud.KelvinRange, known bool) {
	if si == nil || si.Kind == notLight || si.Kind == lightDimmer || !si.VariableTemp {
		return cloud.KelvinRange{}, true
	}
	for _, k := range kelvinRanges {
		if strings.HasPrefix(si.Model, k.prefix) {
			return k.r, true
		}
	}
	return fallbackKelvin, false
}

// lightState is the cloud.LightState of a light read in si (nil when it
// does not say): on/off, brightness where it dims, and the colour the mode
// it is in shows: color_temp 0 on a colour light is colour (HS) mode.
func (si *sysinfo) lightState() *cloud.LightState {
	if si.Kind == lightDimmer {
		if si.Relay == nil {
			return nil
		}
		s := &cloud.LightState{On: *si.Relay}
		if si.Brightness != nil {
			s.Brightness = cloud.Float(float64(*si.Brightness))
		}
		return s
	}
	l := si.Light
	if l == nil {
		return nil
	}
	s := &cloud.LightState{On: l.On}
	if si.Dimmable && l.Brightness != nil && *l.Brightness > 0 {
		s.Brightness = cloud.Float(float64(*l.Brightness))
	}
	ct := 0
	if l.ColorTemp != nil {
		ct = *l.ColorTemp
	}
	switch {
	case si.VariableTemp && ct > 0:
		s.Mode, s.ColorTempK = cloud.ColorModeTemp, cloud.Int(ct)
	case si.Color && l.Hue != nil && l.Saturation != nil && (ct == 0 || !si.VariableTemp):
		s.Mode = cloud.ColorModeHS
		s.Hue, s.Saturation = cloud.Float(float64(*l.Hue)), cloud.Float(float64(*l.Saturation))
	}
	return s
}
