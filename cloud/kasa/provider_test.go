package kasa_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
)

func caps(c ...cloud.Capability) []cloud.Capability { return c }

func TestListDevices_Mapping(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	metered := e.srv.AddMeteredPlug(testUser, "Washer", "HS110(EU)", false)
	strip, outlets := e.srv.AddStrip(testUser, "Desk Strip", "HS300(US)", 6, true)
	kp303, kpOutlets := e.srv.AddStrip(testUser, "Porch", "KP303(US)", 3, false)
	p := e.provider()
	devs := mustList(t, e, p)

	if len(devs) != 4+6+3 {
		t.Fatalf("listed %d devices, want 13", len(devs))
	}
	if !slices.IsSortedFunc(devs, func(a, b cloud.Device) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("devices not sorted by ID")
	}
	for _, d := range devs {
		if d.Provider != "kasa" || d.Account != "home" || d.Manufacturer != "TP-Link" || !d.Online {
			t.Errorf("device %s: %+v", d.ID, d)
		}
	}
	tests := []struct {
		id, name, model, parent string
		caps                    []cloud.Capability
	}{
		{plug, "Lamp", "HS103(US)", "", caps(cloud.CapRelay, cloud.CapRSSI, cloud.CapLED, cloud.CapReboot)},
		{metered, "Washer", "HS110(EU)", "", caps(cloud.CapRelay, cloud.CapEnergy, cloud.CapRSSI, cloud.CapLED, cloud.CapReboot)},
		{strip, "Desk Strip", "HS300(US)", "", caps(cloud.CapRSSI, cloud.CapLED, cloud.CapReboot)},
		{outlets[0], "Plug 1", "HS300(US)", strip, caps(cloud.CapRelay, cloud.CapEnergy)},
		{outlets[5], "Plug 6", "HS300(US)", strip, caps(cloud.CapRelay, cloud.CapEnergy)},
		{kp303, "Porch", "KP303(US)", "", caps(cloud.CapRSSI, cloud.CapLED, cloud.CapReboot)},
		{kpOutlets[2], "Plug 3", "KP303(US)", kp303, caps(cloud.CapRelay)},
	}
	for _, tc := range tests {
		d := deviceByID(t, devs, tc.id)
		if d.Name != tc.name || d.Model != tc.model || d.ParentID != tc.parent || !slices.Equal(d.Capabilities, tc.caps) {
			t.Errorf("%s: got name %q model %q parent %q caps %v; want %q %q %q %v",
				tc.id, d.Name, d.Model, d.ParentID, d.Capabilities, tc.name, tc.model, tc.parent, tc.caps)
		}
	}
	d := deviceByID(t, devs, plug)
	if d.MAC != "50:C7:BF:"+plug[34:36]+":"+plug[36:38]+":"+plug[38:40] {
		t.Errorf("MAC %q not normalised", d.MAC)
	}
	if d.FirmwareVersion == "" || d.HardwareVersion == "" {
		t.Errorf("versions missing: %+v", d)
	}
	o := deviceByID(t, devs, outlets[1])
	if s := deviceByID(t, devs, strip); o.FirmwareVersion != s.FirmwareVersion || o.HardwareVersion != s.HardwareVersion {
		t.Errorf("outlet versions %q/%q differ from the strip's", o.FirmwareVersion, o.HardwareVersion)
	}
	if n := e.srv.Calls("passthrough"); n != 4 {
		t.Errorf("ListDevices sent %d passthroughs, want one get_sysinfo per device (4)", n)
	}
}

