package bridge

import (
	"encoding/json"
	"math"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/discovery"
)

// statePayload is the retained JSON published on <base>/<dev>. Keys are
// omitted when the device does not report them; Home Assistant ignores the
// update of a sensor whose key is missing.
type statePayload struct {
	State string `json:"state,omitempty"`
	// Lights (Home Assistant's JSON light state): brightness 0–255,
	// color_mode, color_temp in Kelvin, color {h, s}.
	Brightness *int       `json:"brightness,omitempty"`
	ColorMode  string     `json:"color_mode,omitempty"`
	ColorTemp  *int       `json:"color_temp,omitempty"`
	Color      *hsPayload `json:"color,omitempty"`

	LED     string   `json:"led,omitempty"`
	Power   *float64 `json:"power,omitempty"`
	Voltage *float64 `json:"voltage,omitempty"`
	Current *float64 `json:"current,omitempty"`
	Energy  *float64 `json:"energy,omitempty"`
	RSSI    *int     `json:"rssi,omitempty"`
}

func onOff(b *bool) string {
	if b == nil {
		return ""
	}
	if *b {
		return "ON"
	}
	return "OFF"
}

func round(p *float64, places int) *float64 {
	if p == nil || math.IsNaN(*p) || math.IsInf(*p, 0) {
		return nil
	}
	f := math.Pow10(places)
	v := math.Round(*p*f) / f
	return &v
}

// encodeState renders s for the device's capabilities. It returns nil when
// there is nothing to publish.
func encodeState(d cloud.Device, s *cloud.State) []byte {
	if s == nil {
		return nil
	}
	p := statePayload{}
	if d.Has(cloud.CapRelay) {
		p.State = onOff(s.Relay)
	}
	if d.Has(cloud.CapLight) {
		if s.Light == nil {
			// Home Assistant's JSON light fails on a payload without
			// "state"; providers report a light state with every read.
			return nil
		}
		encodeLight(d, s.Light, &p)
	}
	if d.Has(cloud.CapLED) {
		p.LED = onOff(s.LED)
	}
	if d.Reports(cloud.ReadingPower) {
		p.Power = round(s.PowerW, 2)
	}
	if d.Reports(cloud.ReadingVoltage) {
		p.Voltage = round(s.VoltageV, 1)
	}
	if d.Reports(cloud.ReadingCurrent) {
		p.Current = round(s.CurrentA, 3)
	}
	if d.Reports(cloud.ReadingEnergy) {
		p.Energy = round(s.EnergyKWh, 3)
	}
	if d.Has(cloud.CapRSSI) {
		p.RSSI = s.RSSI
	}
	if p == (statePayload{}) {
		return nil
	}
	b, _ := json.Marshal(p) // cannot fail: plain types, NaN removed
	return b
}

// availabilityPayload is {"state":"online"} or {"state":"offline"}.
func availabilityPayload(online bool) []byte {
	if online {
		return []byte(`{"state":"online"}`)
	}
	return []byte(`{"state":"offline"}`)
}

// stateKeys are the keys a state payload may hold, for attribute output.
var stateKeys = []string{"state", "brightness", "color_mode", "color_temp", "color", "led", "power", "voltage", "current", "energy", "rssi"}

// attribute is one value of a state payload as published in attribute
// output: <base>/<dev>/<key> with the plain value ("ON", "12.5").
type attribute struct {
	key   string
	value []byte
}

// stateAttributes splits an encoded state payload into plain values, in
// stateKeys order.
func stateAttributes(payload []byte) []attribute {
	var m map[string]json.RawMessage
	if json.Unmarshal(payload, &m) != nil {
		return nil
	}
	var out []attribute
	for _, k := range stateKeys {
		raw, ok := m[k]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			out = append(out, attribute{k, []byte(s)})
		} else {
			out = append(out, attribute{k, raw})
		}
	}
	return out
}

// hsPayload is a light's colour in the state payload: hue in degrees,
// saturation in percent.
type hsPayload struct {
	H float64 `json:"h"`
	S float64 `json:"s"`
}

// encodeLight puts light state s of d into p: state, brightness on
// Home Assistant's 0–255 scale (never 0 for a lit percentage), and the
// colour of the mode the light is in. color_mode is left out when the
// light's colour is not known (Home Assistant refuses a mode without its
// value); a light without colour says "brightness" or "onoff".
func encodeLight(d cloud.Device, s *cloud.LightState, p *statePayload) {
	p.State = onOff(&s.On)
	if d.Has(cloud.CapBrightness) && round(s.Brightness, 6) != nil && *s.Brightness > 0 {
		b := max(1, int(math.Round(*s.Brightness*255/100)))
		p.Brightness = &b
	}
	switch {
	case s.Mode == cloud.ColorModeTemp && d.Has(cloud.CapColorTemp) && s.ColorTempK != nil:
		p.ColorMode, p.ColorTemp = discovery.ColorModeTemp, s.ColorTempK
	case s.Mode == cloud.ColorModeHS && d.Has(cloud.CapColor) && round(s.Hue, 2) != nil && round(s.Saturation, 2) != nil:
		p.ColorMode = discovery.ColorModeHS
		p.Color = &hsPayload{H: *round(s.Hue, 2), S: *round(s.Saturation, 2)}
	case d.Has(cloud.CapColorTemp) || d.Has(cloud.CapColor):
	case d.Has(cloud.CapBrightness):
		p.ColorMode = discovery.ColorModeBrightness
	default:
		p.ColorMode = discovery.ColorModeOnOff
	}
}
