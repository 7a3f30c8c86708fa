package tuya_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
)

func TestNew_Validation(t *testing.T) {
	base := tuya.Options{Account: "home", AccessID: testAccessID, AccessSecret: testSecret, Region: "eu"}
	tests := []struct {
		name string
		mod  func(*tuya.Options)
		want string
	}{
		{"no account", func(o *tuya.Options) { o.Account = "" }, "account name is empty"},
		{"path in account", func(o *tuya.Options) { o.Account = "a/b" }, "path separator"},
		{"no access id", func(o *tuya.Options) { o.AccessID = "" }, "access_id"},
		{"no secret", func(o *tuya.Options) { o.AccessSecret = "" }, "access_secret is empty"},
		{"bad auth", func(o *tuya.Options) { o.Auth = "oauth" }, `auth "oauth"`},
		{"no region or endpoint", func(o *tuya.Options) { o.Region = "" }, "set a region"},
		{"bad region", func(o *tuya.Options) { o.Region = "mars" }, `unknown data centre "mars"`},
		{"bad endpoint", func(o *tuya.Options) { o.Endpoint = "ftp://x" }, "endpoint"},
		{"endpoint with user", func(o *tuya.Options) { o.Endpoint = "https://u:pw@x" }, "endpoint"},
		{"bad user id", func(o *tuya.Options) { o.UserID = "a/b" }, "user_id"},
		{"bad scale", func(o *tuya.Options) { o.ScaleOverrides = map[string]map[string]int{"x": {"cur_power": -1}} }, "scale override"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.mod(&o)
			_, err := tuya.New(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), "pw@") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
	if _, err := tuya.New(base); err != nil {
		t.Fatalf("valid options: %v", err)
	}
}

func TestOptions_StringMasksSecret(t *testing.T) {
	o := tuya.Options{Account: "home", AccessID: testAccessID, AccessSecret: testSecret, Region: "eu"}
	for _, s := range []string{o.String(), fmt.Sprintf("%v", o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o)} {
		if strings.Contains(s, testSecret) {
			t.Errorf("%q contains the secret", s)
		}
		if !strings.Contains(s, "AccessSecret:set") || !strings.Contains(s, testAccessID) {
			t.Errorf("%q", s)
		}
	}
}

func TestRegionEndpoint(t *testing.T) {
	want := map[string]string{
		"cn":   "https://openapi.tuyacn.com",
		"us":   "https://openapi.tuyaus.com",
		"us-e": "https://openapi-ueaz.tuyaus.com",
		"eu":   "https://openapi.tuyaeu.com",
		"eu-w": "https://openapi-weaz.tuyaeu.com",
		"in":   "https://openapi.tuyain.com",
		" EU ": "https://openapi.tuyaeu.com",
	}
	for r, u := range want {
		if got, err := tuya.RegionEndpoint(r); err != nil || got != u {
			t.Errorf("RegionEndpoint(%q) = %q, %v; want %q", r, got, err, u)
		}
	}
	if _, err := tuya.RegionEndpoint("sg"); err == nil || !strings.Contains(err.Error(), "cn, us, us-e, eu, eu-w, in") {
		t.Errorf("RegionEndpoint(sg) err = %v", err)
	}
}

func TestListDevices_PlugsStripsAndUnsupported(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testAccessID, "Kettle", true)
	plain := e.srv.AddPlug(testAccessID, "Lamp", false)
	sw := e.srv.AddSwitch(testAccessID, "Hall")
	strip, gangs := e.srv.AddStrip(testAccessID, "Desk", 2)
	light := e.srv.AddUnsupported(testAccessID, "Bulb", "xdd")
	p := e.provider()
	devs := mustList(t, e, p)

	if !slices.IsSortedFunc(devs, func(a, b cloud.Device) int { return strings.Compare(a.ID, b.ID) }) {
		t.Errorf("devices not sorted: %v", ids(devs))
	}
	if len(devs) != 6 {
		t.Fatalf("listed %v, want 6 devices", ids(devs))
	}
	k := deviceByID(t, devs, plug)
	if k.Name != "Kettle" || k.Provider != "tuya" || k.Account != "home" || k.Manufacturer != "Tuya" ||
		k.Model != "Smart Plug with Energy Monitoring" || !k.Online || k.ParentID != "" ||
		!slices.Equal(k.Capabilities, []cloud.Capability{cloud.CapRelay, cloud.CapEnergy}) {
		t.Errorf("metered plug = %+v", k)
	}
	if l := deviceByID(t, devs, plain); !slices.Equal(l.Capabilities, []cloud.Capability{cloud.CapRelay}) {
		t.Errorf("plain plug caps = %v", l.Capabilities)
	}
	if h := deviceByID(t, devs, sw); !slices.Equal(h.Capabilities, []cloud.Capability{cloud.CapRelay}) {
		t.Errorf("switch caps = %v", h.Capabilities)
	}
	s := deviceByID(t, devs, strip)
	if len(s.Capabilities) != 0 || s.ParentID != "" || s.Name != "Desk" {
		t.Errorf("strip = %+v", s)
	}
	for i, g := range gangs {
		if g != strip+fmt.Sprintf("_switch_%d", i+1) {
			t.Errorf("gang id %q", g)
		}
		d := deviceByID(t, devs, g)
		if d.ParentID != strip || d.Name != fmt.Sprintf("Desk %d", i+1) ||
			!slices.Equal(d.Capabilities, []cloud.Capability{cloud.CapRelay}) {
			t.Errorf("gang = %+v", d)
		}
		for _, c := range g {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				t.Errorf("gang id %q has %q", g, c)
			}
		}
	}
	for _, d := range devs {
		if d.ID == light {
			t.Errorf("unsupported light listed: %+v", d)
		}
	}

	rows, err := p.DeviceList(ctxT(t))
	e.track(err)
	if err != nil || len(rows) != 5 {
		t.Fatalf("DeviceList = %v, %v", rows, err)
	}
	for _, r := range rows {
		if want := r.ID != light; r.Supported != want {
			t.Errorf("row %+v: Supported = %v", r, r.Supported)
		}
		if r.ID == light && (r.Category != "xdd" || r.Name != "Bulb" || r.Model != "Smart Light" || !r.Online) {
			t.Errorf("light row = %+v", r)
		}
	}
}