func TestListDevices_AliasesAndUnsupportedTypes(t *testing.T) {
	e := newEnv(t)
	dish := e.srv.AddPlug(testUser, "Dishwasher", "HS103(US)")
	e.srv.EncodeAliasBase64(dish, true)
	kitchen := e.srv.AddPlug(testUser, "Kitchen", "HS103(US)")
	tapo := e.srv.AddRawDevice(testUser, map[string]any{
		"deviceId": "8022AABBCCDDEEFF00112233445566778899AABB", "alias": "VGFwbyBQbHVn",
		"deviceType": "SMART.TAPOPLUG", "deviceModel": "P110(UK)", "status": 1, "deviceMac": "a1b2c3d4e5f6",
	})
	p := e.provider()
	for range 3 {
		devs := mustList(t, e, p)
		if len(devs) != 2 {
			t.Fatalf("listed %d devices, want 2 (Tapo excluded)", len(devs))
		}
		if d := deviceByID(t, devs, dish); d.Name != "Dishwasher" {
			t.Errorf("base64 alias decoded to %q", d.Name)
		}
		if d := deviceByID(t, devs, kitchen); d.Name != "Kitchen" {
			t.Errorf("plain alias became %q", d.Name)
		}
	}
	logged := e.logs.FilterMessageSnippet("not supported").FilterField(zap.String("device_id", tapo))
	if logged.Len() != 1 {
		t.Errorf("unsupported device logged %d times, want once", logged.Len())
	}

	rows, err := p.DeviceList(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var tapoRow kasa.ListedDevice
	for _, r := range rows {
		if r.ID == tapo {
			tapoRow = r
		}
	}
	if tapoRow.Supported || tapoRow.Alias != "Tapo Plug" || tapoRow.DeviceType != "SMART.TAPOPLUG" ||
		!tapoRow.Online || tapoRow.MAC != "A1:B2:C3:D4:E5:F6" || tapoRow.Model != "P110(UK)" {
		t.Errorf("Tapo row = %+v", tapoRow)
	}
	if len(rows) != 3 {
		t.Errorf("DeviceList returned %d rows, want 3", len(rows))
	}
}

func TestListDevices_OfflineStripKeepsOutlets(t *testing.T) {
	e := newEnv(t)
	strip, outlets := e.srv.AddStrip(testUser, "Desk Strip", "HS300(US)", 6, true)
	neverSeen := e.srv.AddPlug(testUser, "Garage", "HS103(US)")
	e.srv.SetOnline(neverSeen, false)
	p := e.provider()
	mustList(t, e, p)

	e.srv.SetOnline(strip, false)
	e.srv.ResetCalls()
	devs := mustList(t, e, p)
	if len(devs) != 1+6+1 {
		t.Fatalf("listed %d devices, want 8: an offline strip keeps its outlets", len(devs))
	}
	for _, id := range append([]string{strip}, outlets...) {
		if d := deviceByID(t, devs, id); d.Online {
			t.Errorf("%s listed online", id)
		}
	}
	if d := deviceByID(t, devs, outlets[3]); d.ParentID != strip || !d.Has(cloud.CapEnergy) {
		t.Errorf("cached outlet = %+v", d)
	}
	if n := e.srv.Calls("passthrough"); n != 0 {
		t.Errorf("%d passthroughs to offline devices", n)
	}
	g := deviceByID(t, devs, neverSeen)
	if g.Online || !slices.Equal(g.Capabilities, caps(cloud.CapRelay, cloud.CapReboot)) {
		t.Errorf("never-seen offline plug = %+v", g)
	}

	// Offline reported by the passthrough while the list still says online.
	e.srv.SetOnline(strip, true)
	mustList(t, e, p)
	e.srv.FailNext("passthrough", 1, -20571)
	devs = mustList(t, e, p)
	if d := deviceByID(t, devs, outlets[0]); d.Online || len(devs) != 8 {
		t.Errorf("after -20571: outlet online %v, %d devices", d.Online, len(devs))
	}
}

func TestListDevices_FollowsTheAccount(t *testing.T) {
	e := newEnv(t)
	lamp := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	fan := e.srv.AddPlug(testUser, "Fan", "HS103(US)")
	p := e.provider()
	mustList(t, e, p)
	e.srv.RemoveDevice(fan)
	e.srv.Rename(lamp, "Reading Lamp")
	devs := mustList(t, e, p)
	if len(devs) != 1 || devs[0].Name != "Reading Lamp" {
		t.Errorf("devices = %+v", devs)
	}
	states, err := p.ReadStates(ctxT(t), []string{fan})
	if err != nil {
		t.Fatal(err)
	}
	wantErrIs(t, states[0].Err, cloud.ErrUnknownDevice)
}

func TestReadStates_Plugs(t *testing.T) {
	e := newEnv(t)
	a := e.srv.AddPlug(testUser, "A", "HS103(US)")
	b := e.srv.AddPlug(testUser, "B", "HS103(US)")
	c := e.srv.AddPlug(testUser, "C", "HS105(US)")
	e.srv.SetRelay(b, true)
	p := e.provider()
	mustApply(t, e, p, cloud.Command{DeviceID: c, Action: cloud.ActionSetLED, On: false})
	mustList(t, e, p)
	e.srv.ResetCalls()

	for poll := 1; poll <= 3; poll++ {
		states := mustRead(t, e, p, a, b, c)
		if n := e.srv.Calls("passthrough"); n != 3*poll {
			t.Errorf("poll %d: %d passthroughs, want one per plug", poll, n)
		}
		for id, want := range map[string][2]bool{a: {false, true}, b: {true, true}, c: {false, false}} {
			st := states[id]
			if st.Err != nil || !st.Online || st.Relay == nil || *st.Relay != want[0] || st.LED == nil || *st.LED != want[1] ||
				st.RSSI == nil || *st.RSSI != -52 || st.PowerW != nil || st.EnergyKWh != nil || st.ReadAt.IsZero() {
				t.Errorf("%s: %+v", id, st)
			}
		}
	}
	if n := e.srv.Calls("getDeviceList"); n != 0 {
		t.Errorf("ReadStates listed devices %d times", n)
	}
}

func TestReadStates_ListsFirstWhenNeeded(t *testing.T) {
	e := newEnv(t)
	a := e.srv.AddPlug(testUser, "A", "HS103(US)")
	p := e.provider()
	states := mustRead(t, e, p, a, "nope")
	if states[a].Err != nil || states[a].Relay == nil {
		t.Errorf("state = %+v", states[a])
	}
	wantErrIs(t, states["nope"].Err, cloud.ErrUnknownDevice)
}

func TestReadStates_MeteredPlugGenerations(t *testing.T) {
	e := newEnv(t)
	old := e.srv.AddMeteredPlug(testUser, "Washer", "HS110(EU)", false)
	gen2 := e.srv.AddMeteredPlug(testUser, "Dryer", "KP115(US)", true)
	for id, w := range map[string]float64{old: 1150, gen2: 60.5} {
		e.srv.SetRelay(id, true)
		e.srv.SetPower(id, w)
	}
	e.srv.SetEnergyTotal(old, 55.139)
	e.srv.SetEnergyTotal(gen2, 2.25)
	p := e.provider()
	mustList(t, e, p)
	e.srv.ResetCalls()
	states := mustRead(t, e, p, old, gen2)

	tests := []struct {
		id                    string
		power, volt, amp, kwh float64
	}{
		{old, 1150, 230.6, round6(1150 / 230.6), 55.139},
		{gen2, 60.5, 120.4, 0.502, 2.25},
	}
	for _, tc := range tests {
		st := states[tc.id]
		if st.Err != nil || st.PowerW == nil || st.VoltageV == nil || st.CurrentA == nil || st.EnergyKWh == nil ||
			!near(*st.PowerW, tc.power) || !near(*st.VoltageV, tc.volt) || !near(*st.CurrentA, tc.amp) || !near(*st.EnergyKWh, tc.kwh) {
			t.Errorf("%s: power %s voltage %s current %s energy %s err %v; want %v W %v V %v A %v kWh",
				tc.id, fval(st.PowerW), fval(st.VoltageV), fval(st.CurrentA), fval(st.EnergyKWh), st.Err,
				tc.power, tc.volt, tc.amp, tc.kwh)
		}
	}
	if n := e.srv.Calls("passthrough"); n != 2 {
		t.Errorf("%d passthroughs for 2 metered plugs, want 2", n)
	}
	for _, r := range e.srv.Requests() {
		if !strings.Contains(r.RequestData, `"get_sysinfo"`) || !strings.Contains(r.RequestData, `"emeter":{"get_realtime"`) {
			t.Errorf("requestData %s does not combine sysinfo and emeter", r.RequestData)
		}
	}
}

func round6(v float64) float64 { return float64(int64(v*1e6+0.5)) / 1e6 }

func TestReadStates_StripOutlets(t *testing.T) {
	e := newEnv(t)
	strip, outlets := e.srv.AddStrip(testUser, "Desk Strip", "HS300(US)", 6, true)
	kp, kpOutlets := e.srv.AddStrip(testUser, "Porch", "KP303(US)", 3, false)
	e.srv.SetRelay(outlets[2], true)
	e.srv.SetPower(outlets[2], 42)
	e.srv.SetEnergyTotal(outlets[2], 1.234)
	e.srv.SetRelay(kpOutlets[1], true)
	p := e.provider()
	mustList(t, e, p)

	e.srv.ResetCalls()
	states := mustRead(t, e, p, append([]string{strip}, outlets...)...)
	if n := e.srv.Calls("passthrough"); n != 7 {
		t.Errorf("HS300 with 6 outlets cost %d passthroughs, want 7", n)
	}
	if st := states[strip]; st.Err != nil || st.Relay != nil || st.LED == nil || st.RSSI == nil || st.PowerW != nil {
		t.Errorf("strip state = %+v", st)
	}
	on := states[outlets[2]]
	if on.Err != nil || on.Relay == nil || !*on.Relay || on.PowerW == nil || !near(*on.PowerW, 42) ||
		on.EnergyKWh == nil || !near(*on.EnergyKWh, 1.234) || on.VoltageV == nil || !near(*on.VoltageV, 120.4) {
		t.Errorf("outlet 3: relay %v power %s energy %s err %v", on.Relay, fval(on.PowerW), fval(on.EnergyKWh), on.Err)
	}
	off := states[outlets[0]]
	if off.Relay == nil || *off.Relay || off.PowerW == nil || *off.PowerW != 0 {
		t.Errorf("outlet 1: %+v", off)
	}

	e.srv.ResetCalls()
	mustRead(t, e, p, outlets[1], outlets[4])
	if n := e.srv.Calls("passthrough"); n != 3 {
		t.Errorf("2 HS300 outlets cost %d passthroughs, want 3", n)
	}

	e.srv.ResetCalls()
	states = mustRead(t, e, p, kpOutlets...)
	if n := e.srv.Calls("passthrough"); n != 1 {
		t.Errorf("KP303 with 3 outlets cost %d passthroughs, want 1", n)
	}
	if st := states[kpOutlets[1]]; st.Relay == nil || !*st.Relay || st.PowerW != nil {
		t.Errorf("KP303 outlet 2: %+v", st)
	}
	if st := states[kpOutlets[0]]; st.Relay == nil || *st.Relay {
		t.Errorf("KP303 outlet 1: %+v", st)
	}
	_ = kp
}

func TestReadStates_EnergyNeverDecreases(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddMeteredPlug(testUser, "Heater", "KP115(EU)", true)
	_, outlets := e.srv.AddStrip(testUser, "Strip", "HS300(EU)", 6, true)
	meter, err := cloud.OpenEnergyMeter(e.dir + "/energy.json")
	if err != nil {
		t.Fatal(err)
	}
	p := e.provider(func(o *kasa.Options) { o.Energy = meter })
	for _, id := range []string{plug, outlets[0]} {
		e.srv.SetRelay(id, true)
		e.srv.SetPower(id, 2000)
	}
	e.srv.SetEnergyTotal(plug, 10)

	last := map[string]float64{}
	check := func(step string) {
		t.Helper()
		states := mustRead(t, e, p, plug, outlets[0])
		for id, st := range states {
			if st.EnergyKWh == nil {
				t.Fatalf("%s: %s has no energy", step, id)
			}
			if *st.EnergyKWh < last[id] {
				t.Errorf("%s: %s energy went down from %v to %v", step, id, last[id], *st.EnergyKWh)
			}
			last[id] = *st.EnergyKWh
		}
	}
	check("start")
	e.srv.Tick(3_600_000_000_000) // 1 h at 2 kW
	check("after an hour")
	if !near(last[plug], 12) || !near(last[outlets[0]], 2) {
		t.Errorf("after an hour: %v", last)
	}
	e.srv.RebootEnergy(plug)
	e.srv.RebootEnergy(outlets[0])
	check("after the counters reset")
	if !near(last[plug], 12) || !near(last[outlets[0]], 2) {
		t.Errorf("after reset: %v", last)
	}
	e.srv.Tick(1_800_000_000_000) // 30 min
	check("after the reset and 30 min")
	if !near(last[plug], 13) || !near(last[outlets[0]], 3) {
		t.Errorf("after 30 more minutes: %v", last)
	}
	// Flushed once per ReadStates: a new meter on the same file agrees.
	reopened, err := cloud.OpenEnergyMeter(e.dir + "/energy.json")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := reopened.Total("kasa/" + plug); !ok || !near(got, 13) {
		t.Errorf("persisted total = %v, %v", got, ok)
	}
}

func TestReadStates_ImplausibleValuesDropped(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddMeteredPlug(testUser, "Broken", "HS110(EU)", false)
	e.srv.SetRelay(plug, true)
	p := e.provider()
	mustList(t, e, p)
	for _, w := range []float64{250_000, -5} {
		e.srv.SetPower(plug, w)
		st := mustRead(t, e, p, plug)[plug]
		if st.Err != nil || st.PowerW != nil || st.CurrentA != nil {
			t.Errorf("%v W: power %s current %s published", w, fval(st.PowerW), fval(st.CurrentA))
		}
		if st.VoltageV == nil || st.Relay == nil {
			t.Errorf("%v W: valid fields dropped too: %+v", w, st)
		}
	}
	if e.logs.FilterMessage("kasa energy value dropped").Len() < 2 {
		t.Error("dropped values not logged")
	}
}

func TestReadStates_Offline(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	strip, outlets := e.srv.AddStrip(testUser, "Strip", "KP303(US)", 3, false)
	p := e.provider()
	mustList(t, e, p)

	// The list still says online; the passthrough says -20571.
	e.srv.SetOnline(plug, false)
	e.srv.SetOnline(strip, false)
	states := mustRead(t, e, p, plug, outlets[0], strip)
	for id, st := range states {
		if st.Online || !errors.Is(st.Err, cloud.ErrDeviceOffline) {
			t.Errorf("%s: online %v err %v", id, st.Online, st.Err)
		}
	}
	// After a list refresh that says offline, the devices are still asked
	// (one call each): the list status is stale, and a device that comes
	// back must be seen at the next poll, not at the next list.
	mustList(t, e, p)
	e.srv.ResetCalls()
	states = mustRead(t, e, p, plug, outlets[1])
	for id, st := range states {
		if st.Online || !errors.Is(st.Err, cloud.ErrDeviceOffline) {
			t.Errorf("%s: online %v err %v", id, st.Online, st.Err)
		}
	}
	if n := e.srv.Calls("passthrough"); n != 2 {
		t.Errorf("%d passthroughs for two offline devices, want one each", n)
	}
	e.srv.SetOnline(plug, true)
	states = mustRead(t, e, p, plug)
	if st := states[plug]; !st.Online || st.Err != nil || st.Relay == nil {
		t.Errorf("plug back online but read as online=%v err=%v", st.Online, st.Err)
	}
}

func TestReadStates_RefusedAppServerURL(t *testing.T) {
	e := newEnv(t)
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		http.Error(w, "no", http.StatusTeapot)
	}))
	defer other.Close()

	evil := e.srv.AddPlug(testUser, "Evil", "HS103(US)")
	e.srv.SetAppServerURL(evil, "https://evil.example.com")
	sneaky := e.srv.AddPlug(testUser, "Sneaky", "HS103(US)")
	e.srv.SetAppServerURL(sneaky, other.URL) // loopback, but another port
	fine := e.srv.AddPlug(testUser, "Fine", "HS103(US)")
	p := e.provider()
	devs := mustList(t, e, p)
	if len(devs) != 3 {
		t.Errorf("listed %d devices", len(devs))
	}
	for range 2 {
		states := mustRead(t, e, p, evil, sneaky, fine)
		for _, id := range []string{evil, sneaky} {
			wantErrIs(t, states[id].Err, cloud.ErrRefused)
		}
		if states[fine].Err != nil {
			t.Errorf("fine plug: %v", states[fine].Err)
		}
		err := p.Apply(ctxT(t), cloud.Command{DeviceID: evil, Action: cloud.ActionSetRelay, On: true})
		e.track(err)
		wantErrIs(t, err, cloud.ErrRefused)
	}
	if hosts := e.srv.ForeignHosts(); len(hosts) != 0 {
		t.Errorf("requests were attempted to %v", hosts)
	}
	if n := otherHits.Load(); n != 0 {
		t.Errorf("the other server got %d requests", n)
	}
	for _, r := range e.srv.Requests() {
		if r.DeviceID == evil || r.DeviceID == sneaky {
			t.Errorf("a passthrough for a refused device was sent: %+v", r)
		}
	}
	logged := e.logs.FilterMessageSnippet("appServerUrl refused")
	if logged.Len() != 2 {
		t.Errorf("refusals logged %d times, want once per device", logged.Len())
	}
	for _, entry := range logged.All() {
		if u, _ := entry.ContextMap()["url"].(string); u != "https://evil.example.com" && u != other.URL {
			t.Errorf("refusal logged with url %q", u)
		}
	}
}

