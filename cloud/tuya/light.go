package tuya

import (
	"encoding/json"
	"math"
	"strings"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
)

// Data point types of a specification (reference §5.2).
const (
	typeBoolean = "Boolean"
	typeInteger = "Integer"
	typeEnum    = "Enum"
	typeJSON    = "Json"
)

// work_mode values the provider sets (reference lights §2.1).
const (
	workModeWhite  = "white"
	workModeColour = "colour"
)

// lightCodes are the data point codes of one light of a category, as Home
// Assistant's Tuya integration maps them (reference lights §2.2). Where a
// role lists several codes the first the device has wins (v2 before v1).
type lightCodes struct {
	sw                   string
	mode                 string
	bright, temp, colour []string
	// brightMin and brightMax narrow the brightness range at run time
	// (dimmers: their values are the lowest and highest raw brightness
	// the dimmer uses).
	brightMin, brightMax string
}

var (
	brightCodes = []string{"bright_value_v2", "bright_value"}
	tempCodes   = []string{"temp_value_v2", "temp_value"}
	colourCodes = []string{"colour_data_v2", "colour_data"}
)

// lightCategories are the bridged light categories and their lights, in
// order: dj (light), tgq (dimmer), tgkg (dimmer switch) and hxd (wake-up
// light). A device gets one light per entry whose switch code it has.
var lightCategories = map[string][]lightCodes{
	"dj": {
		{sw: "switch_led", mode: "work_mode", bright: brightCodes, temp: tempCodes, colour: colourCodes},
		// "Dimmer 2" switches sold as lights.
		{sw: "switch_1", bright: []string{"bright_value_1"}},
	},
	"tgq": {
		{sw: "switch_led", bright: brightCodes, brightMin: "brightness_min_1", brightMax: "brightness_max_1"},
		{sw: "switch_led_1", bright: []string{"bright_value_1"}},
		{sw: "switch_led_2", bright: []string{"bright_value_2"}},
	},
	"tgkg": {
		{sw: "switch_led_1", bright: []string{"bright_value_1"}, brightMin: "brightness_min_1", brightMax: "brightness_max_1"},
		{sw: "switch_led_2", bright: []string{"bright_value_2"}, brightMin: "brightness_min_2", brightMax: "brightness_max_2"},
		{sw: "switch_led_3", bright: []string{"bright_value_3"}, brightMin: "brightness_min_3", brightMax: "brightness_max_3"},
	},
	"hxd": {
		{sw: "switch_led", bright: brightCodes, brightMin: "brightness_min_1", brightMax: "brightness_max_1"},
	},
}

func isLightCategory(category string) bool { _, ok := lightCategories[category]; return ok }

// standardSpans are the standard ranges of the dj codes (reference lights
// §2.1), used only for a device whose specification could not be read.
var standardSpans = map[string]span{
	"bright_value":    {25, 255},
	"bright_value_v2": {10, 1000},
	"temp_value":      {0, 255},
	"temp_value_v2":   {0, 1000},
}

// Default colour component ranges when the specification gives none, as
// Home Assistant's: h 1–360 and s, v 1–255, or 1–1000 for colour_data_v2
// and for lights whose brightness goes above 255.
var (
	defaultHSV   = hsvSpans{h: span{1, 360}, s: span{1, 255}, v: span{1, 255}}
	defaultHSVv2 = hsvSpans{h: span{1, 360}, s: span{1, 1000}, v: span{1, 1000}}
)

// lightKelvin is the colour temperature range Tuya lights are published
// with. Tuya reports no Kelvin: the raw temperature maps linearly onto
// mireds, its minimum to 500 (2000 K, warm) and its maximum to 153 (6500 K,
// cool), as Home Assistant's Tuya integration does (see kelvin).
var lightKelvin = cloud.KelvinRange{Min: 2000, Max: 6500}

const (
	warmMired = 500 // the raw minimum
	coolMired = 153 // the raw maximum (Home Assistant's whole mireds for 6500 K)
)

// span is the raw range of an Integer data point (or of a colour
// component), both ends included. The raw value maps linearly onto the
// neutral scale: min is 0, max is 1. Scale and unit do not matter for a
// linear map between the two ends.
type span struct{ min, max float64 }

// valid reports a finite range of at least two integers within ±1e9.
func (s span) valid() bool {
	return finite(s.min) && finite(s.max) && math.Abs(s.min) <= 1e9 && math.Abs(s.max) <= 1e9 &&
		math.Ceil(s.min) < math.Floor(s.max)
}

// frac maps a raw value onto 0..1 (clamped).
func (s span) frac(raw float64) float64 { return clamp((raw-s.min)/(s.max-s.min), 0, 1) }

// raw maps f (0..1) onto the range and rounds it to an integer as Home
// Assistant does (half to even), within the range.
func (s span) raw(f float64) int64 {
	return int64(clamp(math.RoundToEven(s.min+f*(s.max-s.min)), math.Ceil(s.min), math.Floor(s.max)))
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func clamp(f, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, f)) }

// intCode is an Integer data point with its raw range.
type intCode struct {
	code string
	span
}

// hsvSpans are the raw ranges of a colour's components.
type hsvSpans struct{ h, s, v span }

// colourCode is a Json colour data point ({"h","s","v"}) with its
// component ranges.
type colourCode struct {
	code string
	hsvSpans
}