func TestListDevices_PagesAcrossThreePages(t *testing.T) {
	e := newEnv(t)
	e.srv.SetPageSize(2)
	var want []string
	for i := range 5 {
		want = append(want, e.srv.AddPlug(testAccessID, fmt.Sprintf("Plug %d", i), false))
	}
	devs := mustList(t, e, e.provider())
	slices.Sort(want)
	if got := ids(devs); !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v", got, want)
	}
	if n := e.srv.Calls(listPath); n != 3 {
		t.Errorf("list calls = %d, want 3", n)
	}
	var keys []string
	for _, r := range e.srv.Requests() {
		if r.Path == listPath {
			keys = append(keys, strings.Join(r.Query["last_row_key"], ","))
		}
	}
	if keys[0] != "" || keys[1] == "" || keys[2] == "" || keys[1] == keys[2] {
		t.Errorf("last_row_key sequence %q", keys)
	}
}

func TestListDevices_UserIDList(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddPlug(testAccessID, "Lamp", false)
	uid := e.srv.UserID(testAccessID)
	p := e.provider(func(o *tuya.Options) { o.UserID = uid })
	deviceByID(t, mustList(t, e, p), id)
	if n := e.srv.Calls("/v1.0/users/" + uid + "/devices"); n != 1 {
		t.Errorf("users list calls = %d, want 1", n)
	}
	if n := e.srv.Calls(listPath); n != 0 {
		t.Errorf("project list calls = %d, want 0", n)
	}

	wrong := e.provider(func(o *tuya.Options) { o.UserID = "ay0000000000000wrong" })
	_, err := wrong.ListDevices(ctxT(t))
	e.track(err)
	wantErrIs(t, err, cloud.ErrAuth)
	if !strings.Contains(err.Error(), `region "eu"`) || !strings.Contains(err.Error(), e.srv.URL()) {
		t.Errorf("1106 error %q does not name the data centre", err)
	}
}