func TestApply(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	strip, outlets := e.srv.AddStrip(testUser, "Strip", "HS300(US)", 6, true)
	p := e.provider()
	mustList(t, e, p)

	mustApply(t, e, p, cloud.Command{DeviceID: plug, Action: cloud.ActionSetRelay, On: true})
	if !e.srv.Relay(plug) {
		t.Error("plug not switched on")
	}
	mustApply(t, e, p, cloud.Command{DeviceID: plug, Action: cloud.ActionSetRelay, On: true}) // idempotent
	if !e.srv.Relay(plug) {
		t.Error("repeated on toggled the plug")
	}
	mustApply(t, e, p, cloud.Command{DeviceID: plug, Action: cloud.ActionSetRelay, On: false})
	if e.srv.Relay(plug) {
		t.Error("plug not switched off")
	}

	mustApply(t, e, p, cloud.Command{DeviceID: outlets[3], Action: cloud.ActionSetRelay, On: true})
	for i, id := range outlets {
		if e.srv.Relay(id) != (i == 3) {
			t.Errorf("outlet %d relay = %v after switching outlet 4 on", i+1, e.srv.Relay(id))
		}
	}
	reqs := e.srv.Requests()
	last := reqs[len(reqs)-1]
	if last.DeviceID != strip || !strings.Contains(last.RequestData, `"child_ids":["`+outlets[3]+`"]`) {
		t.Errorf("outlet command sent as %+v", last)
	}

	e.srv.ResetCalls()
	mustApply(t, e, p, cloud.Command{DeviceID: plug, Action: cloud.ActionSetLED, On: false})
	if e.srv.LED(plug) {
		t.Error("LED still lit after LED off")
	}
	if rd := e.srv.Requests()[0].RequestData; rd != `{"system":{"set_led_off":{"off":1}}}` {
		t.Errorf("LED off sent as %s", rd)
	}
	mustApply(t, e, p, cloud.Command{DeviceID: plug, Action: cloud.ActionSetLED, On: true})
	if !e.srv.LED(plug) {
		t.Error("LED not lit after LED on")
	}
	if rd := e.srv.Requests()[1].RequestData; rd != `{"system":{"set_led_off":{"off":0}}}` {
		t.Errorf("LED on sent as %s", rd)
	}

	mustApply(t, e, p, cloud.Command{DeviceID: strip, Action: cloud.ActionReboot})
	if n := e.srv.Reboots(strip); n != 1 {
		t.Errorf("strip reboots = %d", n)
	}

	// Refused without contacting the cloud.
	e.srv.ResetCalls()
	for _, cmd := range []cloud.Command{
		{DeviceID: strip, Action: cloud.ActionSetRelay, On: true}, // would switch all outlets
		{DeviceID: outlets[0], Action: cloud.ActionSetLED, On: true},
		{DeviceID: outlets[0], Action: cloud.ActionReboot},
		{DeviceID: plug, Action: "toggle"},
	} {
		err := p.Apply(ctxT(t), cmd)
		e.track(err)
		wantErrIs(t, err, cloud.ErrUnsupported)
	}
	err := p.Apply(ctxT(t), cloud.Command{DeviceID: "nope", Action: cloud.ActionReboot})
	wantErrIs(t, err, cloud.ErrUnknownDevice)
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("%d requests for refused commands", n)
	}
}

