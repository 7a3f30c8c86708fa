package tuya

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
)

// The light's state and commands, both from and to raw data point values,
// mapped as Home Assistant's Tuya integration maps them (reference lights
// §2.2), through package cloud's units: brightness in percent (Home
// Assistant's 0–255 is percent × 2.55, which the bridge applies), colour
// temperature in Kelvin, hue in degrees and saturation in percent.

// minPercent is the brightness a lit light at its lowest raw value
// reports: Home Assistant's brightness 1 (its 0 would read as off, and
// package cloud wants more than 0).
const minPercent = 100.0 / 255

// state is the light's state from the device's last known values (polled
// or pushed alike); nil when the switch value is missing.
//
// The colour mode is Home Assistant's: a light with colour and white is
// in colour (hs) unless work_mode is "white"; in colour the brightness is
// the colour's v. A colour light whose white has no temperature code
// reports no colour mode while white.
func (ls *lightSpec) state(values map[string]json.RawMessage) *cloud.LightState {
	on, ok := jsonv.Bool(values[ls.sw])
	if !ok {
		return nil
	}
	st := &cloud.LightState{On: on}
	switch ls.colorMode(values) {
	case cloud.ColorModeHS:
		if c, ok := ls.colourValue(values); ok {
			st.Mode = cloud.ColorModeHS
			st.Hue = cloud.Float(ls.colour.h.frac(c.h) * cloud.MaxHue)
			st.Saturation = cloud.Float(ls.colour.s.frac(c.s) * cloud.MaxPercent)
			st.Brightness = percent(ls.colour.v.frac(c.v))
		}
		return st
	case cloud.ColorModeTemp:
		if raw, ok := jsonv.Float(values[ls.temp.code]); ok {
			st.Mode = cloud.ColorModeTemp
			st.ColorTempK = cloud.Int(kelvin(ls.temp.frac(raw)))
		}
	}
	st.Brightness = ls.brightness(values)
	return st
}

// colorMode is the mode the light is in (ColorModeNone for a light
// without colour, or white without a temperature code).
func (ls *lightSpec) colorMode(values map[string]json.RawMessage) cloud.ColorMode {
	hs, ct := ls.colour != nil, ls.temp != nil
	mode, known := jsonv.String(values[ls.mode])
	white := ls.mode != "" && known && mode == workModeWhite
	switch {
	case hs && ct:
		if ls.mode != "" && !white {
			return cloud.ColorModeHS
		}
		return cloud.ColorModeTemp
	case hs && ls.mode != "" && slices.Contains(ls.modes, workModeWhite):
		if !white {
			return cloud.ColorModeHS
		}
		return cloud.ColorModeNone
	case hs:
		return cloud.ColorModeHS
	case ct:
		return cloud.ColorModeTemp
	}
	return cloud.ColorModeNone
}

// colourValue decodes the colour data point's value.
func (ls *lightSpec) colourValue(values map[string]json.RawMessage) (hsv, bool) {
	if ls.colour == nil {
		return hsv{}, false
	}
	return parseColour(values[ls.colour.code])
}

// brightness is the brightness code's value in percent, within the run-
// time limits when the light has them; nil without a value.
func (ls *lightSpec) brightness(values map[string]json.RawMessage) *float64 {
	if ls.bright == nil {
		return nil
	}
	raw, ok := jsonv.Float(values[ls.bright.code])
	if !ok {
		return nil
	}
	f := ls.bright.frac(raw)
	if lo, hi, ok := ls.limits(values); ok {
		f = (f - lo) / (hi - lo)
	}
	return percent(f)
}

// limits are the run-time brightness limits (brightness_min_N and
// brightness_max_N), each mapped onto 0..1 of its own range; ok is false
// unless the light has both, with values, the lower below the upper.
func (ls *lightSpec) limits(values map[string]json.RawMessage) (lo, hi float64, ok bool) {
	if ls.brightMin == nil || ls.brightMax == nil {
		return 0, 0, false
	}
	rawLo, okLo := jsonv.Float(values[ls.brightMin.code])
	rawHi, okHi := jsonv.Float(values[ls.brightMax.code])
	if !okLo || !okHi {
		return 0, 0, false
	}
	lo, hi = ls.brightMin.frac(rawLo), ls.brightMax.frac(rawHi)
	return lo, hi, lo < hi
}

