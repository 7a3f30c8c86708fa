package kasa_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

// passthroughs returns the requestData of every passthrough to id since
// the last call, decoded.
func passthroughs(t *testing.T, srv *kasatest.Server, id string, since *int) []map[string]map[string]json.RawMessage {
	t.Helper()
	reqs := srv.Requests()
	var out []map[string]map[string]json.RawMessage
	for _, r := range reqs[*since:] {
		if r.Method != "passthrough" || r.DeviceID != id {
			continue
		}
		var m map[string]map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r.RequestData), &m); err != nil {
			t.Fatalf("requestData %q: %v", r.RequestData, err)
		}
		out = append(out, m)
	}
	*since = len(reqs)
	return out
}

func lightCmd(id string, on bool, s cloud.LightSettings) cloud.Command {
	return cloud.Command{DeviceID: id, Action: cloud.ActionSetLight, On: on, Light: s}
}

// Capabilities come from the sysinfo flags only: the KL50 reports a hue
// and a color_temp but is neither colour nor tunable; each model has its
// own Kelvin range, an unknown one python-kasa's fallback (logged once).
func TestLights_CapabilitiesFromFlags(t *testing.T) {
	e := newEnv(t)
	ids := map[string]string{
		"dimmer":  e.srv.AddDimmer(testUser, "Hall", "HS220(US)"),
		"kp405":   e.srv.AddDimmer(testUser, "Garden", "KP405(US)"),
		"color":   e.srv.AddBulb(testUser, "Reading", "KL130(US)", true, true),
		"white":   e.srv.AddBulb(testUser, "Bedside", "KL120(EU)", false, true),
		"plain":   e.srv.AddBulb(testUser, "Porch", "KL50(US)", false, false),
		"unknown": e.srv.AddBulb(testUser, "New", "KL999(US)", false, true),
		"strip":   e.srv.AddLightStrip(testUser, "Shelf", "KL430(US)", 16, true),
		"old":     e.srv.AddLightStrip(testUser, "Desk", "KL400L5(US)", 5, false),
	}
	L, B, T, C, X, E := cloud.CapLight, cloud.CapBrightness, cloud.CapColorTemp, cloud.CapColor, cloud.CapTransition, cloud.CapEnergy
	want := map[string]struct {
		caps []cloud.Capability
		k    cloud.KelvinRange
	}{
		"dimmer":  {caps(L, B, X, cloud.CapRSSI, cloud.CapLED, cloud.CapReboot), cloud.KelvinRange{}},
		"kp405":   {caps(L, B, X, cloud.CapRSSI, cloud.CapLED, cloud.CapReboot), cloud.KelvinRange{}},
		"color":   {caps(L, B, T, C, X, E, cloud.CapRSSI), cloud.KelvinRange{Min: 2500, Max: 9000}},
		"white":   {caps(L, B, T, X, E, cloud.CapRSSI), cloud.KelvinRange{Min: 2700, Max: 6500}},
		"plain":   {caps(L, B, X, E, cloud.CapRSSI), cloud.KelvinRange{}},
		"unknown": {caps(L, B, T, X, E, cloud.CapRSSI), cloud.KelvinRange{Min: 2700, Max: 5000}},
		"strip":   {caps(L, B, T, C, E, cloud.CapRSSI), cloud.KelvinRange{Min: 2500, Max: 9000}},
		"old":     {caps(L, B, C, E, cloud.CapRSSI), cloud.KelvinRange{}},
	}
	p := e.provider()
	for range 2 {
		devs := mustList(t, e, p)
		for name, id := range ids {
			d := deviceByID(t, devs, id)
			if !slices.Equal(d.Capabilities, want[name].caps) || d.ColorTemp != want[name].k {
				t.Errorf("%s %s: caps %v, range %v; want %v, %v", name, d.Model, d.Capabilities, d.ColorTemp, want[name].caps, want[name].k)
			}
		}
	}
	if n := e.logs.FilterMessageSnippet("not in the colour temperature table").FilterField(zap.String("device_id", ids["unknown"])).Len(); n != 1 {
		t.Errorf("the unknown model's fallback range logged %d times, want once", n)
	}
	// The non-colour bulb's hue and color_temp are not reported.
	e.srv.SetLight(ids["plain"], kasatest.LightInfo{On: true, Brightness: 12, ColorTemp: 2700})
	st := mustRead(t, e, p, ids["plain"])[ids["plain"]]
	if l := st.Light; l == nil || !l.On || fval(l.Brightness) != "12" || l.Mode != cloud.ColorModeNone || l.ColorTempK != nil || l.Hue != nil {
		t.Errorf("KL50 read as %+v", l)
	}
}