func TestApply_DeviceVerdicts(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	p := e.provider()
	mustList(t, e, p)

	e.srv.FailDeviceNext(plug, "system", "set_relay_state", -3)
	err := p.Apply(ctxT(t), cloud.Command{DeviceID: plug, Action: cloud.ActionSetRelay, On: true})
	e.track(err)
	var de *kasa.DeviceError
	if !errors.As(err, &de) || de.Code != -3 || !strings.Contains(err.Error(), "system.set_relay_state") {
		t.Errorf("err = %v, want a DeviceError naming system.set_relay_state", err)
	}
	if e.srv.Relay(plug) {
		t.Error("relay switched although the device refused")
	}

	e.srv.FailDeviceNext(plug, "system", "set_relay_state", -2)
	err = p.Apply(ctxT(t), cloud.Command{DeviceID: plug, Action: cloud.ActionSetRelay, On: true})
	wantErrIs(t, err, cloud.ErrUnsupported)
	if n := e.srv.Calls("login") + e.srv.Calls("refreshToken"); n != 1 {
		t.Errorf("a device verdict caused a re-login (%d auth calls)", n)
	}

	e.srv.SetOnline(plug, false)
	err = p.Apply(ctxT(t), cloud.Command{DeviceID: plug, Action: cloud.ActionSetRelay, On: true})
	wantErrIs(t, err, cloud.ErrDeviceOffline)
}