func TestListDevices_SpecificationsCached(t *testing.T) {
	e := newEnv(t)
	e.srv.AddPlug(testAccessID, "A", true)
	e.srv.AddPlug(testAccessID, "B", false)
	p := e.provider()
	mustList(t, e, p)
	mustList(t, e, p)
	const spec = "/v1.0/iot-03/devices/"
	specCalls := func() int {
		n := 0
		for _, r := range e.srv.Requests() {
			if strings.HasSuffix(r.Path, "/specification") && strings.HasPrefix(r.Path, spec) {
				n++
			}
		}
		return n
	}
	if n := specCalls(); n != 2 {
		t.Errorf("spec calls after two lists = %d, want 2", n)
	}
	e.srv.AddPlug(testAccessID, "C", false)
	mustList(t, e, p)
	if n := specCalls(); n != 3 {
		t.Errorf("spec calls after a new device = %d, want 3", n)
	}
	e.clock.Set(25 * time.Hour) // a day later, specifications are read again
	e.srv.SetClockOffset(25 * time.Hour)
	mustList(t, e, p)
	if n := specCalls(); n != 6 {
		t.Errorf("spec calls a day later = %d, want 6", n)
	}
}

// Specifications are kept in the state directory: a restarted provider
// (the same state directory) does not read them again until they are a
// day old; an unreadable file only costs reading them again.
func TestListDevices_SpecificationsSurviveARestart(t *testing.T) {
	e := newEnv(t)
	a := e.srv.AddPlug(testAccessID, "A", true)
	e.srv.AddStrip(testAccessID, "S", 2)
	specCalls := func() int { return e.srv.Calls("/v1.0/iot-03/devices/") - e.srv.Calls("/v1.0/iot-03/devices/status") }
	mustList(t, e, e.provider())
	if n := specCalls(); n != 2 {
		t.Fatalf("spec calls at the first start = %d, want 2", n)
	}
	restarted := e.provider()
	devs := mustList(t, e, restarted)
	if n := specCalls(); n != 2 {
		t.Errorf("spec calls after a restart = %d, want none more", n)
	}
	if len(devs) != 4 { // plug, strip and its two outlets: the layouts came back too
		t.Errorf("listed %v after the restart", ids(devs))
	}
	e.srv.SetPower(a, 123.4)
	e.srv.SetSwitch(a, "switch_1", true)
	if st := mustRead(t, e, restarted, a)[a]; st.PowerW == nil || !near(*st.PowerW, 123.4) {
		t.Errorf("power after the restart %s W, want 123.4 W", fval(st.PowerW))
	}
	e.clock.Set(25 * time.Hour)
	e.srv.SetClockOffset(25 * time.Hour)
	mustList(t, e, e.provider())
	if n := specCalls(); n != 4 {
		t.Errorf("spec calls after a restart a day later = %d, want 4", n)
	}

	if err := os.WriteFile(filepath.Join(e.dir, "tuya-home-specs.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustList(t, e, e.provider())
	if n := specCalls(); n != 6 {
		t.Errorf("spec calls after a damaged file = %d, want 6", n)
	}
}

// Each metering data point is optional: a plug lists the readings of
// those it has, from its specification or, without one, from the list's
// status, and its reads report those (a plug without cur_voltage and
// cur_current was announced to Home Assistant with voltage and current
// sensors that stayed "unknown").
func TestListDevices_ReadingsFromTheDataPoints(t *testing.T) {
	for _, withSpec := range []bool{true, false} {
		e := newEnv(t)
		full := e.srv.AddPlug(testAccessID, "Kettle", true)
		power := e.srv.AddPowerPlug(testAccessID, "Lamp")
		if !withSpec {
			e.srv.FailNext("/v1.0/iot-03/devices/", 2, 500)
		}
		p := e.provider()
		devs := mustList(t, e, p)
		pe := []cloud.Reading{cloud.ReadingPower, cloud.ReadingEnergy}
		for id, want := range map[string][]cloud.Reading{full: cloud.AllReadings(), power: pe} {
			if d := deviceByID(t, devs, id); !d.Has(cloud.CapEnergy) || !slices.Equal(d.Readings, want) {
				t.Errorf("spec %v: %s lists %v %v, want energy with %v", withSpec, d.Name, d.Capabilities, d.Readings, want)
			}
		}
		e.srv.SetPower(power, 60)
		mustApply(t, e, p, relayOn(power))
		st := mustRead(t, e, p, power)[power]
		if st.PowerW == nil || !near(*st.PowerW, 60) || st.EnergyKWh == nil || st.VoltageV != nil || st.CurrentA != nil {
			t.Errorf("spec %v: power %s energy %s voltage %s current %s, want power and energy only",
				withSpec, fval(st.PowerW), fval(st.EnergyKWh), fval(st.VoltageV), fval(st.CurrentA))
		}
	}
}

func TestListDevices_SpecificationFailureFallsBackToListCodes(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testAccessID, "Kettle", true)
	strip, gangs := e.srv.AddStrip(testAccessID, "Desk", 3)
	e.srv.FailNext("/v1.0/iot-03/devices/", 2, 500)
	p := e.provider()
	devs := mustList(t, e, p)
	if k := deviceByID(t, devs, plug); !slices.Equal(k.Capabilities, []cloud.Capability{cloud.CapRelay, cloud.CapEnergy}) {
		t.Errorf("plug caps without spec = %v", k.Capabilities)
	}
	deviceByID(t, devs, strip)
	deviceByID(t, devs, gangs[2])
	e.srv.SetPower(plug, 100)
	mustApply(t, e, p, relayOn(plug))
	st := mustRead(t, e, p, plug)[plug]
	if st.PowerW == nil || !near(*st.PowerW, 100) || st.VoltageV == nil || !near(*st.VoltageV, 230) {
		t.Errorf("default scales: power %s voltage %s", fval(st.PowerW), fval(st.VoltageV))
	}
}

func TestReadStates_ScalesAndUnits(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testAccessID, "Kettle", true)
	e.srv.SetPower(plug, 123.4)
	e.srv.SetSwitch(plug, "switch_1", true)
	p := e.provider()
	st := mustRead(t, e, p, plug)[plug]
	if !st.Online || st.Err != nil || st.Relay == nil || !*st.Relay {
		t.Fatalf("state = %+v", st)
	}
	// 123.4 W at scale 1; 230.0 V at scale 1; 123.4/230 A = 536.5 mA → 537 mA at scale 0.
	if st.PowerW == nil || !near(*st.PowerW, 123.4) {
		t.Errorf("power = %s, want 123.4", fval(st.PowerW))
	}
	if st.VoltageV == nil || !near(*st.VoltageV, 230.0) {
		t.Errorf("voltage = %s, want 230", fval(st.VoltageV))
	}
	if st.CurrentA == nil || !near(*st.CurrentA, 0.537) {
		t.Errorf("current = %s, want 0.537 A", fval(st.CurrentA))
	}
	if st.EnergyKWh == nil || *st.EnergyKWh != 0 {
		t.Errorf("energy = %s, want 0", fval(st.EnergyKWh))
	}
	if st.LED != nil || st.RSSI != nil {
		t.Errorf("LED/RSSI set: %+v", st)
	}
}

