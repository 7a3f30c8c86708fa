package test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya/tuyatest"
)

// tuyaLight is one Tuya light of the end-to-end tests: its discovery, the
// data point its brightness lands in, and what it takes.
type tuyaLight struct {
	name, id string
	dev      string // the Tuya device (id without a channel)
	// bright is the brightness code; b128 and b26 its raw values for Home
	// Assistant's brightness 128 and 26 (the spec's range mapped linearly).
	bright    string
	b128, b26 int64
	modes     string
	temp      bool
	colour    bool
}

// addTuyaLights adds one Tuya light of each kind to the fleet's project.
func addTuyaLights(f tuyaFleet) []tuyaLight {
	bulb := f.srv.AddLight(tuyaID, "Desk Lamp", tuyatest.ColourLight)
	white := f.srv.AddLight(tuyaID, "Hall Light", tuyatest.WhiteLightV1)
	dimmer := f.srv.AddLight(tuyaID, "Porch Dimmer", tuyatest.Dimmer)
	sw := f.srv.AddLight(tuyaID, "Landing", tuyatest.DimmerSwitch)
	return []tuyaLight{
		// 10 + 128/255·990 = 506.9; 10 + 26/255·990 = 110.9
		{name: "v2 colour bulb", id: bulb, dev: bulb, bright: "bright_value_v2", b128: 507, b26: 111,
			modes: `"supported_color_modes":["color_temp","hs"]`, temp: true, colour: true},
		// 25 + 128/255·230 = 140.45; 25 + 26/255·230 = 48.45
		{name: "v1 tunable-white bulb", id: white, dev: white, bright: "bright_value", b128: 140, b26: 48,
			modes: `"supported_color_modes":["color_temp"]`, temp: true},
		{name: "tgq dimmer", id: dimmer, dev: dimmer, bright: "bright_value_v2", b128: 507, b26: 111,
			modes: `"supported_color_modes":["brightness"]`},
		{name: "tgkg dimmer switch channel", id: sw + "_switch_led_2", dev: sw, bright: "bright_value_2", b128: 507, b26: 111,
			modes: `"supported_color_modes":["brightness"]`},
	}
}

func tuyaConfigTopic(id string) string { return "homeassistant/device/tuya_" + id + "/config" }