func TestSetAlias(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	strip, outlets := e.srv.AddStrip(testUser, "Strip", "KP303(US)", 3, false)
	p := e.provider()
	mustList(t, e, p)

	for id, alias := range map[string]string{plug: "Küchenlampe 💡", outlets[1]: "Kettle"} {
		if err := p.SetAlias(ctxT(t), id, alias); err != nil {
			t.Fatalf("SetAlias(%s): %v", id, err)
		}
		if got := e.srv.Alias(id); got != alias {
			t.Errorf("fake alias of %s = %q, want %q", id, got, alias)
		}
	}
	if e.srv.Alias(strip) != "Strip" || e.srv.Alias(outlets[0]) != "Plug 1" {
		t.Error("renaming an outlet renamed something else")
	}
	devs := mustList(t, e, p)
	if deviceByID(t, devs, plug).Name != "Küchenlampe 💡" || deviceByID(t, devs, outlets[1]).Name != "Kettle" {
		t.Errorf("names after rename: %+v", devs)
	}
	for _, bad := range []string{"", "   ", "tab\there"} {
		if err := p.SetAlias(ctxT(t), plug, bad); err == nil {
			t.Errorf("SetAlias(%q) accepted", bad)
		}
	}
}

func TestHTTPFailures(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	p := e.provider()
	mustList(t, e, p)

	e.srv.FailHTTP(1, http.StatusServiceUnavailable)
	_, err := p.ListDevices(ctxT(t))
	e.track(err)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("err = %v, want one naming HTTP 503", err)
	}
	mustList(t, e, p)

	e.srv.FailHTTP(1, http.StatusTooManyRequests)
	states := mustRead(t, e, p, plug)
	wantErrIs(t, states[plug].Err, cloud.ErrRateLimited)

	e.srv.FailNext("passthrough", 1, -20004)
	states = mustRead(t, e, p, plug)
	wantErrIs(t, states[plug].Err, cloud.ErrRateLimited)
	if n := e.srv.Calls("login"); n != 1 {
		t.Errorf("errors caused re-logins: %d logins", n)
	}
}

