package kasa

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/text"
)

// sysinfo is what the provider learns from system.get_sysinfo. Values are
// immutable once parsed: updates replace the whole value.
type sysinfo struct {
	Alias    string
	Model    string
	SwVer    string
	HwVer    string
	MAC      string // normalised, or ""
	Feature  string
	MicType  string
	Relay    *bool // relay_state, single-outlet devices only
	LEDOn    *bool // inverse of led_off
	RSSI     *int
	Children []childInfo // strip outlets, in device order

	// Lights (light.go).
	DevName string
	Kind    lightKind
	// Dimmable, Color and VariableTemp are the bulb flags is_dimmable,
	// is_color and is_variable_color_temp.
	Dimmable, Color, VariableTemp bool
	Brightness                    *int       // a dimmer's brightness, 1–100
	Light                         *bulbLight // a bulb's or strip's light_state
	// emeter is what the bulb's smartlife.iot.common.emeter reported when
	// the device was listed (see bulbReadings); nil when it did not
	// answer. Not from get_sysinfo: the provider carries it from one
	// reading to the next.
	emeter []cloud.Reading
}

// childInfo is one strip outlet as get_sysinfo lists it.
type childInfo struct {
	ID    string // as the device spells it (the wire id)
	Alias string
	On    *bool // the outlet's "state"
}

// parseSysinfo decodes a get_sysinfo answer field by field: missing or
// oddly typed fields are left unset rather than failing the whole answer.
func parseSysinfo(m map[string]json.RawMessage) (*sysinfo, error) {
	if m == nil {
		return nil, errors.New("system.get_sysinfo: empty answer")
	}
	si := &sysinfo{}
	si.Alias, _ = jsonv.String(m["alias"])
	si.Model, _ = jsonv.String(m["model"])
	si.SwVer, _ = jsonv.String(m["sw_ver"])
	si.HwVer, _ = jsonv.String(m["hw_ver"])
	if mac, ok := jsonv.String(m["mac"]); ok {
		si.MAC = normalizeMAC(mac)
	}
	si.Feature, _ = jsonv.String(m["feature"])
	if si.MicType, _ = jsonv.String(m["mic_type"]); si.MicType == "" {
		si.MicType, _ = jsonv.String(m["type"])
	}
	if on, ok := jsonv.Bit(m["relay_state"]); ok {
		si.Relay = &on
	}
	if off, ok := jsonv.Bit(m["led_off"]); ok {
		on := !off
		si.LEDOn = &on
	}
	if rssi, ok := jsonv.Int(m["rssi"]); ok && rssi >= -150 && rssi <= 0 {
		si.RSSI = &rssi
	}
	children, _ := jsonv.Array(m["children"])
	seen := map[string]bool{}
	for _, raw := range children {
		c, ok := jsonv.Object(raw)
		if !ok {
			continue
		}
		id, _ := jsonv.String(c["id"])
		if !validID(id) || seen[id] {
			continue
		}
		seen[id] = true
		ci := childInfo{ID: id}
		alias, _ := jsonv.String(c["alias"])
		ci.Alias = decodeAlias(alias)
		if on, ok := jsonv.Bit(c["state"]); ok {
			ci.On = &on
		}
		si.Children = append(si.Children, ci)
	}
	si.parseLight(m)
	return si, nil
}

// isStrip reports whether the device has addressable outlets.
func (si *sysinfo) isStrip() bool { return si != nil && len(si.Children) > 0 }

// isBulb reports whether si is a bulb or a light strip (IOT.SMARTBULB),
// whose system and energy services live under smartlife.iot.common.
func (si *sysinfo) isBulb() bool {
	return si != nil && (si.Kind == lightBulb || si.Kind == lightStrip)
}

// hasEnergy reports whether the device (or, on a strip, each outlet) meters
// energy: feature contains "ENE", e.g. "TIM:ENE".
func (si *sysinfo) hasEnergy() bool {
	if si == nil {
		return false
	}
	return slices.Contains(strings.Split(si.Feature, ":"), "ENE")
}

// child finds an outlet by its wire id.
func (si *sysinfo) child(id string) (childInfo, bool) {
	if si == nil {
		return childInfo{}, false
	}
	for _, c := range si.Children {
		if c.ID == id {
			return c, true
		}
	}
	return childInfo{}, false
}

// deviceCaps is the capability list of a stand-alone device or a strip.
// Without sysinfo (never reached) a device is assumed to be a plain plug,
// unless the list calls it a bulb (deviceType IOT.SMARTBULB): then it has
// none until it is reached, because a bulb and a light strip take
// different services.
func deviceCaps(si *sysinfo, listedType string) []cloud.Capability {
	if si == nil && listedType == micTypeBulb {
		return nil
	}
	if si == nil {
		return []cloud.Capability{cloud.CapRelay, cloud.CapReboot}
	}
	var caps []cloud.Capability
	strip := si.isStrip()
	switch {
	case si.Kind != notLight:
		caps = si.lightCaps()
	case !strip && si.Relay != nil:
		caps = append(caps, cloud.CapRelay)
	}
	if !strip && !si.isBulb() && si.hasEnergy() {
		caps = append(caps, cloud.CapEnergy)
	}
	if si.RSSI != nil {
		caps = append(caps, cloud.CapRSSI)
	}
	if si.LEDOn != nil {
		caps = append(caps, cloud.CapLED)
	}
	if si.isBulb() {
		return caps // a bulb's reboot lives in another service: not offered
	}
	return append(caps, cloud.CapReboot)
}

// readings is what the energy meter of a stand-alone device reports: a
// metering plug's emeter all four values, a bulb's what it reported when
// listed (emeter), a strip nothing of its own (its outlets meter).
func (si *sysinfo) readings() []cloud.Reading {
	switch {
	case si == nil || si.isStrip():
		return nil
	case si.isBulb():
		return si.emeter
	case si.hasEnergy():
		return cloud.AllReadings()
	}
	return nil
}

// outletReadings is what the energy meter of an outlet of a metering strip
// reports: all four values.
func outletReadings(parent *sysinfo) []cloud.Reading {
	if parent.hasEnergy() {
		return cloud.AllReadings()
	}
	return nil
}

// outletCaps is the capability list of a strip outlet.
func outletCaps(parent *sysinfo) []cloud.Capability {
	if parent.hasEnergy() {
		return []cloud.Capability{cloud.CapRelay, cloud.CapEnergy}
	}
	return []cloud.Capability{cloud.CapRelay}
}

// maxIDLen bounds device and outlet ids.
const maxIDLen = 128

// validID accepts device and outlet ids that are safe as map keys, energy
// keys ("kasa/<id>"), in request bodies and in logs, and that never look
// like a path: 1..128 visible ASCII characters other than '/'. Whatever
// else an id goes into (an MQTT topic) cleans it there.
func validID(id string) bool { return text.IsToken(id, maxIDLen) && !strings.Contains(id, "/") }
