package tuya

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// specOf builds a specification from "code:Type:values" items, each both
// a function and a status; "ro:" before an item makes it status only.
func specOf(t *testing.T, items ...string) specification {
	t.Helper()
	var fn, st []map[string]string
	for _, it := range items {
		ro := strings.HasPrefix(it, "ro:")
		parts := strings.SplitN(strings.TrimPrefix(it, "ro:"), ":", 3)
		for len(parts) < 3 {
			parts = append(parts, "{}")
		}
		m := map[string]string{"code": parts[0], "type": parts[1], "values": parts[2]}
		st = append(st, m)
		if !ro {
			fn = append(fn, m)
		}
	}
	raw, _ := json.Marshal(map[string]any{"functions": fn, "status": st})
	spec, err := parseSpecification(raw)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func intv(lo, hi int) string { return fmt.Sprintf(`{"min":%d,"max":%d,"scale":0,"step":1}`, lo, hi) }

func hsvv(s, v int) string {
	return fmt.Sprintf(`{"h":{"min":0,"max":360},"s":{"min":0,"max":%d},"v":{"min":0,"max":%d}}`, s, v)
}

// v2 is a colour bulb with the v2 codes and the v1 ones beside them.
func v2(t *testing.T) lightSpec {
	spec := specOf(t, "switch_led:Boolean", `work_mode:Enum:{"range":["white","colour","scene"]}`,
		"bright_value_v2:Integer:"+intv(10, 1000), "bright_value:Integer:"+intv(25, 255),
		"temp_value_v2:Integer:"+intv(0, 1000), "temp_value:Integer:"+intv(0, 255),
		"colour_data_v2:Json:"+hsvv(1000, 1000), "colour_data:Json:"+hsvv(255, 255))
	ls := findLights("dj", dpSource{spec: spec})
	if len(ls) != 1 {
		t.Fatalf("found %d lights", len(ls))
	}
	return ls[0]
}

func vals(kv ...any) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	for i := 0; i < len(kv); i += 2 {
		raw, _ := json.Marshal(kv[i+1])
		m[kv[i].(string)] = raw
	}
	return m
}

func TestFindLights_V2PreferredRangesFromTheSpec(t *testing.T) {
	ls := v2(t)
	if ls.sw != "switch_led" || ls.mode != "work_mode" || ls.bright.code != "bright_value_v2" || ls.temp.code != "temp_value_v2" ||
		ls.colour.code != "colour_data_v2" || ls.bright.span != (span{10, 1000}) || ls.colour.s != (span{0, 1000}) {
		t.Errorf("light = %+v, want the v2 codes with the spec's ranges", ls)
	}
	if !slices.Equal(ls.capabilities(), []cloud.Capability{cloud.CapLight, cloud.CapBrightness, cloud.CapColorTemp, cloud.CapColor}) ||
		ls.kelvinRange() != (cloud.KelvinRange{Min: 2000, Max: 6500}) {
		t.Errorf("capabilities %v, range %v", ls.capabilities(), ls.kelvinRange())
	}

	// v1 only, the colour without component ranges: Home Assistant's
	// defaults (s and v up to 255 while the brightness stays within 255).
	v1 := findLights("dj", dpSource{spec: specOf(t, "switch_led:Boolean", "bright_value:Integer:"+intv(25, 255),
		"ro:temp_value:Integer:"+intv(0, 255), "colour_data:Json:{}", "work_mode:String")})[0]
	if v1.bright.code != "bright_value" || v1.bright.span != (span{25, 255}) || v1.colour.hsvSpans != defaultHSV || v1.mode != "" {
		t.Errorf("v1 light = %+v", v1)
	}
	if v1.temp != nil {
		t.Error("a status-only temperature code taken as commandable")
	}
	// colour_data_v2 without ranges: the v2 defaults.
	d := findLights("dj", dpSource{spec: specOf(t, "switch_led:Boolean", "colour_data_v2:Json:")})[0]
	if d.colour.hsvSpans != defaultHSVv2 || !slices.Equal(d.capabilities(), []cloud.Capability{cloud.CapLight, cloud.CapBrightness, cloud.CapColor}) {
		t.Errorf("colour-only light = %+v caps %v", d, d.capabilities())
	}
	// Wrong types are not taken; no switch, no light.
	if got := findLights("dj", dpSource{spec: specOf(t, "switch_led:Integer:"+intv(0, 1))}); len(got) != 0 {
		t.Errorf("an Integer switch_led made a light: %+v", got)
	}
	if got := findLights("cz", dpSource{spec: specOf(t, "switch_led:Boolean")}); len(got) != 0 {
		t.Error("a socket became a light")
	}
	// A narrowing range with min ≥ max is unusable.
	if got := findLights("dj", dpSource{spec: specOf(t, "switch_led:Boolean", "bright_value_v2:Integer:"+intv(10, 10))})[0]; got.bright != nil {
		t.Errorf("empty range taken: %+v", got.bright)
	}
}