func TestCancellation(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	p := e.provider()
	mustList(t, e, p)
	ctx, cancel := contextWithCancel(t)
	cancel()
	_, err := p.ReadStates(ctx, []string{plug})
	wantErrIs(t, err, errCanceled)
	_, err = p.ListDevices(ctx)
	wantErrIs(t, err, errCanceled)
	err = p.Apply(ctx, cloud.Command{DeviceID: plug, Action: cloud.ActionReboot})
	wantErrIs(t, err, errCanceled)
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	e := newEnv(t)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, e.srv.URL(), http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	p := e.provider(func(o *kasa.Options) { o.URL = redirector.URL })
	_, err := p.ListDevices(ctxT(t))
	e.track(err)
	if err == nil || !strings.Contains(err.Error(), "307") {
		t.Errorf("err = %v, want the 307 status", err)
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("the redirect was followed: %d requests reached the target", n)
	}
}

func TestProvider_TLSCloud(t *testing.T) {
	srv := kasatestNewTLS(t)
	srv.AddAccount(testUser, testPassword)
	plug := srv.AddMeteredPlug(testUser, "Heater", "KP115(EU)", true)
	p, err := kasa.New(kasa.Options{Account: "tls", Username: testUser, Password: testPassword,
		URL: srv.URL(), HTTPClient: srv.Client(), StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(ctxT(t), cloud.Command{DeviceID: plug, Action: cloud.ActionSetRelay, On: true}); err != nil {
		t.Fatal(err)
	}
	states, err := p.ReadStates(ctxT(t), []string{plug})
	if err != nil || states[0].Err != nil || states[0].Relay == nil || !*states[0].Relay || states[0].EnergyKWh == nil {
		t.Errorf("state over TLS: %+v, %v", states, err)
	}
}

// recordingObserver counts what a provider reports for metrics.
type recordingObserver struct {
	mu     sync.Mutex
	calls  map[string]int // method/result
	logins map[string]int
}

func (o *recordingObserver) CloudCall(provider, account, method string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	res := "ok"
	if err != nil {
		res = "error"
	}
	o.calls[provider+"/"+account+"/"+method+"/"+res]++
}

func (o *recordingObserver) Login(provider, account, kind string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.logins[provider+"/"+account+"/"+kind]++
}

func TestProvider_StatsObserverAndRename(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	obs := &recordingObserver{calls: map[string]int{}, logins: map[string]int{}}
	p := e.provider(func(o *kasa.Options) { o.Observer = obs })
	if st := p.Stats(); st.LoggedIn || st.CallsToday != 0 {
		t.Fatalf("fresh provider stats = %+v", st)
	}
	mustList(t, e, p)
	// login + getDeviceList + one get_sysinfo
	if st := p.Stats(); !st.LoggedIn || st.CallsToday != 3 {
		t.Fatalf("stats after one listing = %+v, want logged in with 3 calls", st)
	}
	if err := p.Rename(ctxT(t), plug, "Reading Lamp"); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Alias(plug); got != "Reading Lamp" {
		t.Fatalf("cloud alias = %q after Rename", got)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	want := map[string]int{"kasa/home/login/ok": 1, "kasa/home/getDeviceList/ok": 1, "kasa/home/passthrough/ok": 2}
	for k, n := range want {
		if obs.calls[k] != n {
			t.Errorf("observer calls[%s] = %d, want %d (all: %v)", k, obs.calls[k], n, obs.calls)
		}
	}
	if obs.logins["kasa/home/login"] != 1 {
		t.Errorf("observer logins = %v", obs.logins)
	}
}