func TestReadStates_ScaleOverrideBeatsWrongSpec(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testAccessID, "Nedis", true)
	e.srv.SetPower(plug, 123.4)
	e.srv.SetSwitch(plug, "switch_1", true)
	e.srv.SetSpecScale(plug, "cur_power", 2)   // the spec lies: the device sends tenths
	e.srv.SetSpecScale(plug, "cur_voltage", 2) // 2300 read as 23.00 volts (2300 V would be refused as implausible)
	wrong := mustRead(t, e, e.provider(), plug)[plug]
	if wrong.PowerW == nil || !near(*wrong.PowerW, 12.34) || wrong.VoltageV == nil || !near(*wrong.VoltageV, 23) {
		t.Fatalf("with the wrong spec: power %s voltage %s", fval(wrong.PowerW), fval(wrong.VoltageV))
	}
	p := e.provider(func(o *tuya.Options) {
		o.ScaleOverrides = map[string]map[string]int{plug: {"cur_power": 1, "cur_voltage": 1}}
	})
	st := mustRead(t, e, p, plug)[plug]
	if st.PowerW == nil || !near(*st.PowerW, 123.4) || st.VoltageV == nil || !near(*st.VoltageV, 230) {
		t.Errorf("with overrides: power %s voltage %s", fval(st.PowerW), fval(st.VoltageV))
	}
}

func TestReadStates_EnergyAccumulatesAndSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testAccessID, "Heater", true)
	e.srv.SetPower(plug, 1000)
	meter := e.meter()
	p := e.provider(func(o *tuya.Options) { o.Energy = meter })
	mustApply(t, e, p, relayOn(plug))

	last := -1.0
	read := func(p *tuya.Provider, want float64) {
		t.Helper()
		st := mustRead(t, e, p, plug)[plug]
		if st.EnergyKWh == nil || !near(*st.EnergyKWh, want) {
			t.Fatalf("energy = %s, want %v", fval(st.EnergyKWh), want)
		}
		if *st.EnergyKWh < last {
			t.Fatalf("energy decreased: %v -> %v", last, *st.EnergyKWh)
		}
		last = *st.EnergyKWh
	}
	read(p, 0)
	e.srv.Tick(time.Hour) // 1 kWh: add_ele 1000 at scale 3
	read(p, 1)
	read(p, 1) // the delta was consumed by the previous read
	e.srv.Tick(30 * time.Minute)
	read(p, 1.5)
	if fi, err := os.Stat(e.dir + "/energy.json"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("energy file not flushed: %v", err)
	}

	// Restart: the total continues from the file.
	p2 := e.provider(func(o *tuya.Options) { o.Energy = e.meter() })
	read(p2, 1.5)
	e.srv.Tick(6 * time.Minute) // 0.1 kWh
	read(p2, 1.6)
}