// One passthrough per device per poll: get_sysinfo carries the light
// state, and a bulb's energy meter rides in the same request.
func TestLights_OneCallPerDeviceAndState(t *testing.T) {
	e := newEnv(t)
	dim := e.srv.AddDimmer(testUser, "Hall", "HS220(US)")
	bulb := e.srv.AddBulb(testUser, "Reading", "KL130(US)", true, true)
	strip := e.srv.AddLightStrip(testUser, "Shelf", "KL430(US)", 16, true)
	p := e.provider()
	mustList(t, e, p)
	e.srv.SetLight(bulb, kasatest.LightInfo{On: false, Brightness: 30, Hue: 240, Saturation: 100}) // off, in colour mode
	e.srv.SetLight(strip, kasatest.LightInfo{On: true, Brightness: 80, ColorTemp: 4000})
	e.srv.SetLight(dim, kasatest.LightInfo{On: true, Brightness: 25})
	e.srv.SetPower(strip, 10)
	e.srv.Tick(time.Hour)
	before := e.srv.Calls("passthrough")
	states := mustRead(t, e, p, dim, bulb, strip)
	if n := e.srv.Calls("passthrough") - before; n != 3 {
		t.Errorf("reading 3 lights made %d passthroughs, want 3", n)
	}
	if l := states[bulb].Light; l == nil || l.On || fval(l.Brightness) != "30" || l.Mode != cloud.ColorModeHS || fval(l.Hue) != "240" || fval(l.Saturation) != "100" {
		t.Errorf("bulb off in colour mode read as %+v (want dft_on_state's values)", l)
	}
	if st := states[bulb]; st.PowerW == nil || *st.PowerW != 0 || st.VoltageV != nil || st.CurrentA != nil {
		t.Errorf("bulb energy: power %s, voltage %s, current %s; want 0 W and no voltage or current", fval(st.PowerW), fval(st.VoltageV), fval(st.CurrentA))
	}
	if l := states[strip].Light; l == nil || !l.On || l.Mode != cloud.ColorModeTemp || *l.ColorTempK != 4000 || fval(l.Brightness) != "80" {
		t.Errorf("strip read as %+v", l)
	}
	if st := states[strip]; st.PowerW == nil || *st.PowerW != 8 || st.EnergyKWh == nil || *st.EnergyKWh != 0.008 {
		t.Errorf("strip at 80 %% of 10 W for an hour: %s W, %s kWh", fval(st.PowerW), fval(st.EnergyKWh))
	}
	if l := states[dim].Light; l == nil || !l.On || fval(l.Brightness) != "25" || states[dim].Relay != nil {
		t.Errorf("dimmer read as %+v, relay %v", l, states[dim].Relay)
	}
}

