package tuya_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya/tuyatest"
)

const commandsPath = "/v1.0/iot-03/devices/"

func lightCmd(id string, on bool, s cloud.LightSettings) cloud.Command {
	return cloud.Command{DeviceID: id, Action: cloud.ActionSetLight, On: on, Light: s}
}

func commandCalls(srv *tuyatest.Server) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Method == "POST" && len(r.Path) > len(commandsPath) {
			n++
		}
	}
	return n
}

func TestLights_ListedWithTheirCapabilities(t *testing.T) {
	e := newEnv(t)
	bulb := e.srv.AddLight(testAccessID, "Desk Lamp", tuyatest.ColourLight)
	white := e.srv.AddLight(testAccessID, "Hall", tuyatest.WhiteLightV1)
	dimmer := e.srv.AddLight(testAccessID, "Porch", tuyatest.Dimmer)
	sw := e.srv.AddLight(testAccessID, "Landing", tuyatest.DimmerSwitch)
	p := e.provider()
	devs := mustList(t, e, p)
	light := []cloud.Capability{cloud.CapLight, cloud.CapBrightness}
	tests := []struct {
		id     string
		name   string
		parent string
		caps   []cloud.Capability
		kelvin cloud.KelvinRange
	}{
		{bulb, "Desk Lamp", "", append(light, cloud.CapColorTemp, cloud.CapColor), cloud.KelvinRange{Min: 2000, Max: 6500}},
		{white, "Hall", "", append(light, cloud.CapColorTemp), cloud.KelvinRange{Min: 2000, Max: 6500}},
		{dimmer, "Porch", "", light, cloud.KelvinRange{}},
		{sw, "Landing", "", nil, cloud.KelvinRange{}},
		{sw + "_switch_led_1", "Landing 1", sw, light, cloud.KelvinRange{}},
		{sw + "_switch_led_2", "Landing 2", sw, light, cloud.KelvinRange{}},
	}
	if len(devs) != len(tests) {
		t.Fatalf("listed %v, want %d devices", ids(devs), len(tests))
	}
	for _, tc := range tests {
		d := deviceByID(t, devs, tc.id)
		if d.Name != tc.name || d.ParentID != tc.parent || !slices.Equal(d.Capabilities, tc.caps) || d.ColorTemp != tc.kelvin || d.Manufacturer != "Tuya" {
			t.Errorf("%s = %+v, want name %q, parent %q, capabilities %v, range %v", tc.id, d, tc.name, tc.parent, tc.caps, tc.kelvin)
		}
	}
	rows, err := p.DeviceList(ctxT(t))
	e.track(err)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if !r.Supported {
			t.Errorf("light row %+v not supported", r)
		}
	}
}

// Every change is one commands call, whose data points the device then
// has; what the light cannot take costs no call.
func TestLights_OneCommandsCallPerChange(t *testing.T) {
	e := newEnv(t)
	bulb := e.srv.AddLight(testAccessID, "Desk Lamp", tuyatest.ColourLightV1)
	sw := e.srv.AddLight(testAccessID, "Landing", tuyatest.DimmerSwitch)
	p := e.provider()
	mustList(t, e, p)
	mustRead(t, e, p, bulb)
	steps := []struct {
		cmd  cloud.Command
		want map[string]any
	}{
		{lightCmd(bulb, true, cloud.LightSettings{Brightness: cloud.Float(50)}),
			map[string]any{"switch_led": true, "work_mode": "white", "bright_value": int64(140)}}, // 25 + 0.5·230
		{lightCmd(bulb, true, cloud.LightSettings{ColorTempK: cloud.Int(2000)}),
			map[string]any{"work_mode": "white", "temp_value": int64(0)}},
		{lightCmd(bulb, true, cloud.LightSettings{Color: &cloud.HS{Hue: 120, Saturation: 100}}),
			map[string]any{"work_mode": "colour", "colour_data": `{"h":120,"s":255,"v":128}`}}, // v from the white's 50 %
		{lightCmd(bulb, false, cloud.LightSettings{}), map[string]any{"switch_led": false, "colour_data": `{"h":120,"s":255,"v":128}`}},
		{lightCmd(sw+"_switch_led_2", true, cloud.LightSettings{Brightness: cloud.Float(100)}),
			map[string]any{"switch_led_2": true, "bright_value_2": int64(1000), "switch_led_1": false}},
	}
	for _, s := range steps {
		before := commandCalls(e.srv)
		mustApply(t, e, p, s.cmd)
		if n := commandCalls(e.srv) - before; n != 1 {
			t.Errorf("%s: %d commands calls, want 1", s.cmd, n)
		}
		dev, _, _ := strings.Cut(s.cmd.DeviceID, "_")
		for code, want := range s.want {
			if got := e.srv.DP(dev, code); got != want {
				t.Errorf("%s: %s = %v, want %v", s.cmd, code, got, want)
			}
		}
		mustRead(t, e, p, s.cmd.DeviceID) // the bridge's confirming read
	}

	before := commandCalls(e.srv)
	for _, bad := range []cloud.Command{
		lightCmd(bulb, true, cloud.LightSettings{ColorTempK: cloud.Int(6501)}),
		lightCmd(sw+"_switch_led_1", true, cloud.LightSettings{Color: &cloud.HS{Hue: 1}}),
		{DeviceID: bulb, Action: cloud.ActionSetRelay, On: true},
		lightCmd(sw, true, cloud.LightSettings{}),
	} {
		err := p.Apply(ctxT(t), bad)
		e.track(err)
		if !errorsIsAny(err, cloud.ErrOutOfRange, cloud.ErrUnsupported) {
			t.Errorf("Apply(%s) = %v, want out of range or unsupported", bad, err)
		}
	}
	if n := commandCalls(e.srv) - before; n != 0 {
		t.Errorf("%d commands calls for refused commands", n)
	}
}