func TestFindLights_WithoutSpecificationUsesTheStandardRanges(t *testing.T) {
	ls := findLights("dj", dpSource{status: vals("switch_led", true, "bright_value_v2", 500, "temp_value", 3,
		"colour_data_v2", `{"h":1,"s":2,"v":3}`, "work_mode", "white")})
	if len(ls) != 1 || ls[0].bright.span != (span{10, 1000}) || ls[0].temp.span != (span{0, 255}) || ls[0].colour.hsvSpans != defaultHSVv2 || ls[0].mode != "work_mode" {
		t.Fatalf("lights = %+v", ls)
	}
	if got := findLights("dj", dpSource{status: vals("switch_led", "yes")}); len(got) != 0 {
		t.Error("a switch_led that is not a boolean made a light")
	}
}

func TestFindLights_DimmersAndChannels(t *testing.T) {
	tgkg := findLights("tgkg", dpSource{spec: specOf(t, "switch_led_1:Boolean", "bright_value_1:Integer:"+intv(10, 1000),
		"brightness_min_1:Integer:"+intv(10, 1000), "brightness_max_1:Integer:"+intv(10, 1000),
		"switch_led_2:Boolean", "bright_value_2:Integer:"+intv(10, 1000))})
	if len(tgkg) != 2 || tgkg[0].brightMin == nil || tgkg[0].brightMax == nil || tgkg[1].brightMin != nil || tgkg[1].bright.code != "bright_value_2" {
		t.Fatalf("tgkg lights = %+v", tgkg)
	}
	l := layout{lights: tgkg}
	if !slices.Equal(l.children(), []string{"switch_led_1", "switch_led_2"}) || l.selfLight() != nil ||
		l.childLight("switch_led_2") != &l.lights[1] || l.childName("Landing", "switch_led_2") != "Landing 2" {
		t.Errorf("layout of a two-channel dimmer: children %v", l.children())
	}
	// A dj with switch_1 is a light, not a relay.
	dl := deviceLayout("dj", map[string]bool{"switch_1": true, "bright_value_1": true},
		dpSource{spec: specOf(t, "switch_1:Boolean", "bright_value_1:Integer:"+intv(10, 1000))})
	if dl.relay != "" || dl.selfLight() == nil || dl.selfLight().sw != "switch_1" {
		t.Errorf("dj with switch_1: %+v", dl)
	}
}