// percent turns 0..1 into a brightness in percent, at least minPercent.
func percent(f float64) *float64 {
	return cloud.Float(clamp(f*cloud.MaxPercent, minPercent, cloud.MaxPercent))
}

// kelvin maps 0..1 of the temperature range onto Kelvin: linearly in
// mireds from warmMired to coolMired, whole mireds and Kelvin rounded
// down as Home Assistant does, within lightKelvin.
func kelvin(f float64) int {
	m := warmMired - f*(warmMired-coolMired)
	k := math.Floor(1e6 / m)
	return int(clamp(k, float64(lightKelvin.Min), float64(lightKelvin.Max)))
}

// kelvinFrac is the inverse of kelvin: where k (within lightKelvin) lies
// on the temperature range, 0..1.
func kelvinFrac(k int) float64 {
	m := math.Floor(1e6 / float64(k))
	return clamp((warmMired-m)/(warmMired-coolMired), 0, 1)
}

// commands returns the data point commands for cmd, which cloud.CheckLight
// accepted for this light, in Home Assistant's order: the switch; for a
// temperature work_mode "white" and the temperature; for a colour (or a
// brightness while in colour, or on a light without a brightness code)
// work_mode "colour" and the colour with v from the brightness (the given
// one, else the current one), keeping the current hue and saturation when
// only the brightness changes; otherwise the brightness code. Off is the
// switch alone. values are the device's last known values.
func (ls *lightSpec) commands(cmd cloud.Command, values map[string]json.RawMessage) []dpCommand {
	out := []dpCommand{{Code: ls.sw, Value: cmd.On}}
	if !cmd.On {
		return out
	}
	s := cmd.Light
	if s.ColorTempK != nil && ls.temp != nil {
		if ls.mode != "" {
			out = append(out, dpCommand{Code: ls.mode, Value: workModeWhite})
		}
		out = append(out, dpCommand{Code: ls.temp.code, Value: ls.temp.raw(kelvinFrac(*s.ColorTempK))})
	}
	dimColour := s.Brightness != nil && (ls.bright == nil || ls.colorMode(values) == cloud.ColorModeHS)
	switch {
	case ls.colour != nil && s.ColorTempK == nil && (s.Color != nil || dimColour):
		if ls.mode != "" {
			out = append(out, dpCommand{Code: ls.mode, Value: workModeColour})
		}
		out = append(out, dpCommand{Code: ls.colour.code, Value: ls.colourCommand(s, values)})
	case s.Brightness != nil && ls.bright != nil:
		f := *s.Brightness / cloud.MaxPercent
		if lo, hi, ok := ls.limits(values); ok {
			f = lo + f*(hi-lo)
		}
		out = append(out, dpCommand{Code: ls.bright.code, Value: ls.bright.raw(f)})
	}
	return out
}

// colourCommand is the colour data point's value for s: a JSON string
// {"h","s","v"}, as Home Assistant sends it. What s leaves out comes from
// the current values (the colour's hue and saturation, the brightness),
// else 0.
func (ls *lightSpec) colourCommand(s cloud.LightSettings, values map[string]json.RawMessage) string {
	var hue, sat, bri float64
	if s.Color != nil {
		hue, sat = s.Color.Hue, s.Color.Saturation
	} else if c, ok := ls.colourValue(values); ok {
		hue, sat = ls.colour.h.frac(c.h)*cloud.MaxHue, ls.colour.s.frac(c.s)*cloud.MaxPercent
	}
	if s.Brightness != nil {
		bri = *s.Brightness
	} else if cur := ls.state(values); cur != nil && cur.Brightness != nil {
		bri = *cur.Brightness
	}
	c := ls.colour
	return fmt.Sprintf(`{"h":%d,"s":%d,"v":%d}`,
		c.h.raw(hue/cloud.MaxHue), c.s.raw(sat/cloud.MaxPercent), c.v.raw(bri/cloud.MaxPercent))
}