func errorsIsAny(err error, targets ...error) bool {
	return slices.ContainsFunc(targets, func(t error) bool { return errors.Is(err, t) })
}

// A light changed in the app is pushed as the very state a poll then
// reads (one code path), for a bulb and a dimmer switch's channel.
func TestLights_PushAndPollPublishTheSameState(t *testing.T) {
	e := newEnv(t)
	bulb := e.srv.AddLight(testAccessID, "Desk Lamp", tuyatest.ColourLight)
	sw := e.srv.AddLight(testAccessID, "Landing", tuyatest.DimmerSwitch)
	p := e.provider(withPush(e, tuya.PushOn))
	mustList(t, e, p)
	mustRead(t, e, p, bulb, sw+"_switch_led_2")
	sink := runPush(t, p)
	sink.waitConnected(t, true)

	changes := []struct {
		id     string
		dev    string
		code   string
		value  any
		pushed func(cloud.LightState) bool
	}{
		{bulb, bulb, "switch_led", true, func(s cloud.LightState) bool { return s.On }},
		{bulb, bulb, "temp_value_v2", 1000, func(s cloud.LightState) bool { return s.ColorTempK != nil && *s.ColorTempK == 6500 }},
		{bulb, bulb, "colour_data_v2", map[string]int{"h": 200, "s": 500, "v": 250}, func(s cloud.LightState) bool { return s.Hue == nil }}, // still white
		{bulb, bulb, "work_mode", "colour", func(s cloud.LightState) bool { return s.Mode == cloud.ColorModeHS }},
		{sw + "_switch_led_2", sw, "bright_value_2", 505, func(s cloud.LightState) bool {
			return s.Brightness != nil && *s.Brightness == 50
		}},
	}
	for _, c := range changes {
		from := sink.mark()
		e.srv.SetDP(c.dev, c.code, c.value)
		pushed := sink.waitState(t, from, c.id, func(s cloud.State) bool { return s.Light != nil && c.pushed(*s.Light) })
		polled := mustRead(t, e, p, c.id)[c.id]
		if !reflect.DeepEqual(pushed.Light, polled.Light) {
			t.Errorf("%s=%v: pushed %s, polled %s", c.code, c.value, lightText(pushed.Light), lightText(polled.Light))
		}
	}
}

func lightText(s *cloud.LightState) string {
	if s == nil {
		return "nil"
	}
	f := func(p *float64) any {
		if p == nil {
			return "-"
		}
		return *p
	}
	k := any("-")
	if s.ColorTempK != nil {
		k = *s.ColorTempK
	}
	return fmt.Sprintf("{on:%v mode:%q bri:%v K:%v h:%v s:%v}", s.On, s.Mode, f(s.Brightness), k, f(s.Hue), f(s.Saturation))
}