// A bulb: transition_light_state, ignore_default 0 only for a plain "on",
// colour with color_temp 0, transition_period in ms.
func TestLights_BulbCommands(t *testing.T) {
	e := newEnv(t)
	bulb := e.srv.AddBulb(testUser, "Reading", "KL130(US)", true, true)
	p := e.provider()
	mustList(t, e, p)
	tr := 1500 * time.Millisecond
	since := len(e.srv.Requests())
	for _, tc := range []struct {
		cmd  cloud.Command
		sent string
		want kasatest.LightInfo
	}{
		{lightCmd(bulb, true, cloud.LightSettings{}), `{"ignore_default":0,"on_off":1}`, kasatest.LightInfo{On: true, Brightness: 50, ColorTemp: 2700, Transition: -1}},
		{lightCmd(bulb, true, cloud.LightSettings{Brightness: cloud.Float(0.3), Transition: &tr}), `{"brightness":1,"ignore_default":1,"on_off":1,"transition_period":1500}`,
			kasatest.LightInfo{On: true, Brightness: 1, ColorTemp: 2700, Transition: 1500}},
		{lightCmd(bulb, true, cloud.LightSettings{Color: &cloud.HS{Hue: 359.6, Saturation: 60.4}}), `{"color_temp":0,"hue":360,"ignore_default":1,"on_off":1,"saturation":60}`,
			kasatest.LightInfo{On: true, Brightness: 1, Hue: 360, Saturation: 60, Transition: 1500}},
		{lightCmd(bulb, true, cloud.LightSettings{ColorTempK: cloud.Int(9000), Brightness: cloud.Float(100)}), `{"brightness":100,"color_temp":9000,"ignore_default":1,"on_off":1}`,
			kasatest.LightInfo{On: true, Brightness: 100, ColorTemp: 9000, Hue: 360, Saturation: 60, Transition: 1500}},
		{lightCmd(bulb, false, cloud.LightSettings{}), `{"ignore_default":1,"on_off":0}`,
			kasatest.LightInfo{On: false, Brightness: 100, ColorTemp: 9000, Hue: 360, Saturation: 60, Transition: 1500}},
	} {
		mustApply(t, e, p, tc.cmd)
		reqs := passthroughs(t, e.srv, bulb, &since)
		if len(reqs) != 1 || string(reqs[0]["smartlife.iot.smartbulb.lightingservice"]["transition_light_state"]) != tc.sent {
			t.Errorf("%s sent %v, want transition_light_state %s", tc.cmd, reqs, tc.sent)
		}
		if got := e.srv.Light(bulb); got != tc.want {
			t.Errorf("%s: the bulb is %+v, want %+v", tc.cmd, got, tc.want)
		}
	}
}

// A strip takes smartlife.iot.lightStrip.set_light_state (the bulb
// service fails on it) and no transition.
func TestLights_StripCommands(t *testing.T) {
	e := newEnv(t)
	strip := e.srv.AddLightStrip(testUser, "Shelf", "KL430(US)", 16, true)
	p := e.provider()
	mustList(t, e, p)
	since := len(e.srv.Requests())
	mustApply(t, e, p, lightCmd(strip, true, cloud.LightSettings{Color: &cloud.HS{Hue: 200, Saturation: 90}, Brightness: cloud.Float(40)}))
	reqs := passthroughs(t, e.srv, strip, &since)
	if len(reqs) != 1 || string(reqs[0]["smartlife.iot.lightStrip"]["set_light_state"]) != `{"brightness":40,"color_temp":0,"hue":200,"ignore_default":1,"on_off":1,"saturation":90}` {
		t.Errorf("strip command sent %v", reqs)
	}
	if got := e.srv.Light(strip); !got.On || got.Hue != 200 || got.Saturation != 90 || got.Brightness != 40 || got.ColorTemp != 0 {
		t.Errorf("the strip is %+v", got)
	}
	tr := time.Second
	err := p.Apply(ctxT(t), lightCmd(strip, true, cloud.LightSettings{Transition: &tr}))
	e.track(err)
	wantErrIs(t, err, cloud.ErrUnsupported)
	if reqs := passthroughs(t, e.srv, strip, &since); len(reqs) != 0 {
		t.Errorf("a refused transition reached the strip: %v", reqs)
	}
}