func TestReadStates_StripGangs(t *testing.T) {
	e := newEnv(t)
	strip, gangs := e.srv.AddStrip(testAccessID, "Desk", 2)
	p := e.provider()
	mustApply(t, e, p, relayOn(gangs[1]))
	if e.srv.Switch(strip, "switch_1") || !e.srv.Switch(strip, "switch_2") {
		t.Fatalf("command on gang 2: switch_1=%v switch_2=%v", e.srv.Switch(strip, "switch_1"), e.srv.Switch(strip, "switch_2"))
	}
	states := mustRead(t, e, p, gangs[0], strip, gangs[1])
	if r := states[gangs[0]].Relay; r == nil || *r {
		t.Errorf("gang 1 relay = %v", r)
	}
	if r := states[gangs[1]].Relay; r == nil || !*r {
		t.Errorf("gang 2 relay = %v", r)
	}
	if s := states[strip]; !s.Online || s.Relay != nil || s.PowerW != nil {
		t.Errorf("strip state = %+v", s)
	}
	if n := e.srv.Calls(statusPath); n != 1 {
		t.Errorf("status calls = %d, want 1 (outlets are read with their strip)", n)
	}
	mustApply(t, e, p, cloud.Command{DeviceID: gangs[1], Action: cloud.ActionSetRelay, On: false})
	if e.srv.Switch(strip, "switch_2") {
		t.Error("gang 2 still on")
	}
	err := p.Apply(ctxT(t), relayOn(strip))
	e.track(err)
	wantErrIs(t, err, cloud.ErrUnsupported)
}

func TestReadStates_BatchesOf20(t *testing.T) {
	e := newEnv(t)
	var all []string
	for i := range 45 {
		all = append(all, e.srv.AddPlug(testAccessID, fmt.Sprintf("Plug %02d", i), i%2 == 0))
	}
	p := e.provider()
	mustList(t, e, p)
	before := e.srv.Calls(statusPath)
	states := mustRead(t, e, p, all...)
	if n := e.srv.Calls(statusPath) - before; n != 3 {
		t.Errorf("status calls for 45 devices = %d, want 3", n)
	}
	for _, r := range e.srv.Requests() {
		if r.Path == statusPath && len(strings.Split(r.Query["device_ids"][0], ",")) > 20 {
			t.Errorf("batch of %d ids", len(strings.Split(r.Query["device_ids"][0], ",")))
		}
	}
	for _, id := range all {
		if st := states[id]; !st.Online || st.Relay == nil {
			t.Errorf("%s: %+v", id, st)
		}
	}
	if n := e.srv.Answers(1101); n != 0 {
		t.Errorf("%d oversize batches", n)
	}
}

func TestReadStates_UnknownIDs(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddPlug(testAccessID, "Lamp", false)
	light := e.srv.AddUnsupported(testAccessID, "Bulb", "xdd")
	p := e.provider()
	states, err := p.ReadStates(ctxT(t), []string{"nope", id, light, id + "_switch_9"})
	e.track(err)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2, 3} {
		e.track(states[i].Err)
		wantErrIs(t, states[i].Err, cloud.ErrUnknownDevice)
	}
	if states[1].Err != nil || !states[1].Online {
		t.Errorf("known plug: %+v", states[1])
	}
	err = p.Apply(ctxT(t), relayOn("nope"))
	e.track(err)
	wantErrIs(t, err, cloud.ErrUnknownDevice)
}