// lightSpec is one light of a device: the codes it is driven by and
// their ranges, from the specification.
type lightSpec struct {
	// sw switches the light (switch_led, switch_led_N, switch_1).
	sw string
	// mode is the work_mode code ("" when the light has none) and
	// modes its values.
	mode  string
	modes []string
	// bright, temp and colour are nil when the light lacks them;
	// brightMin and brightMax are the run-time brightness limits.
	bright, brightMin, brightMax *intCode
	temp                         *intCode
	colour                       *colourCode
}

// capabilities returns the light's capabilities in a stable order.
// Brightness comes from the brightness code, or from the colour's v.
func (ls *lightSpec) capabilities() []cloud.Capability {
	caps := []cloud.Capability{cloud.CapLight}
	if ls.bright != nil || ls.colour != nil {
		caps = append(caps, cloud.CapBrightness)
	}
	if ls.temp != nil {
		caps = append(caps, cloud.CapColorTemp)
	}
	if ls.colour != nil {
		caps = append(caps, cloud.CapColor)
	}
	return caps
}

// kelvinRange is lightKelvin for a light with a temperature code, else
// the zero range.
func (ls *lightSpec) kelvinRange() cloud.KelvinRange {
	if ls.temp == nil {
		return cloud.KelvinRange{}
	}
	return lightKelvin
}

// dpSource is what detection knows of a device's data points: its
// specification, or, when that could not be read, the list's status
// values (standard ranges then apply).
type dpSource struct {
	spec   specification
	status map[string]json.RawMessage
}

// find returns the data point code of type typ; writable requires it to
// be a function (commandable). Without a specification, a status value of
// the right shape stands for it.
func (s dpSource) find(code, typ string, writable bool) (dp, bool) {
	if len(s.spec) > 0 {
		d, ok := s.spec[code]
		if !ok || !strings.EqualFold(d.Type, typ) || (writable && !d.Writable) {
			return dp{}, false
		}
		return d, true
	}
	raw, ok := s.status[code]
	if !ok {
		return dp{}, false
	}
	d := dp{Code: code, Type: typ, Writable: true}
	switch typ {
	case typeBoolean:
		_, ok = jsonv.Bool(raw)
	case typeInteger:
		var sp span
		sp, ok = standardSpans[code]
		d.Min, d.Max, d.HasRange = sp.min, sp.max, ok
	case typeJSON:
		_, ok = parseColour(raw)
	case typeEnum:
		_, ok = jsonv.String(raw)
	}
	return d, ok
}

// findInt returns the first of codes present as an Integer with a usable
// range.
func (s dpSource) findInt(writable bool, codes ...string) *intCode {
	for _, c := range codes {
		if c == "" {
			continue
		}
		d, ok := s.find(c, typeInteger, writable)
		if !ok {
			continue
		}
		if sp := (span{d.Min, d.Max}); d.HasRange && sp.valid() {
			return &intCode{code: c, span: sp}
		}
	}
	return nil
}

// findLights returns the lights of a device of a light category, in the
// category's order (none for other categories).
func findLights(category string, src dpSource) []lightSpec {
	var out []lightSpec
	for _, lc := range lightCategories[category] {
		if _, ok := src.find(lc.sw, typeBoolean, true); !ok {
			continue
		}
		ls := lightSpec{sw: lc.sw}
		if lc.mode != "" {
			if d, ok := src.find(lc.mode, typeEnum, true); ok {
				ls.mode, ls.modes = lc.mode, d.Enum
			}
		}
		ls.bright = src.findInt(true, lc.bright...)
		if ls.bright != nil {
			ls.brightMin = src.findInt(false, lc.brightMin)
			ls.brightMax = src.findInt(false, lc.brightMax)
		}
		ls.temp = src.findInt(true, lc.temp...)
		for _, c := range lc.colour {
			d, ok := src.find(c, typeJSON, true)
			if !ok {
				continue
			}
			spans, ok := parseHSVSpans(d.Values)
			switch {
			case ok:
			case c == "colour_data_v2" || ls.bright != nil && ls.bright.max > 255:
				spans = defaultHSVv2
			default:
				spans = defaultHSV
			}
			ls.colour = &colourCode{code: c, hsvSpans: spans}
			break
		}
		out = append(out, ls)
	}
	return out
}

// parseHSVSpans reads the component ranges of a Json colour data point's
// values, {"h":{"min","max",…},"s":{…},"v":{…}}; ok is false unless all
// three have a usable range.
func parseHSVSpans(values json.RawMessage) (hsvSpans, bool) {
	m, ok := jsonv.Object(values)
	if !ok {
		return hsvSpans{}, false
	}
	one := func(key string) (span, bool) {
		c, ok := jsonv.Object(m[key])
		if !ok {
			return span{}, false
		}
		lo, okLo := jsonv.Float(c["min"])
		hi, okHi := jsonv.Float(c["max"])
		sp := span{lo, hi}
		return sp, okLo && okHi && sp.valid()
	}
	h, okH := one("h")
	s, okS := one("s")
	v, okV := one("v")
	return hsvSpans{h, s, v}, okH && okS && okV
}

// hsv is a colour as a light reports it, in raw component units.
type hsv struct{ h, s, v float64 }

// parseColour decodes a colour data point's value: a JSON string holding
// {"h","s","v"} (as the cloud reports it), or that object itself. Every
// component must be a finite number.
func parseColour(raw json.RawMessage) (hsv, bool) {
	if s, ok := jsonv.String(raw); ok {
		raw = json.RawMessage(s)
	}
	m, ok := jsonv.Object(raw)
	if !ok {
		return hsv{}, false
	}
	h, okH := jsonv.Float(m["h"])
	s, okS := jsonv.Float(m["s"])
	v, okV := jsonv.Float(m["v"])
	return hsv{h, s, v}, okH && okS && okV
}