func TestLightState_ModesAndMapping(t *testing.T) {
	ls := v2(t)
	tests := []struct {
		name   string
		values map[string]json.RawMessage
		want   string
	}{
		{"white", vals("switch_led", true, "work_mode", "white", "bright_value_v2", 505, "temp_value_v2", 0, "colour_data_v2", `{"h":120,"s":600,"v":800}`),
			"on=true mode=color_temp bri=50 K=2000"},
		{"coolest", vals("switch_led", false, "work_mode", "white", "bright_value_v2", 1000, "temp_value_v2", 1000),
			"on=false mode=color_temp bri=100 K=6500"}, // 153 mireds is 6535 K: within the published range
		{"middle", vals("switch_led", true, "work_mode", "white", "bright_value_v2", 10, "temp_value_v2", 500),
			"on=true mode=color_temp bri=0.392157 K=3062"}, // 326.5 mireds; the lowest brightness is Home Assistant's 1
		{"colour", vals("switch_led", true, "work_mode", "colour", "bright_value_v2", 505, "temp_value_v2", 0, "colour_data_v2", `{"h":120,"s":600,"v":800}`),
			"on=true mode=hs bri=80 h=120 s=60"},
		{"scene", vals("switch_led", true, "work_mode", "scene", "colour_data_v2", map[string]int{"h": 360, "s": 1000, "v": 1000}),
			"on=true mode=hs bri=100 h=360 s=100"},
		{"colour unreadable", vals("switch_led", true, "work_mode", "colour", "colour_data_v2", `ff0000`),
			"on=true mode= bri=- "},
		{"no temperature value", vals("switch_led", true, "work_mode", "white", "bright_value_v2", 1000),
			"on=true mode= bri=100 "},
		{"out of range", vals("switch_led", true, "work_mode", "white", "bright_value_v2", 5000, "temp_value_v2", -3),
			"on=true mode=color_temp bri=100 K=2000"},
	}
	for _, tc := range tests {
		if got := stateText(ls.state(tc.values)); got != tc.want {
			t.Errorf("%s: state %q, want %q", tc.name, got, tc.want)
		}
	}
	if ls.state(vals("work_mode", "white")) != nil {
		t.Error("a state without the switch value")
	}
}

func stateText(s *cloud.LightState) string {
	if s == nil {
		return "nil"
	}
	f := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprint(math.Round(*p*1e6) / 1e6)
	}
	out := fmt.Sprintf("on=%v mode=%s bri=%s ", s.On, s.Mode, f(s.Brightness))
	switch {
	case s.ColorTempK != nil:
		out += fmt.Sprintf("K=%d", *s.ColorTempK)
	case s.Hue != nil:
		out += fmt.Sprintf("h=%s s=%s", f(s.Hue), f(s.Saturation))
	}
	return out
}