func TestOffline_PerDeviceNotAnErrorStorm(t *testing.T) {
	e := newEnv(t)
	a := e.srv.AddPlug(testAccessID, "A", true)
	b := e.srv.AddPlug(testAccessID, "B", false)
	c := e.srv.AddPlug(testAccessID, "C", false)
	p := e.provider()
	mustList(t, e, p)
	e.srv.SetOnline(b, false)
	states := mustRead(t, e, p, a, b, c)
	if st := states[b]; st.Online || !errors.Is(st.Err, cloud.ErrDeviceOffline) {
		t.Errorf("offline plug: %+v", st)
	}
	for _, id := range []string{a, c} {
		if st := states[id]; !st.Online || st.Err != nil {
			t.Errorf("online plug %s: %+v", id, st)
		}
	}
	err := p.Apply(ctxT(t), relayOn(b))
	e.track(err)
	wantErrIs(t, err, cloud.ErrDeviceOffline)

	// Every device offline: the cloud answers 2001 for the batch.
	e.srv.SetOnline(a, false)
	e.srv.SetOnline(c, false)
	states = mustRead(t, e, p, a, b, c)
	for id, st := range states {
		if st.Online || !errors.Is(st.Err, cloud.ErrDeviceOffline) {
			t.Errorf("%s: %+v", id, st)
		}
	}
	if e.srv.Answers(2001) == 0 {
		t.Error("the fake never answered 2001")
	}

	// Back online: the next read sees it.
	e.srv.SetOnline(a, true)
	e.srv.SetOnline(b, true)
	e.srv.SetOnline(c, true)
	for id, st := range mustRead(t, e, p, a, b, c) {
		if !st.Online || st.Err != nil {
			t.Errorf("%s after coming back: %+v", id, st)
		}
	}
	// Devices the list reports offline are read in a batch of their own:
	// its 2001 neither touches the others nor costs a split.
	e.srv.SetOnline(b, false)
	e.srv.SetOnline(c, false)
	if d := deviceByID(t, mustList(t, e, p), c); d.Online {
		t.Error("list says online")
	}
	before := e.srv.Calls(statusPath)
	states = mustRead(t, e, p, a, b, c)
	if n := e.srv.Calls(statusPath) - before; n != 2 {
		t.Errorf("status calls = %d, want 2 (online batch, offline batch)", n)
	}
	if !states[a].Online || states[b].Online || states[c].Online {
		t.Errorf("online flags: a %v b %v c %v", states[a].Online, states[b].Online, states[c].Online)
	}
}

func TestErrors_MappingTable(t *testing.T) {
	tests := []struct {
		path     string // the call that fails
		code     int
		sentinel error
		hold     bool // the account pauses for an hour
		text     string
		stop     bool // the account stops until restart
	}{
		// A credential code from a business API may come from the token
		// or the request rather than the configured secret: an hour's
		// pause. From the token grant (signed with the access id and
		// secret alone) it means they are wrong: stopped until restart.
		{listPath, 1004, cloud.ErrAuth, true, "check access_id and access_secret", false},
		{"/v1.0/token", 1004, cloud.ErrAuth, true, "check access_id and access_secret", true},
		{"/v1.0/token", 1005, cloud.ErrAuth, true, "check access_id", true},
		{listPath, 1106, cloud.ErrAuth, false, `region "eu"`, false},
		{listPath, 2406, cloud.ErrAuth, true, `region "eu"`, false},
		{listPath, 28841002, cloud.ErrAuth, true, "subscription has expired", false},
		{listPath, 28841101, cloud.ErrAuth, true, "not authorized to call this API", false},
		{listPath, 1110, cloud.ErrRateLimited, false, "concurrent request", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.code, tc.path), func(t *testing.T) {
			e := newEnv(t)
			e.srv.AddPlug(testAccessID, "Lamp", false)
			p := e.provider()
			e.srv.FailNext(tc.path, 1, tc.code)
			_, err := p.ListDevices(ctxT(t))
			e.track(err)
			wantErrIs(t, err, tc.sentinel)
			if !strings.Contains(err.Error(), fmt.Sprint(tc.code)) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q lacks the code or %q", err, tc.text)
			}
			calls := e.srv.Calls("")
			_, err = p.ListDevices(ctxT(t))
			e.track(err)
			if tc.hold {
				wantErrIs(t, err, tc.sentinel)
				if n := e.srv.Calls(""); n != calls {
					t.Errorf("%d calls during the hold", n-calls)
				}
				e.clock.Set(61 * time.Minute)
				e.srv.SetClockOffset(61 * time.Minute)
				if tc.stop {
					// Wrong credentials: no further attempt in this run,
					// however long it lasts.
					e.clock.Set(90 * 24 * time.Hour)
					_, err = p.ListDevices(ctxT(t))
					e.track(err)
					wantErrIs(t, err, tc.sentinel)
					if n := e.srv.Calls(""); n != calls || !strings.Contains(err.Error(), "until kasa2mqtt is restarted") {
						t.Errorf("after 90 days: %d more calls, err %v", n-calls, err)
					}
					return
				}
				mustList(t, e, p)
			} else if err != nil {
				t.Errorf("second call: %v", err)
			}
		})
	}
}

