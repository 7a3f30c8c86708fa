package tuyatest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
)

// LightKind is a kind of light AddLight adds. The data points are Tuya's
// standard ones (the project's lights reference, §2.1), with their ranges
// in the specification.
type LightKind int

const (
	// ColourLight is a colour bulb (category dj) with the v2 codes:
	// switch_led, work_mode (white, colour, scene, music),
	// bright_value_v2 10–1000, temp_value_v2 0–1000 and colour_data_v2
	// (h 0–360, s and v 0–1000).
	ColourLight LightKind = iota + 1
	// ColourLightV1 is a colour bulb with the v1 codes: bright_value
	// 25–255, temp_value 0–255 and colour_data (h 0–360, s and v 0–255).
	ColourLightV1
	// WhiteLight is a tunable-white bulb (dj): switch_led, work_mode
	// (white, scene), bright_value_v2 and temp_value_v2.
	WhiteLight
	// WhiteLightV1 is a tunable-white bulb with bright_value and
	// temp_value.
	WhiteLightV1
	// DimmableLight is a dimmable bulb (dj): switch_led and
	// bright_value_v2.
	DimmableLight
	// DimmableLightV1 is a dimmable bulb with bright_value.
	DimmableLightV1
	// Dimmer is a dimmer (category tgq): switch_led, bright_value_v2
	// 10–1000, and the limits brightness_min_1 and brightness_max_1
	// (10–1000, at 10 and 1000).
	Dimmer
	// DimmerSwitch is a two-channel dimmer switch (category tgkg):
	// switch_led_N, bright_value_N 10–1000 and the limits
	// brightness_min_N and brightness_max_N (at 10 and 1000) for N = 1,
	// 2. The tuya provider lists its channels as "<id>_switch_led_N".
	DimmerSwitch
)

// lightDP is a data point of a simulated light, with what the cloud
// checks a command's value against.
type lightDP struct {
	code string
	typ  string // Boolean, Integer, Enum or Json
	id   int    // the data point number
	// min and max bound an Integer; enum lists an Enum's values; hsv
	// bounds a Json colour's h, s and v.
	min, max int64
	enum     []string
	hsv      *[3][2]int64
}

// specValues is the values string of the data point's specification.
func (p lightDP) specValues() string {
	switch p.typ {
	case "Integer":
		return string(mustJSON(map[string]any{"unit": "", "min": p.min, "max": p.max, "scale": 0, "step": 1}))
	case "Enum":
		return string(mustJSON(map[string]any{"range": p.enum}))
	case "Json":
		c := map[string]any{}
		for i, k := range []string{"h", "s", "v"} {
			c[k] = map[string]any{"min": p.hsv[i][0], "max": p.hsv[i][1], "scale": 0, "step": 1, "unit": ""}
		}
		return string(mustJSON(c))
	}
	return "{}"
}

// check validates a command's value for the data point as the cloud
// does: a value of the wrong type (or an Enum value the data point does
// not have) answers 2008, a number outside the range 1101. It returns
// the value to store (a colour as its compact JSON string).
func (p lightDP) check(raw json.RawMessage) (any, int) {
	switch p.typ {
	case "Boolean":
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return nil, codeCommandNotSupp
		}
		return b, 0
	case "Integer":
		n, ok := integer(raw)
		switch {
		case !ok:
			return nil, codeCommandNotSupp
		case n < p.min || n > p.max:
			return nil, codeParamRange
		}
		return n, 0
	case "Enum":
		var s string
		if json.Unmarshal(raw, &s) != nil || !slices.Contains(p.enum, s) {
			return nil, codeCommandNotSupp
		}
		return s, 0
	case "Json":
		// A JSON string holding the object (as Home Assistant sends it),
		// or the object itself (as tinytuya does).
		var s string
		if json.Unmarshal(raw, &s) == nil {
			raw = json.RawMessage(s)
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return nil, codeCommandNotSupp
		}
		var c [3]int64
		for i, k := range []string{"h", "s", "v"} {
			n, ok := integer(m[k])
			if !ok {
				return nil, codeCommandNotSupp
			}
			if n < p.hsv[i][0] || n > p.hsv[i][1] {
				return nil, codeParamRange
			}
			c[i] = n
		}
		return colourString(c), 0
	}
	return nil, codeCommandNotSupp
}