func TestLightCommands_HomeAssistantsOrderAndValues(t *testing.T) {
	ls := v2(t)
	white := vals("switch_led", true, "work_mode", "white", "bright_value_v2", 505, "temp_value_v2", 0, "colour_data_v2", `{"h":120,"s":600,"v":800}`)
	colour := vals("switch_led", true, "work_mode", "colour", "bright_value_v2", 505, "colour_data_v2", `{"h":120,"s":600,"v":800}`)
	on := func(s cloud.LightSettings) cloud.Command {
		return cloud.Command{Action: cloud.ActionSetLight, On: true, Light: s}
	}
	tests := []struct {
		name   string
		cmd    cloud.Command
		values map[string]json.RawMessage
		want   string
	}{
		{"off", cloud.Command{Action: cloud.ActionSetLight}, white, `[{"code":"switch_led","value":false}]`},
		{"on", on(cloud.LightSettings{}), white, `[{"code":"switch_led","value":true}]`},
		// 2700 K is 370 mireds (rounded down): (500-370)/347 of 0..1000.
		{"temperature and brightness", on(cloud.LightSettings{ColorTempK: cloud.Int(2700), Brightness: cloud.Float(50)}), colour,
			`[{"code":"switch_led","value":true},{"code":"work_mode","value":"white"},{"code":"temp_value_v2","value":375},{"code":"bright_value_v2","value":505}]`},
		{"colour", on(cloud.LightSettings{Color: &cloud.HS{Hue: 240, Saturation: 25}, Brightness: cloud.Float(80)}), white,
			`[{"code":"switch_led","value":true},{"code":"work_mode","value":"colour"},{"code":"colour_data_v2","value":"{\"h\":240,\"s\":250,\"v\":800}"}]`},
		// A colour alone keeps the brightness: in white, the brightness code's (50 %).
		{"colour alone", on(cloud.LightSettings{Color: &cloud.HS{Hue: 0, Saturation: 100}}), white,
			`[{"code":"switch_led","value":true},{"code":"work_mode","value":"colour"},{"code":"colour_data_v2","value":"{\"h\":0,\"s\":1000,\"v\":500}"}]`},
		// A brightness while in colour: the colour's v, hue and saturation kept.
		{"dim in colour", on(cloud.LightSettings{Brightness: cloud.Float(25)}), colour,
			`[{"code":"switch_led","value":true},{"code":"work_mode","value":"colour"},{"code":"colour_data_v2","value":"{\"h\":120,\"s\":600,\"v\":250}"}]`},
		{"dim in white", on(cloud.LightSettings{Brightness: cloud.Float(100)}), white,
			`[{"code":"switch_led","value":true},{"code":"bright_value_v2","value":1000}]`},
		{"coolest", on(cloud.LightSettings{ColorTempK: cloud.Int(6500)}), white,
			`[{"code":"switch_led","value":true},{"code":"work_mode","value":"white"},{"code":"temp_value_v2","value":1000}]`},
	}
	for _, tc := range tests {
		got, _ := json.Marshal(ls.commands(tc.cmd, tc.values))
		if string(got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestLightCommands_V1DefaultsAndDimmerLimits(t *testing.T) {
	v1 := findLights("dj", dpSource{spec: specOf(t, "switch_led:Boolean", `work_mode:Enum:{"range":["white","colour"]}`,
		"bright_value:Integer:"+intv(25, 255), "colour_data:Json:{}")})[0]
	cmd := cloud.Command{Action: cloud.ActionSetLight, On: true, Light: cloud.LightSettings{Color: &cloud.HS{Hue: 120, Saturation: 60}, Brightness: cloud.Float(30)}}
	got, _ := json.Marshal(v1.commands(cmd, nil))
	// Defaults h 1–360, s and v 1–255: 1+120/360·359, 1+0.6·254, 1+0.3·254.
	if want := `[{"code":"switch_led","value":true},{"code":"work_mode","value":"colour"},{"code":"colour_data","value":"{\"h\":121,\"s\":153,\"v\":77}"}]`; string(got) != want {
		t.Errorf("v1 colour: %s, want %s", got, want)
	}

	dim := findLights("tgq", dpSource{spec: specOf(t, "switch_led:Boolean", "bright_value_v2:Integer:"+intv(10, 1000),
		"brightness_min_1:Integer:"+intv(10, 1000), "brightness_max_1:Integer:"+intv(10, 1000))})[0]
	values := vals("switch_led", true, "bright_value_v2", 550, "brightness_min_1", 100, "brightness_max_1", 1000)
	half := cloud.Command{Action: cloud.ActionSetLight, On: true, Light: cloud.LightSettings{Brightness: cloud.Float(50)}}
	// 50 % of the dimmer's own 100–1000 is 550.
	if got, _ := json.Marshal(dim.commands(half, values)); string(got) != `[{"code":"switch_led","value":true},{"code":"bright_value_v2","value":550}]` {
		t.Errorf("dimmer within its limits: %s", got)
	}
	if got := stateText(dim.state(values)); got != "on=true mode= bri=50 " {
		t.Errorf("dimmer state %s, want 50 %% of its limits", got)
	}
	if !slices.Equal(dim.capabilities(), []cloud.Capability{cloud.CapLight, cloud.CapBrightness}) {
		t.Errorf("dimmer capabilities %v", dim.capabilities())
	}
}

func TestKelvinRoundTrip(t *testing.T) {
	for k := lightKelvin.Min; k <= lightKelvin.Max; k += 50 {
		sp := span{0, 1000}
		back := kelvin(sp.frac(float64(sp.raw(kelvinFrac(k)))))
		if d := back - k; d < -int(float64(k)*0.01) || d > int(float64(k)*0.01) {
			t.Errorf("%d K → raw %d → %d K", k, sp.raw(kelvinFrac(k)), back)
		}
	}
}

func TestParseColour(t *testing.T) {
	for raw, ok := range map[string]bool{
		`"{\"h\":1,\"s\":2,\"v\":3}"`: true, `{"h":1,"s":"2","v":3.5}`: true,
		`"{\"h\":1,\"s\":2}"`: false, `"ff000000"`: false, `{"h":"NaN","s":1,"v":1}`: false, `null`: false,
	} {
		if _, got := parseColour(json.RawMessage(raw)); got != ok {
			t.Errorf("parseColour(%s) ok = %v", raw, got)
		}
	}
}