// A dimmer: on/off on the relay, brightness on the dimmer service in the
// same request, fades with set_dimmer_transition.
func TestLights_DimmerCommands(t *testing.T) {
	e := newEnv(t)
	dim := e.srv.AddDimmer(testUser, "Hall", "HS220(US)")
	p := e.provider()
	mustList(t, e, p)
	since := len(e.srv.Requests())
	tr, zero := 2*time.Second, time.Duration(0)
	for _, tc := range []struct {
		cmd  cloud.Command
		sent string
		want kasatest.LightInfo
	}{
		{lightCmd(dim, true, cloud.LightSettings{Brightness: cloud.Float(75.4)}),
			`{"smartlife.iot.dimmer":{"set_brightness":{"brightness":75}},"system":{"set_relay_state":{"state":1}}}`,
			kasatest.LightInfo{On: true, Brightness: 75, Transition: -1}},
		{lightCmd(dim, false, cloud.LightSettings{Transition: &tr}), `{"smartlife.iot.dimmer":{"set_dimmer_transition":{"brightness":0,"duration":2000}}}`,
			kasatest.LightInfo{On: false, Brightness: 75, Transition: 2000}},
		// Fading on without a brightness: the one last read.
		{lightCmd(dim, true, cloud.LightSettings{Transition: &tr}), `{"smartlife.iot.dimmer":{"set_dimmer_transition":{"brightness":75,"duration":2000}}}`,
			kasatest.LightInfo{On: true, Brightness: 75, Transition: 2000}},
		{lightCmd(dim, false, cloud.LightSettings{Transition: &zero}), `{"system":{"set_relay_state":{"state":0}}}`,
			kasatest.LightInfo{On: false, Brightness: 75, Transition: 2000}},
		{lightCmd(dim, true, cloud.LightSettings{}), `{"system":{"set_relay_state":{"state":1}}}`,
			kasatest.LightInfo{On: true, Brightness: 75, Transition: 2000}},
	} {
		mustApply(t, e, p, tc.cmd)
		reqs := passthroughs(t, e.srv, dim, &since)
		mustRead(t, e, p, dim) // as the bridge does after a command
		passthroughs(t, e.srv, dim, &since)
		if b, _ := json.Marshal(reqs); len(reqs) != 1 || string(b) != "["+tc.sent+"]" {
			t.Errorf("%s sent %s, want %s", tc.cmd, b, tc.sent)
		}
		if got := e.srv.Light(dim); got != tc.want {
			t.Errorf("%s: the dimmer is %+v, want %+v", tc.cmd, got, tc.want)
		}
	}
}

// A bulb whose energy meter does not answer when it is listed has no
// energy capability, and its reads do not ask for one.
func TestLights_BulbWithoutMeter(t *testing.T) {
	e := newEnv(t)
	bulb := e.srv.AddBulb(testUser, "Reading", "KL130(US)", true, true)
	e.srv.FailDeviceNext(bulb, "smartlife.iot.common.emeter", "get_realtime", -1)
	p := e.provider()
	if d := deviceByID(t, mustList(t, e, p), bulb); slices.Contains(d.Capabilities, cloud.CapEnergy) {
		t.Errorf("caps %v", d.Capabilities)
	}
	since := len(e.srv.Requests())
	mustRead(t, e, p, bulb)
	if reqs := passthroughs(t, e.srv, bulb, &since); len(reqs) != 1 || len(reqs[0]) != 1 {
		t.Errorf("read of a bulb without a meter sent %v", reqs)
	}
}

// Bulbs are renamed through smartlife.iot.common.system (python-kasa's
// IotBulb.set_alias); their system module refuses it.
func TestLights_RenameBulb(t *testing.T) {
	e := newEnv(t)
	bulb := e.srv.AddBulb(testUser, "Reading", "KL130(US)", true, true)
	p := e.provider()
	mustList(t, e, p)
	if err := p.SetAlias(ctxT(t), bulb, "Sofa Lamp"); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Alias(bulb); got != "Sofa Lamp" {
		t.Errorf("alias %q", got)
	}
}

