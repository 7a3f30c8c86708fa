package test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

// lightCase is one Kasa light of the end-to-end tests: its discovery, and
// what it must do when commanded over MQTT.
type lightCase struct {
	name, id string
	// discovery holds parts of the light component of its discovery.
	discovery []string
	// colorTemp and color: the light takes a temperature (the one to
	// set) and a colour.
	colorTemp int
	color     bool
}

// addLights adds one light of each Kasa kind.
func (h *harness) addLights() []lightCase {
	return []lightCase{
		{name: "dimmer", id: h.fake.AddDimmer(user, "Hall Dimmer", "HS220(US)"),
			discovery: []string{`"supported_color_modes":["brightness"]`, `"transition":true`}},
		{name: "colour bulb", id: h.fake.AddBulb(user, "Reading Lamp", "KL130(US)", true, true), colorTemp: 6500, color: true,
			discovery: []string{`"supported_color_modes":["color_temp","hs"]`, `"color_temp_kelvin":true,"min_kelvin":2500,"max_kelvin":9000`, `"transition":true`}},
		{name: "tunable-white bulb", id: h.fake.AddBulb(user, "Bedside", "KL120(US)", false, true), colorTemp: 3000,
			discovery: []string{`"supported_color_modes":["color_temp"]`, `"min_kelvin":2700,"max_kelvin":5000`}},
		{name: "dimmable bulb", id: h.fake.AddBulb(user, "Porch", "KL50(US)", false, false),
			discovery: []string{`"supported_color_modes":["brightness"]`}},
		{name: "light strip", id: h.fake.AddLightStrip(user, "Shelf", "KL430(US)", 16, true), colorTemp: 2500, color: true,
			discovery: []string{`"supported_color_modes":["color_temp","hs"]`, `"transition":false`}},
	}
}

// TestE2E_KasaLights: each kind of Kasa light is announced as a Home
// Assistant JSON light with its own colour modes and Kelvin range, and is
// switched, dimmed, set to a temperature and re-coloured through MQTT,
// the fake device and the published state agreeing after each step.
func TestE2E_KasaLights(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.cfg.Poll.Interval = time.Hour // every state below comes from a command's re-read
	lights := h.addLights()
	h.start()
	for _, l := range lights {
		t.Run(l.name, func(t *testing.T) {
			h.rec.waitMsg(0, configTopic(l.id), func(p string) bool {
				for _, part := range append([]string{`"platform":"light"`, `"schema":"json"`}, l.discovery...) {
					if !strings.Contains(p, part) {
						return false
					}
				}
				return !strings.Contains(p, `"platform":"switch","name":null`) // a light, not a relay switch
			})
			topic := base + "/" + h.deviceTopic(0, l.id)
			h.rec.waitMsg(0, topic, contains(`"state":"OFF"`))
			step := func(what, set, payload, want string, device func(kasatest.LightInfo) bool) {
				t.Helper()
				mk := h.rec.mark()
				h.rec.publish(topic+set, payload, false)
				h.rec.waitMsg(mk, topic, contains(want))
				if li := h.fake.Light(l.id); !device(li) {
					t.Errorf("%s: the device is %+v", what, li)
				}
			}
			step("ON", "/set", "ON", `"state":"ON"`, func(li kasatest.LightInfo) bool { return li.On })
			step("dimmed to 128", "/set", `{"state":"ON","brightness":128}`, `"brightness":128`,
				func(li kasatest.LightInfo) bool { return li.On && li.Brightness == 50 })
			step("dimmed to 26 on /set/brightness", "/set/brightness", "26", `"brightness":26`,
				func(li kasatest.LightInfo) bool { return li.Brightness == 10 })
			if l.colorTemp != 0 {
				step("temperature", "/set", fmt.Sprintf(`{"color_temp":%d}`, l.colorTemp),
					fmt.Sprintf(`"color_mode":"color_temp","color_temp":%d`, l.colorTemp),
					func(li kasatest.LightInfo) bool { return li.ColorTemp == l.colorTemp })
			}
			if l.color {
				step("colour", "/set/color", `{"h":240,"s":100}`, `"color_mode":"hs","color":{"h":240,"s":100}`,
					func(li kasatest.LightInfo) bool { return li.ColorTemp == 0 && li.Hue == 240 && li.Saturation == 100 })
			}
			step("OFF", "/set", `{"state":"OFF"}`, `"state":"OFF"`, func(li kasatest.LightInfo) bool { return !li.On })
			step("TOGGLE", "/set/state", "TOGGLE", `"state":"ON"`, func(li kasatest.LightInfo) bool { return li.On && li.Brightness == 10 })
		})
	}

	// Values a light cannot take are refused with the topic and the
	// payload, and nothing reaches the device.
	white := h.deviceTopic(0, lights[2].id)
	before := h.fake.Light(lights[2].id)
	for _, bad := range []struct{ set, payload, why string }{
		{"/set", `{"color_temp":6500}`, "the light takes 2700–5000 K"},
		{"/set", `{"color":{"h":10,"s":10}}`, "the light has no color capability"},
		{"/set/brightness", "300", "out of range"},
		{"/set", `{"state":"ON","transition":5000}`, "out of range"},
	} {
		h.rec.publish(base+"/"+white+bad.set, bad.payload, false)
		h.waitLog("the refusal of "+bad.payload, zapcore.WarnLevel, base+"/"+white+bad.set, "payload="+bad.payload, bad.why)
	}
	h.refreshed(lights[2].id) // the commands before it are done
	if got := h.fake.Light(lights[2].id); got != before {
		t.Errorf("refused commands changed the bulb: %+v, was %+v", got, before)
	}
}

// sliderStorm sends 50 brightness values (5 to 250) to the light on
// topic, the way a dragged slider does, with the first command held at
// the cloud (hold is the fake's HoldNext) until the other 49 have folded
// into the pending one; it returns the recorder's mark from before the
// storm.
func (h *harness) sliderStorm(topic string, hold func(n int)) int {
	h.t.Helper()
	hold(2)
	mk := h.rec.mark()
	for i := 1; i <= 50; i++ {
		h.rec.publish(topic+"/set", fmt.Sprintf(`{"state":"ON","brightness":%d}`, 5*i), false)
	}
	eventually(h.t, "49 commands folded into the pending one", func() bool {
		return h.logs.FilterMessage("light command folded into the next one").Len() == 49
	})
	hold(0)
	return mk
}

// TestE2E_LightSliderStorm: 50 brightness values in a row while the first
// command is under way become two cloud commands, and the light ends at
// the last value.
func TestE2E_LightSliderStorm(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.cfg.Poll.Interval = time.Hour
	bulb := h.fake.AddBulb(user, "Reading Lamp", "KL130(US)", true, true)
	h.start()
	topic := base + "/" + h.deviceTopic(0, bulb)
	h.rec.waitMsg(0, topic, contains(`"state":"OFF"`))

	commands := func() int {
		n := 0
		for _, r := range h.fake.Requests() {
			if r.DeviceID == bulb && strings.Contains(r.RequestData, "transition_light_state") {
				n++
			}
		}
		return n
	}
	mk := h.sliderStorm(topic, h.fake.HoldNext)
	h.rec.waitMsg(mk, topic, contains(`"state":"ON","brightness":250`))
	if li := h.fake.Light(bulb); !li.On || li.Brightness != 98 {
		t.Errorf("after the storm the bulb is %+v, want on at 98 %%", li)
	}
	h.refreshed(bulb)
	if n := commands(); n != 2 {
		t.Errorf("50 slider values cost %d cloud commands, want 2", n)
	}
}
