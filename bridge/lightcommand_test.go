package bridge

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/discovery"
)

// colorBulb is a colour bulb of 2500–9000 K with transitions.
func colorBulb(id, name string) cloud.Device {
	return cloud.Device{ID: id, Provider: "kasa", Name: name, Model: "KL130(US)", Online: true,
		Capabilities: []cloud.Capability{cloud.CapLight, cloud.CapBrightness, cloud.CapColorTemp, cloud.CapColor, cloud.CapTransition, cloud.CapRSSI},
		ColorTemp:    cloud.KelvinRange{Min: 2500, Max: 9000}}
}

// dimmer is a wall dimmer: brightness and transitions, no colour.
func dimmer(id, name string) cloud.Device {
	return cloud.Device{ID: id, Provider: "kasa", Name: name, Model: "HS220(US)", Online: true,
		Capabilities: []cloud.Capability{cloud.CapLight, cloud.CapBrightness, cloud.CapTransition, cloud.CapLED}}
}

func TestParseSet_Light(t *testing.T) {
	tests := []struct {
		name, prop, payload string
		want                lightRequest
		state               switchValue
		wantErr             string
	}{
		{"HA brightness", "", `{"state":"ON","brightness":128}`, lightRequest{brightness: some(128.0)}, switchOn, ""},
		{"HA color temp in Kelvin", "", `{"state":"ON","color_temp":2700}`, lightRequest{colorTemp: some(2700)}, switchOn, ""},
		{"HA hs color", "", `{"state":"ON","color":{"h":120.5,"s":60}}`, lightRequest{color: some(cloud.HS{Hue: 120.5, Saturation: 60})}, switchOn, ""},
		{"HA off with transition", "", `{"state":"OFF","transition":2.5}`, lightRequest{transition: some(2.5)}, switchOff, ""},
		{"numbers as strings", "", `{"brightness":"10","color_temp":" 3000 "}`, lightRequest{brightness: some(10.0), colorTemp: some(3000)}, 0, ""},
		{"Kelvin rounded", "", `{"color_temp":2700.4}`, lightRequest{colorTemp: some(2700)}, 0, ""},
		{"set/brightness", "brightness", " 255\n", lightRequest{brightness: some(255.0)}, 0, ""},
		{"set/brightness 0", "brightness", "0", lightRequest{brightness: some(0.0)}, 0, ""},
		{"set/color_temp", "color_temp", "4000", lightRequest{colorTemp: some(4000)}, 0, ""},
		{"set/color JSON", "color", `{"hue":10,"saturation":20}`, lightRequest{color: some(cloud.HS{Hue: 10, Saturation: 20})}, 0, ""},
		{"set/color plain", "Color", "240, 100", lightRequest{color: some(cloud.HS{Hue: 240, Saturation: 100})}, 0, ""},

		{"brightness above 255", "", `{"brightness":256}`, lightRequest{}, 0, `"brightness" 256 is out of range: want 0 to 255`},
		{"negative brightness", "brightness", "-1", lightRequest{}, 0, `"brightness" -1 is out of range`},
		{"brightness NaN", "brightness", "NaN", lightRequest{}, 0, `"brightness" must be a number, got "NaN"`},
		{"brightness text", "", `{"brightness":"bright"}`, lightRequest{}, 0, `"brightness" must be a number`},
		{"brightness object", "", `{"brightness":{}}`, lightRequest{}, 0, `"brightness" must be a number`},
		{"color_temp zero", "color_temp", "0", lightRequest{}, 0, `"color_temp" 0 is out of range: want a temperature in Kelvin`},
		{"hue above 360", "", `{"color":{"h":361,"s":5}}`, lightRequest{}, 0, `"color" h 361, s 5 is out of range`},
		{"saturation above 100", "color", "5,101", lightRequest{}, 0, `"color" h 5, s 101 is out of range`},
		{"rgb color", "", `{"color":{"r":255,"g":0,"b":0}}`, lightRequest{}, 0, `"color" key "b" is not supported`},
		{"half a color", "", `{"color":{"h":5}}`, lightRequest{}, 0, `"color" must hold a hue and a saturation`},
		{"color not an object", "", `{"color":"red"}`, lightRequest{}, 0, `"color" must hold a hue and a saturation`},
		{"long transition", "", `{"state":"ON","transition":3601}`, lightRequest{}, 0, `"transition" 3601 is out of range: want 0 to 3600 seconds`},
		{"effect", "", `{"state":"ON","effect":"rainbow"}`, lightRequest{}, 0, `unknown key "effect"`},
		{"flash", "", `{"state":"ON","flash":2}`, lightRequest{}, 0, `unknown key "flash"`},
		{"unknown prop", "hue", "5", lightRequest{}, 0, `unknown property "hue" (known: state, brightness, color_temp, color, led, restart)`},
		// transition is a key of the JSON form, not a property of its own.
		{"set/transition", "transition", "2", lightRequest{}, 0, `a transition alone changes nothing: send it in the JSON form with a state, brightness or color, e.g. {"state":"ON","transition":2} on /set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseSetCase(t, tt.prop, tt.payload, tt.wantErr)
			if ok && (got.light != tt.want || got.state != tt.state) {
				t.Fatalf("parseSet(%q, %q) = %+v; want light %+v, state %v", tt.prop, tt.payload, got, tt.want, tt.state)
			}
		})
	}
}

func TestLightCommand(t *testing.T) {
	bulb := colorBulb("B", "Bulb")
	on, off := cloud.Bool(true), cloud.Bool(false)
	dur := func(d time.Duration) *time.Duration { return &d }
	tests := []struct {
		name    string
		d       cloud.Device
		payload string
		cur     *bool
		want    cloud.Command
		wantErr string
	}{
		{"on", bulb, "ON", nil, cloud.Command{On: true}, ""},
		{"toggle on", bulb, "TOGGLE", off, cloud.Command{On: true}, ""},
		{"toggle off", bulb, "TOGGLE", on, cloud.Command{On: false}, ""},
		{"brightness switches on, 255 is 100 %", bulb, `{"brightness":255}`, off, cloud.Command{On: true, Light: cloud.LightSettings{Brightness: cloud.Float(100)}}, ""},
		{"brightness 51 is 20 %", bulb, `{"state":"ON","brightness":51,"transition":0.5}`, nil,
			cloud.Command{On: true, Light: cloud.LightSettings{Brightness: cloud.Float(20), Transition: dur(500 * time.Millisecond)}}, ""},
		{"brightness 0 switches off", bulb, `{"brightness":0,"transition":1}`, on, cloud.Command{On: false, Light: cloud.LightSettings{Transition: dur(time.Second)}}, ""},
		{"temperature", bulb, `{"state":"ON","color_temp":9000}`, nil, cloud.Command{On: true, Light: cloud.LightSettings{ColorTempK: cloud.Int(9000)}}, ""},
		{"colour", bulb, `{"color":{"h":0,"s":100}}`, nil, cloud.Command{On: true, Light: cloud.LightSettings{Color: &cloud.HS{Hue: 0, Saturation: 100}}}, ""},

		{"toggle unknown", bulb, "TOGGLE", nil, cloud.Command{}, "cannot TOGGLE: the current state is not known yet"},
		{"transition alone", bulb, `{"transition":1}`, nil, cloud.Command{}, "a transition alone changes nothing"},
		{"temperature below the range", bulb, `{"state":"ON","color_temp":2000}`, nil, cloud.Command{}, "color temperature 2000 K: the light takes 2500–9000 K: value out of range"},
		{"mireds", bulb, `{"color_temp":370}`, nil, cloud.Command{}, "color temperature 370 K: the light takes 2500–9000 K"},
		{"both colour kinds", bulb, `{"color_temp":3000,"color":{"h":1,"s":1}}`, nil, cloud.Command{}, "both a color temperature and a color"},
		{"off with colour", bulb, `{"state":"OFF","color":{"h":1,"s":1}}`, nil, cloud.Command{}, "OFF with a brightness or color"},
		{"brightness 0 with ON", bulb, `{"state":"ON","brightness":0}`, nil, cloud.Command{}, "brightness 0 switches the light off"},
		{"colour on a dimmer", dimmer("D", "Dimmer"), `{"state":"ON","color":{"h":1,"s":1}}`, nil, cloud.Command{}, "color: the light has no color capability: not supported by device"},
		{"temperature on a dimmer", dimmer("D", "Dimmer"), `{"color_temp":3000}`, nil, cloud.Command{}, "the light has no color_temp capability"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := parseSet("", []byte(tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			got, err := lightCommand(tt.d, req, tt.cur)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("lightCommand(%s) = %v, %v; want an error containing %q", tt.payload, got, err, tt.wantErr)
				}
				return
			}
			tt.want.DeviceID, tt.want.Action = tt.d.ID, cloud.ActionSetLight
			if err != nil || got.String() != tt.want.String() {
				t.Fatalf("lightCommand(%s) = %v, %v; want %v", tt.payload, got, err, tt.want)
			}
		})
	}
}

func TestMergeLight(t *testing.T) {
	cmd := func(on bool, s cloud.LightSettings) cloud.Command {
		return cloud.Command{DeviceID: "B", Action: cloud.ActionSetLight, On: on, Light: s}
	}
	tr := time.Second
	for _, tc := range []struct {
		prev, next cloud.Command
		want       string
	}{
		{cmd(true, cloud.LightSettings{Brightness: cloud.Float(10)}), cmd(true, cloud.LightSettings{Brightness: cloud.Float(90)}), "set_light=on brightness=90% B"},
		{cmd(true, cloud.LightSettings{Brightness: cloud.Float(10), ColorTempK: cloud.Int(3000)}), cmd(true, cloud.LightSettings{Color: &cloud.HS{Hue: 5, Saturation: 6}}),
			"set_light=on brightness=10% hs=5,6 B"},
		{cmd(true, cloud.LightSettings{Color: &cloud.HS{Hue: 5, Saturation: 6}, Transition: &tr}), cmd(true, cloud.LightSettings{ColorTempK: cloud.Int(4000)}),
			"set_light=on color_temp=4000K transition=1s B"},
		{cmd(true, cloud.LightSettings{Brightness: cloud.Float(10)}), cmd(false, cloud.LightSettings{}), "set_light=off B"},
		{cmd(false, cloud.LightSettings{Transition: &tr}), cmd(true, cloud.LightSettings{Brightness: cloud.Float(20)}), "set_light=on brightness=20% B"},
	} {
		if got := mergeLight(tc.prev, tc.next).String(); got != tc.want {
			t.Errorf("mergeLight(%v, %v) = %s, want %s", tc.prev, tc.next, got, tc.want)
		}
	}
}

// The state payload of a light is what Home Assistant's JSON light reads:
// "state" always, brightness 0–255, and the colour of the mode the light
// is in, in one of the modes its discovery announces.
func TestEncodeState_Light(t *testing.T) {
	bulb, dim := colorBulb("B", "Bulb"), dimmer("D", "Dimmer")
	plain := cloud.Device{ID: "P", Capabilities: []cloud.Capability{cloud.CapLight}}
	white := cloud.Device{ID: "W", Capabilities: []cloud.Capability{cloud.CapLight, cloud.CapBrightness, cloud.CapColorTemp}, ColorTemp: cloud.KelvinRange{Min: 2700, Max: 6500}}
	ls := func(l cloud.LightState) *cloud.State {
		return &cloud.State{Online: true, Light: &l, RSSI: cloud.Int(-50)}
	}
	tests := []struct {
		name string
		d    cloud.Device
		s    *cloud.State
		want string
	}{
		{"hs", bulb, ls(cloud.LightState{On: true, Brightness: cloud.Float(80), Mode: cloud.ColorModeHS, Hue: cloud.Float(120), Saturation: cloud.Float(60.123)}),
			`{"state":"ON","brightness":204,"color_mode":"hs","color":{"h":120,"s":60.12},"rssi":-50}`},
		{"temperature, off", bulb, ls(cloud.LightState{Brightness: cloud.Float(30), Mode: cloud.ColorModeTemp, ColorTempK: cloud.Int(2700)}),
			`{"state":"OFF","brightness":77,"color_mode":"color_temp","color_temp":2700,"rssi":-50}`},
		{"1 % is brightness 3, never 0", dim, ls(cloud.LightState{On: true, Brightness: cloud.Float(1)}), `{"state":"ON","brightness":3,"color_mode":"brightness"}`},
		{"a trace of brightness is 1", dim, ls(cloud.LightState{On: true, Brightness: cloud.Float(0.01)}), `{"state":"ON","brightness":1,"color_mode":"brightness"}`},
		{"colour of unknown mode: no color_mode", bulb, ls(cloud.LightState{On: true, Brightness: cloud.Float(100), Hue: cloud.Float(5)}),
			`{"state":"ON","brightness":255,"rssi":-50}`},
		{"hs mode without a hue", bulb, ls(cloud.LightState{On: true, Mode: cloud.ColorModeHS}), `{"state":"ON","rssi":-50}`},
		{"hs on a white bulb is left out", white, ls(cloud.LightState{On: true, Mode: cloud.ColorModeHS, Hue: cloud.Float(1), Saturation: cloud.Float(1)}), `{"state":"ON"}`},
		{"on/off light", plain, ls(cloud.LightState{On: false, Brightness: cloud.Float(50)}), `{"state":"OFF","color_mode":"onoff"}`},
		{"no light state", bulb, &cloud.State{Online: true, RSSI: cloud.Int(-50)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := encodeState(tt.d, tt.s)
			if string(got) != tt.want {
				t.Fatalf("encodeState = %s, want %s", got, tt.want)
			}
			if got == nil {
				return
			}
			var p map[string]any
			if err := json.Unmarshal(got, &p); err != nil {
				t.Fatal(err)
			}
			if _, ok := p["state"]; !ok {
				t.Errorf("%s: no state (Home Assistant's JSON light fails on it)", got)
			}
			if m, ok := p["color_mode"]; ok && !slices.Contains(discovery.ColorModes(tt.d), m.(string)) {
				t.Errorf("%s: color_mode %v is not among the announced %v", got, m, discovery.ColorModes(tt.d))
			}
		})
	}
}