// A bulb the list shows but that was never reached has no capabilities
// until it answers (a bulb and a strip take different services).
func TestLights_UnreachedBulbHasNoCapabilities(t *testing.T) {
	e := newEnv(t)
	bulb := e.srv.AddBulb(testUser, "Reading", "KL130(US)", true, true)
	e.srv.SetOnline(bulb, false)
	p := e.provider()
	if d := deviceByID(t, mustList(t, e, p), bulb); len(d.Capabilities) != 0 {
		t.Errorf("unreached bulb caps %v", d.Capabilities)
	}
	err := p.Apply(ctxT(t), lightCmd(bulb, true, cloud.LightSettings{}))
	e.track(err)
	wantErrIs(t, err, cloud.ErrUnsupported)
	e.srv.SetOnline(bulb, true)
	if d := deviceByID(t, mustList(t, e, p), bulb); !slices.Contains(d.Capabilities, cloud.CapColor) || !strings.HasPrefix(d.Model, "KL130") {
		t.Errorf("reached bulb caps %v", d.Capabilities)
	}
}

// Each energy meter lists what it reports (Device.Readings), and a read
// reports exactly that: a bulb power and energy (its meter has no voltage
// or current; Home Assistant was told of both, which stayed "unknown"),
// a metering plug and each outlet of a metering strip all four.
func TestLights_MetersListWhatTheyReport(t *testing.T) {
	e := newEnv(t)
	bulb := e.srv.AddBulb(testUser, "Reading", "KL130(US)", true, true)
	plug := e.srv.AddMeteredPlug(testUser, "Kettle", "KP115(US)", true)
	_, outlets := e.srv.AddStrip(testUser, "Desk", "HS300(US)", 2, true)
	e.srv.SetLight(bulb, kasatest.LightInfo{On: true, Brightness: 80})
	e.srv.SetRelay(plug, true)
	e.srv.SetPower(plug, 1800)
	p := e.provider()
	devs := mustList(t, e, p)
	all := cloud.AllReadings()
	for id, want := range map[string][]cloud.Reading{
		bulb: {cloud.ReadingPower, cloud.ReadingEnergy}, plug: all, outlets[0]: all, outlets[1]: all,
	} {
		if d := deviceByID(t, devs, id); !d.Has(cloud.CapEnergy) || !slices.Equal(d.Readings, want) {
			t.Errorf("%s (%s) lists %v %v, want energy with %v", d.Name, d.Model, d.Capabilities, d.Readings, want)
		}
	}
	st := mustRead(t, e, p, bulb)[bulb]
	if st.PowerW == nil || st.EnergyKWh == nil || st.VoltageV != nil || st.CurrentA != nil {
		t.Errorf("bulb read: power %v energy %v voltage %v current %v, want power and energy only", st.PowerW, st.EnergyKWh, st.VoltageV, st.CurrentA)
	}
}

// What a bulb's meter answered when it was listed decides its readings:
// power always, the energy total when the answer has one (either
// generation), never voltage or current.
func TestBulbReadings(t *testing.T) {
	pe := []cloud.Reading{cloud.ReadingPower, cloud.ReadingEnergy}
	for answer, want := range map[string][]cloud.Reading{
		`{"power_mw":10800,"total_wh":24,"err_code":0}`:                  pe,
		`{"power":10.8,"total":0.024}`:                                   pe,
		`{"power_mw":10800,"voltage_mv":0,"current_ma":0,"total_wh":24}`: pe,
		`{"power_mw":10800,"err_code":0}`:                                {cloud.ReadingPower},
	} {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(answer), &m); err != nil {
			t.Fatal(err)
		}
		if got := kasa.BulbReadings(m); !slices.Equal(got, want) {
			t.Errorf("%s: readings %v, want %v", answer, got, want)
		}
	}
}