// integer decodes an integral JSON number (not a string).
func integer(raw json.RawMessage) (int64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// colourString is the colour value as the cloud reports it: a JSON
// string holding {"h","s","v"}.
func colourString(c [3]int64) string {
	return fmt.Sprintf(`{"h":%d,"s":%d,"v":%d}`, c[0], c[1], c[2])
}

// light is the simulated light part of a device: its data points in
// order and their values (bool, int64 or string).
type light struct {
	dps    []lightDP
	values map[string]any
}

func (l *light) dp(code string) (lightDP, bool) {
	i := slices.IndexFunc(l.dps, func(p lightDP) bool { return p.code == code })
	if i < 0 {
		return lightDP{}, false
	}
	return l.dps[i], true
}

func (l *light) clone() *light {
	c := &light{dps: l.dps, values: make(map[string]any, len(l.values))}
	for k, v := range l.values {
		c.values[k] = v
	}
	return c
}

// djGeneration are the codes, ranges and data point numbers of one
// generation of dj bulbs.
type djGeneration struct {
	firstID              int // switch_led's; work_mode, brightness, temperature and colour follow
	bright, temp, colour string
	brightMin, top       int64 // brightness brightMin..top, temperature 0..top
	hsv                  [3][2]int64
	modes                []string // a colour bulb's work_mode values
}

var (
	djV2 = djGeneration{firstID: 20, bright: "bright_value_v2", temp: "temp_value_v2", colour: "colour_data_v2",
		brightMin: 10, top: 1000, hsv: [3][2]int64{{0, 360}, {0, 1000}, {0, 1000}},
		modes: []string{"white", "colour", "scene", "music"}}
	djV1 = djGeneration{firstID: 1, bright: "bright_value", temp: "temp_value", colour: "colour_data",
		brightMin: 25, top: 255, hsv: [3][2]int64{{0, 360}, {0, 255}, {0, 255}},
		modes: []string{"white", "colour", "scene", "scene_1", "scene_2", "scene_3", "scene_4"}}
)

// newLight builds the data points and first values (off, white, full
// brightness, a middle temperature, red) of a kind, and its category and
// product name.
func newLight(kind LightKind) (l *light, category, product string) {
	l = &light{values: map[string]any{}}
	add := func(p lightDP, v any) {
		l.dps = append(l.dps, p)
		l.values[p.code] = v
	}
	boolean := func(code string, id int) { add(lightDP{code: code, typ: "Boolean", id: id}, false) }
	number := func(code string, id int, lo, hi, v int64) {
		add(lightDP{code: code, typ: "Integer", id: id, min: lo, max: hi}, v)
	}
	mode := func(id int, modes ...string) {
		add(lightDP{code: "work_mode", typ: "Enum", id: id, enum: modes}, "white")
	}
	colour := func(code string, id int, r [3][2]int64) {
		add(lightDP{code: code, typ: "Json", id: id, hsv: &r}, colourString([3]int64{0, r[1][1], r[2][1]}))
	}
	switch kind {
	case ColourLight, WhiteLight, DimmableLight, ColourLightV1, WhiteLightV1, DimmableLightV1:
		g, name := djV2, ""
		if kind == ColourLightV1 || kind == WhiteLightV1 || kind == DimmableLightV1 {
			g, name = djV1, " (v1)"
		}
		colourful := kind == ColourLight || kind == ColourLightV1
		dimmable := kind == DimmableLight || kind == DimmableLightV1
		boolean("switch_led", g.firstID)
		switch {
		case colourful:
			mode(g.firstID+1, g.modes...)
			name = "Smart Bulb RGBCW" + name
		case !dimmable:
			mode(g.firstID+1, "white", "scene")
			name = "Smart Bulb CW" + name
		default:
			name = "Smart Bulb W" + name
		}
		number(g.bright, g.firstID+2, g.brightMin, g.top, g.top)
		if !dimmable {
			number(g.temp, g.firstID+3, 0, g.top, (g.top+1)/2)
		}
		if colourful {
			colour(g.colour, g.firstID+4, g.hsv)
		}
		return l, "dj", name
	case Dimmer:
		boolean("switch_led", 1)
		number("bright_value_v2", 2, 10, 1000, 1000)
		number("brightness_min_1", 3, 10, 1000, 10)
		number("brightness_max_1", 5, 10, 1000, 1000)
		return l, "tgq", "Smart Dimmer"
	case DimmerSwitch:
		for n := 1; n <= 2; n++ {
			sfx := fmt.Sprint("_", n)
			boolean("switch_led"+sfx, 1+(n-1)*6)
			number("bright_value"+sfx, 2+(n-1)*6, 10, 1000, 1000)
			number("brightness_min"+sfx, 3+(n-1)*6, 10, 1000, 10)
			number("brightness_max"+sfx, 5+(n-1)*6, 10, 1000, 1000)
		}
		return l, "tgkg", "Smart Dimmer Switch 2 Gang"
	}
	panic(fmt.Sprintf("tuyatest: unknown light kind %d", kind))
}

// status returns the light's data points and values, in order.
func (l *light) status() []dpValue {
	out := make([]dpValue, 0, len(l.dps))
	for _, p := range l.dps {
		out = append(out, dpValue{p.code, l.values[p.code]})
	}
	return out
}

// LightState is a light (or one channel of a dimmer switch) as the
// simulated device shows it, in the units of the conventions the tuya
// provider publishes (reference lights §2.2), computed independently of
// the provider.
type LightState struct {
	// On: the light's switch.
	On bool
	// Colour: the light shows its colour (work_mode "colour"); otherwise
	// it is white.
	Colour bool
	// Brightness in percent of the brightness code's range (0 at its
	// minimum), or in colour of the colour's v range.
	Brightness float64
	// Kelvin is the white's temperature: the temperature code's range
	// mapped linearly onto mireds from 500 (2000 K) to 153 (6536 K); 0
	// for a light without one.
	Kelvin int
	// Hue in degrees and Saturation in percent of the colour (0 for a
	// light without colour).
	Hue, Saturation float64
}

// view computes the LightState of the channel whose switch code is sw.
func (l *light) view(sw string) LightState {
	suffix := strings.TrimPrefix(sw, "switch_led")
	var st LightState
	st.On, _ = l.values[sw].(bool)
	frac := func(code string) (float64, bool) {
		p, ok := l.dp(code)
		if !ok {
			return 0, false
		}
		v, _ := l.values[code].(int64)
		return float64(v-p.min) / float64(p.max-p.min), true
	}
	for _, code := range []string{"bright_value_v2", "bright_value" + suffix} {
		if f, ok := frac(code); ok {
			st.Brightness = f * 100
			break
		}
	}
	for _, code := range []string{"temp_value_v2", "temp_value"} {
		if f, ok := frac(code); ok {
			st.Kelvin = int(math.Round(1e6 / (500 - f*347)))
			break
		}
	}
	for _, code := range []string{"colour_data_v2", "colour_data"} {
		p, ok := l.dp(code)
		if !ok {
			continue
		}
		s, _ := l.values[code].(string)
		var c struct{ H, S, V int64 }
		_ = json.Unmarshal([]byte(s), &c)
		r := p.hsv
		part := func(v int64, i int) float64 { return float64(v-r[i][0]) / float64(r[i][1]-r[i][0]) }
		st.Hue, st.Saturation = part(c.H, 0)*360, part(c.S, 1)*100
		if st.Colour = l.values["work_mode"] == "colour"; st.Colour {
			st.Brightness = part(c.V, 2) * 100
		}
	}
	return st
}