func TestErrors_WrongSecretIsSignInvalid(t *testing.T) {
	e := newEnv(t)
	const wrong = "WrongSecretWrongSecret0123456789"
	p := e.provider(func(o *tuya.Options) { o.AccessSecret = wrong })
	_, err := p.ListDevices(ctxT(t))
	e.track(err)
	wantErrIs(t, err, cloud.ErrAuth)
	if !strings.Contains(err.Error(), "1004") || strings.Contains(err.Error(), wrong) {
		t.Errorf("err = %v", err)
	}
	for _, l := range e.logs.All() {
		if strings.Contains(l.Message+fmt.Sprint(l.ContextMap()), wrong) {
			t.Errorf("wrong secret logged: %s", l.Message)
		}
	}
}

func TestErrors_QuotaStopsCallsWithBackoff(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddPlug(testAccessID, "Lamp", false)
	p := e.provider()
	mustList(t, e, p)
	e.srv.SetQuotaExhausted(true)
	_, err := p.ReadStates(ctxT(t), []string{id})
	e.track(err)
	wantErrIs(t, err, cloud.ErrRateLimited)
	if !strings.Contains(err.Error(), "28841004") || !strings.Contains(err.Error(), "quota") || !strings.Contains(err.Error(), "6h0m0s") {
		t.Errorf("err = %v", err)
	}
	first := strings.TrimPrefix(err.Error(), "tuya: read states: ")
	calls := e.srv.Calls("")
	for _, f := range []func() error{
		func() error { _, err := p.ReadStates(ctxT(t), []string{id}); return err },
		func() error { _, err := p.ListDevices(ctxT(t)); return err },
		func() error { return p.Apply(ctxT(t), relayOn(id)) },
		func() error { _, err := p.DeviceList(ctxT(t)); return err },
	} {
		err := f()
		e.track(err)
		wantErrIs(t, err, cloud.ErrRateLimited)
		if !strings.Contains(err.Error(), first) {
			t.Errorf("error during back-off %q is not the same as %q", err, first)
		}
	}
	if n := e.srv.Calls(""); n != calls {
		t.Errorf("%d calls reached the cloud during the back-off", n-calls)
	}
	var logged bool
	for _, l := range e.logs.All() {
		logged = logged || strings.Contains(l.Message, "quota is used up")
	}
	if !logged {
		t.Error("no log line says why the account stopped")
	}

	// Still exhausted after 6h: the back-off doubles.
	e.clock.Set(6*time.Hour + time.Minute)
	e.srv.SetClockOffset(6*time.Hour + time.Minute)
	_, err = p.ReadStates(ctxT(t), []string{id})
	e.track(err)
	if !strings.Contains(err.Error(), "12h0m0s") {
		t.Errorf("second back-off: %v", err)
	}
	// Renewed: calls resume after the back-off.
	e.srv.SetQuotaExhausted(false)
	e.clock.Set(18*time.Hour + 2*time.Minute)
	e.srv.SetClockOffset(18*time.Hour + 2*time.Minute)
	mustRead(t, e, p, id)
}

func TestErrors_TransientFailuresArePerBatch(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddPlug(testAccessID, "Lamp", false)
	p := e.provider()
	mustList(t, e, p)

	e.srv.FailNext(statusPath, 1, 500)
	states, err := p.ReadStates(ctxT(t), []string{id})
	e.track(err)
	if err != nil || states[0].Err == nil || errors.Is(states[0].Err, cloud.ErrAuth) {
		t.Fatalf("500: %v, %+v", err, states)
	}
	e.track(states[0].Err)
	if !strings.Contains(states[0].Err.Error(), "500") {
		t.Errorf("500 error = %v", states[0].Err)
	}

	e.srv.FailHTTP(1, http.StatusServiceUnavailable)
	states, err = p.ReadStates(ctxT(t), []string{id})
	e.track(err)
	if err != nil || states[0].Err == nil {
		t.Fatalf("503: %v, %+v", err, states)
	}
	e.track(states[0].Err)

	e.srv.FailHTTP(1, http.StatusTooManyRequests)
	_, err = p.ReadStates(ctxT(t), []string{id})
	e.track(err)
	wantErrIs(t, err, cloud.ErrRateLimited)

	mustRead(t, e, p, id)
}