// TestE2E_TuyaLights: each kind of Tuya light (v2 and v1 dj bulbs, a
// dimmer, a dimmer switch's channel) is announced as a Home Assistant JSON
// light with its colour modes and Tuya's 2000–6500 K, and is switched,
// dimmed, set to a temperature and re-coloured through MQTT, the fake's
// data points and the published state agreeing after each step. Then a
// slider storm of 50 values costs two commands calls.
func TestE2E_TuyaLights(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.cfg.Poll.Interval = time.Hour // every state below comes from a command's re-read
	f := h.addTuya()
	lights := addTuyaLights(f)
	h.start()
	for _, l := range lights {
		t.Run(l.name, func(t *testing.T) {
			parts := []string{`"platform":"light"`, `"schema":"json"`, l.modes, `"transition":false`}
			if l.temp {
				parts = append(parts, `"color_temp_kelvin":true,"min_kelvin":2000,"max_kelvin":6500`)
			}
			h.rec.waitMsg(0, tuyaConfigTopic(l.id), func(p string) bool {
				for _, part := range parts {
					if !strings.Contains(p, part) {
						return false
					}
				}
				return true
			})
			topic := base + "/" + h.deviceTopic(0, l.id)
			h.rec.waitMsg(0, topic, contains(`"state":"OFF"`))
			step := func(what, set, payload string, want func(string) bool, device func(tuyatest.LightState) bool) string {
				t.Helper()
				mk := h.rec.mark()
				h.rec.publish(topic+set, payload, false)
				m := h.rec.waitMsg(mk, topic, want)
				if st := f.srv.Light(l.id); !device(st) {
					t.Errorf("%s: the device is %+v", what, st)
				}
				return m.payload
			}
			raw := func(want int64) func(tuyatest.LightState) bool {
				return func(tuyatest.LightState) bool { return f.srv.DP(l.dev, l.bright) == want }
			}
			step("ON", "/set", "ON", contains(`"state":"ON"`), func(st tuyatest.LightState) bool { return st.On })
			step("dimmed to 128", "/set", `{"state":"ON","brightness":128}`, contains(`"brightness":128`), raw(l.b128))
			step("dimmed to 26 on /set/brightness", "/set/brightness", "26", contains(`"brightness":26`), raw(l.b26))
			if l.temp {
				// Tuya has no Kelvin: 2700 K goes through whole mireds and the
				// raw range, and comes back within 1 %.
				p := step("temperature", "/set", `{"color_temp":2700}`, contains(`"color_mode":"color_temp"`),
					func(st tuyatest.LightState) bool { return !st.Colour && math.Abs(float64(st.Kelvin-2700)) <= 27 })
				if k, _ := stateField(p, "color_temp").(float64); math.Abs(k-2700) > 27 {
					t.Errorf("published color_temp %v for 2700 K", k)
				}
			}
			if l.colour {
				step("colour", "/set/color", `{"h":240,"s":100}`, contains(`"color_mode":"hs","color":{"h":240,"s":100}`),
					func(st tuyatest.LightState) bool { return st.Colour && st.Hue == 240 && st.Saturation == 100 })
				step("dimmed in colour", "/set/brightness", "128", contains(`"brightness":128,"color_mode":"hs","color":{"h":240,"s":100}`),
					func(st tuyatest.LightState) bool { return st.Colour && math.Abs(st.Brightness-50.2) < 0.1 })
			}
			step("OFF", "/set", `{"state":"OFF"}`, contains(`"state":"OFF"`), func(st tuyatest.LightState) bool { return !st.On })
			step("TOGGLE", "/set/state", "TOGGLE", contains(`"state":"ON"`), func(st tuyatest.LightState) bool { return st.On })
		})
	}

	// Slider storm: the first command is held at the cloud until all 50
	// values have arrived; they fold into one more command.
	bulb := lights[0]
	topic := base + "/" + h.deviceTopic(0, bulb.id)
	commands := func() int {
		n := 0
		for _, r := range f.srv.Requests() {
			if r.Method == "POST" && r.Path == "/v1.0/iot-03/devices/"+bulb.id+"/commands" {
				n++
			}
		}
		return n
	}
	before := commands()
	mk := h.sliderStorm(topic, f.srv.HoldNext)
	h.rec.waitMsg(mk, topic, contains(`"brightness":250`))
	h.refreshed(bulb.id)
	if n := commands() - before; n != 2 {
		t.Errorf("50 slider values cost %d commands calls, want 2", n)
	}
	// In colour (the last step above), the brightness is the colour's v:
	// 250/255 of 0–1000.
	if v := f.srv.DP(bulb.id, "colour_data_v2"); v != `{"h":240,"s":1000,"v":980}` {
		t.Errorf("after the storm colour_data_v2 = %v, want v 980", v)
	}
}

// TestE2E_TuyaLightPush: a light changed in the app reaches MQTT by push,
// without a status call.
func TestE2E_TuyaLightPush(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.cfg.Poll.Interval = time.Hour
	f := h.addTuyaPush()
	bulb := f.srv.AddLight(tuyaID, "Desk Lamp", tuyatest.ColourLight)
	h.start()
	topic := base + "/" + h.deviceTopic(0, bulb)
	h.rec.waitMsg(0, topic, contains(`"state":"OFF"`))
	h.waitPush(0, true)

	calls := f.srv.Calls(tuyaStatusPath)
	for _, c := range []struct {
		code  string
		value any
		want  string
	}{
		{"switch_led", true, `"state":"ON"`},
		{"temp_value_v2", 0, `"color_mode":"color_temp","color_temp":2000`},
		{"colour_data_v2", map[string]int{"h": 120, "s": 500, "v": 1000}, ""}, // still white: nothing new to publish
		{"work_mode", "colour", `"brightness":255,"color_mode":"hs","color":{"h":120,"s":50}`},
	} {
		mk := h.rec.mark()
		f.srv.SetDP(bulb, c.code, c.value)
		if c.want != "" {
			h.rec.waitMsg(mk, topic, contains(c.want))
		}
	}
	if n := f.srv.Calls(tuyaStatusPath) - calls; n != 0 {
		t.Errorf("%d status calls for pushed light changes, want 0", n)
	}
}
