package tuya

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

func FuzzParseColour(f *testing.F) {
	for _, seed := range []string{
		`"{\"h\":120,\"s\":600,\"v\":800}"`, `{"h":1,"s":2,"v":3}`, `"{\"h\":\"1e400\",\"s\":2,\"v\":3}"`,
		`"ff00000000ffff"`, `"{\"h\":1}"`, `""`, `null`, `[]`, `"\"{}\""`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, ok := parseColour(data)
		if ok && (!finite(c.h) || !finite(c.s) || !finite(c.v)) {
			t.Fatalf("parseColour(%q) = %+v", data, c)
		}
	})
}

// FuzzLight: whatever a specification and the reported values say, a
// light's state stays within package cloud's ranges and its mode within
// its capabilities, and the commands for any accepted command switch it
// first and stay within the specification's ranges.
func FuzzLight(f *testing.F) {
	spec := `{"functions":[{"code":"switch_led","type":"Boolean","values":"{}"},
{"code":"work_mode","type":"Enum","values":"{\"range\":[\"white\",\"colour\"]}"},
{"code":"bright_value_v2","type":"Integer","values":"{\"min\":10,\"max\":1000,\"scale\":0,\"step\":1}"},
{"code":"temp_value","type":"Integer","values":"{\"min\":0,\"max\":255}"},
{"code":"colour_data_v2","type":"Json","values":"{\"h\":{\"min\":0,\"max\":360},\"s\":{\"min\":0,\"max\":1000},\"v\":{\"min\":0,\"max\":1000}}"},
{"code":"switch_led_1","type":"Boolean"},{"code":"bright_value_1","type":"Integer","values":{"min":-5,"max":1e9}},
{"code":"brightness_min_1","type":"Integer","values":"{\"min\":10,\"max\":1000}"},{"code":"brightness_max_1","type":"Integer","values":"{\"min\":10,\"max\":1000}"}],"status":[]}`
	status := `[{"code":"switch_led","value":true},{"code":"work_mode","value":"colour"},{"code":"bright_value_v2","value":500},
{"code":"temp_value","value":"300"},{"code":"colour_data_v2","value":"{\"h\":400,\"s\":-1,\"v\":1e308}"},
{"code":"switch_led_1","value":false},{"code":"bright_value_1","value":7},{"code":"brightness_min_1","value":900},{"code":"brightness_max_1","value":100}]`
	f.Add([]byte(spec), []byte(status), 50.0, 4000, 120.0, 60.0)
	f.Add([]byte(`{"functions":[{"code":"switch_led","type":"Boolean"},{"code":"colour_data","type":"Json","values":"{\"h\":{\"min\":5,\"max\":5.5}}"}]}`),
		[]byte(`[{"code":"switch_led","value":"true"},{"code":"colour_data","value":{"h":1,"s":2,"v":3}}]`), 0.1, 2000, 360.0, 0.0)
	f.Add([]byte(`{}`), []byte(`[{"code":"switch_led","value":true},{"code":"bright_value","value":25},{"code":"temp_value_v2","value":1000}]`), 100.0, 6500, 0.0, 100.0)
	f.Fuzz(func(t *testing.T, specRaw, statusRaw []byte, bri float64, k int, hue, sat float64) {
		spec, err := parseSpecification(specRaw)
		if err != nil {
			spec = nil
		}
		values, _ := parseStatusList(statusRaw)
		for category := range lightCategories {
			for _, ls := range findLights(category, dpSource{spec: spec, status: values}) {
				d := cloud.Device{ID: "x", Capabilities: ls.capabilities(), ColorTemp: ls.kelvinRange()}
				if st := ls.state(values); st != nil {
					checkLightState(t, d, *st)
				}
				for _, s := range []cloud.LightSettings{
					{Brightness: &bri}, {ColorTempK: &k, Brightness: &bri}, {Color: &cloud.HS{Hue: hue, Saturation: sat}}, {},
				} {
					cmd := cloud.Command{DeviceID: "x", Action: cloud.ActionSetLight, On: true, Light: s}
					if cloud.CheckLight(d, cmd) != nil {
						continue
					}
					checkCommands(t, ls, ls.commands(cmd, values))
				}
			}
		}
	})
}

func checkLightState(t *testing.T, d cloud.Device, s cloud.LightState) {
	t.Helper()
	in := func(p *float64, hi float64) bool { return p == nil || (finite(*p) && *p >= 0 && *p <= hi) }
	if s.Brightness != nil && (!d.Has(cloud.CapBrightness) || *s.Brightness <= 0 || !in(s.Brightness, 100)) {
		t.Fatalf("brightness %v of %v", *s.Brightness, d.Capabilities)
	}
	if !in(s.Hue, 360) || !in(s.Saturation, 100) || (s.Hue != nil) != (s.Saturation != nil) {
		t.Fatalf("hue %v saturation %v", s.Hue, s.Saturation)
	}
	switch s.Mode {
	case cloud.ColorModeTemp:
		if !d.Has(cloud.CapColorTemp) || s.ColorTempK == nil || !d.ColorTemp.Contains(*s.ColorTempK) {
			t.Fatalf("temperature %v of %v in %v", s.ColorTempK, d.Capabilities, d.ColorTemp)
		}
	case cloud.ColorModeHS:
		if !d.Has(cloud.CapColor) || s.Hue == nil {
			t.Fatalf("hs mode without a colour: %+v", s)
		}
	case cloud.ColorModeNone:
	default:
		t.Fatalf("mode %q", s.Mode)
	}
}

func checkCommands(t *testing.T, ls lightSpec, cmds []dpCommand) {
	t.Helper()
	if len(cmds) == 0 || cmds[0].Code != ls.sw || cmds[0].Value != true {
		t.Fatalf("commands %+v do not start by switching on", cmds)
	}
	within := func(v int64, s span) bool { return float64(v) >= s.min && float64(v) <= s.max }
	for _, c := range cmds[1:] {
		switch {
		case ls.bright != nil && c.Code == ls.bright.code:
			if v, ok := c.Value.(int64); !ok || !within(v, ls.bright.span) {
				t.Fatalf("%s = %v outside %v", c.Code, c.Value, ls.bright.span)
			}
		case ls.temp != nil && c.Code == ls.temp.code:
			if v, ok := c.Value.(int64); !ok || !within(v, ls.temp.span) {
				t.Fatalf("%s = %v outside %v", c.Code, c.Value, ls.temp.span)
			}
		case ls.colour != nil && c.Code == ls.colour.code:
			s, _ := c.Value.(string)
			var hsv struct{ H, S, V int64 }
			if json.Unmarshal([]byte(s), &hsv) != nil || !within(hsv.H, ls.colour.h) || !within(hsv.S, ls.colour.s) || !within(hsv.V, ls.colour.v) {
				t.Fatalf("%s = %v outside %+v", c.Code, c.Value, ls.colour.hsvSpans)
			}
		case c.Code == ls.mode:
			if !slices.Contains([]any{workModeWhite, workModeColour}, c.Value) {
				t.Fatalf("work_mode %v", c.Value)
			}
		default:
			t.Fatalf("unexpected command %+v", c)
		}
	}
}