func TestErrors_HangHonoursContext(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddPlug(testAccessID, "Lamp", false)
	p := e.provider()
	mustList(t, e, p)
	e.srv.Hang(1)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.ReadStates(ctx, []string{id})
	e.track(err)
	wantErrIs(t, err, context.DeadlineExceeded)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("ReadStates took %v after the deadline", d)
	}
	err = p.Apply(ctx, relayOn(id))
	e.track(err)
	wantErrIs(t, err, context.DeadlineExceeded)
	mustRead(t, e, p, id)
}

func TestApply_UnsupportedActions(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddPlug(testAccessID, "Lamp", false)
	p := e.provider()
	for _, a := range []cloud.Action{cloud.ActionSetLED, cloud.ActionReboot, "dance"} {
		err := p.Apply(ctxT(t), cloud.Command{DeviceID: id, Action: a, On: true})
		e.track(err)
		wantErrIs(t, err, cloud.ErrUnsupported)
	}
	if n := e.srv.Calls("/v1.0/iot-03/devices/" + id + "/commands"); n != 0 {
		t.Errorf("%d commands sent", n)
	}
	mustApply(t, e, p, relayOn(id))
	mustApply(t, e, p, relayOn(id)) // idempotent
	if !e.srv.Switch(id, "switch_1") {
		t.Error("plug off")
	}
	sw := e.srv.AddSwitch(testAccessID, "Hall")
	mustList(t, e, p)
	mustApply(t, e, p, relayOn(sw))
	if !e.srv.Switch(sw, "switch") {
		t.Error("switch off")
	}
}

func TestApply_ReplayedAfterTokenExpiry(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddPlug(testAccessID, "Lamp", false)
	p := e.provider()
	mustList(t, e, p)
	e.srv.ExpireTokens()
	mustApply(t, e, p, relayOn(id))
	if !e.srv.Switch(id, "switch_1") || e.srv.Calls(refreshPath) != 1 {
		t.Errorf("switch %v, refreshes %d", e.srv.Switch(id, "switch_1"), e.srv.Calls(refreshPath))
	}
}

func TestProvider_KindAccount(t *testing.T) {
	e := newEnv(t)
	p := e.provider(func(o *tuya.Options) { o.StateDir = "" })
	if p.Kind() != "tuya" || p.Account() != "home" || p.TokenPath() != "" {
		t.Errorf("Kind %q Account %q TokenPath %q", p.Kind(), p.Account(), p.TokenPath())
	}
	var _ cloud.Provider = p
}

type countingObserver struct {
	mu     sync.Mutex
	calls  map[string]int
	tokens map[string]int
}

func (o *countingObserver) CloudCall(provider, account, method string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls[provider+" "+method]++
}

func (o *countingObserver) Login(provider, account, kind string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tokens[provider+" "+kind]++
}

func TestStatsAndObserver(t *testing.T) {
	e := newEnv(t)
	e.srv.AddPlug(testAccessID, "Kettle", true)
	obs := &countingObserver{calls: map[string]int{}, tokens: map[string]int{}}
	p := e.provider(func(o *tuya.Options) { o.Observer = obs })
	if st := p.Stats(); st.LoggedIn || st.CallsToday != 0 {
		t.Fatalf("fresh stats = %+v", st)
	}
	mustList(t, e, p)
	st := p.Stats()
	obs.mu.Lock()
	defer obs.mu.Unlock()
	total := 0
	for _, n := range obs.calls {
		total += n
	}
	if !st.LoggedIn || st.CallsToday == 0 || st.CallsToday != total {
		t.Fatalf("stats %+v, observer saw %d calls (%v)", st, total, obs.calls)
	}
	if obs.calls["tuya GET /v1.0/token?grant_type=1"] != 1 || obs.tokens["tuya login"] != 1 {
		t.Errorf("observer calls %v tokens %v", obs.calls, obs.tokens)
	}
	for m := range obs.calls {
		if strings.Contains(m, testSecret) || strings.ContainsAny(m, "0123456789") && strings.Contains(m, "devices/bf") {
			t.Errorf("metric label %q carries an id or a secret", m)
		}
	}
}
