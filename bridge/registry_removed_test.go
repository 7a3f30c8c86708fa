package bridge

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/discovery"
)

// retainedComponents returns the components of the device's retained
// discovery payload: id → the component's JSON.
func (h *harness) retainedComponents(id string) map[string]string {
	h.t.Helper()
	var p struct {
		Components map[string]json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal([]byte(h.pub.retained["homeassistant/device/kasa_"+id+"/config"]), &p); err != nil {
		h.t.Fatalf("discovery of %s: %v", id, err)
	}
	out := map[string]string{}
	for k, v := range p.Components {
		out[k] = string(v)
	}
	return out
}

// stubs returns the platform-only components among comps.
func stubs(comps map[string]string) map[string]string {
	out := map[string]string{}
	for id, c := range comps {
		var m map[string]any
		if json.Unmarshal([]byte(c), &m) == nil && len(m) == 1 {
			out[id] = c
		}
	}
	return out
}

// A device listed before it could be reached (a plain plug: relay, reboot)
// and then learned to be a dimmer loses its switch: the next discovery
// payload names it with its platform only, and so does every payload
// until the broker has accepted one; later payloads leave it out, and
// bridge-devices.json stops listing it.
func TestRegistry_LostComponentsAreRemovedOnce(t *testing.T) {
	h := newHarness(t, Options{HomeAssistant: true}, nil, home)
	unreached := cloud.Device{ID: "D", Provider: "kasa", Name: "Hall", Model: "HS220(US)", Online: true,
		Capabilities: []cloud.Capability{cloud.CapRelay, cloud.CapLED}}
	h.list(home, unreached)
	h.brokerAccepts()
	if got := h.saved["kasa/D"].Components; !slices.Equal(got, []string{"led", "switch"}) {
		t.Fatalf("recorded components %v, want [led switch]", got)
	}

	h.list(home, dimmer("D", "Hall"))
	want := map[string]string{"switch": `{"platform":"switch"}`}
	if got := stubs(h.retainedComponents("D")); !maps.Equal(got, want) {
		t.Fatalf("stubs %v, want %v", got, want)
	}
	if got := h.saved["kasa/D"].Components; !slices.Equal(got, []string{"led", "light", "switch"}) {
		t.Errorf("recorded before the broker accepted the stub: %v, want the switch still listed", got)
	}
	// Not accepted yet (the broker was away): a replay carries it again.
	h.pub.removals = nil
	h.apply(h.reg.replay("connected"))
	last := h.pub.replays[len(h.pub.replays)-1]
	if len(last.discovery) != 1 || last.discovery[0].removal == nil || !slices.Equal(last.discovery[0].removal.ids, []string{"switch"}) {
		t.Fatalf("the replay's discovery does not carry the stub: %+v", last.discovery)
	}

	h.brokerAccepts()
	if got := h.saved["kasa/D"].Components; !slices.Equal(got, []string{"led", "light"}) {
		t.Errorf("recorded after the broker accepted the stub: %v", got)
	}
	writes := len(h.pub.writes)
	h.list(home, dimmer("D", "Hall"))
	if got := h.retainedComponents("D"); len(stubs(got)) != 0 || got["light"] == "" {
		t.Errorf("the payload after the accepted stub: %v", got)
	}
	if len(h.pub.writes) == writes {
		t.Error("the discovery without the stub was not published")
	}
	h.apply(h.reg.replay("home assistant restarted"))
	if r := h.pub.replays[len(h.pub.replays)-1].discovery[0].removal; r != nil {
		t.Errorf("a later replay carries stubs %v", r.ids)
	}
}

// A component that comes back before its stub was accepted is announced
// whole again; an acknowledgement of an older set of stubs changes
// nothing.
func TestRegistry_LostComponentsComeBack(t *testing.T) {
	h := newHarness(t, Options{HomeAssistant: true}, nil, home)
	full := plug("P", "Lamp", true)
	bare := full
	bare.Capabilities = []cloud.Capability{cloud.CapRelay}
	h.list(home, full)
	h.list(home, bare)
	if got := stubs(h.retainedComponents("P")); !maps.Equal(got, map[string]string{"led": `{"platform":"switch"}`}) {
		t.Fatalf("stubs %v, want the LED switch", got)
	}
	older := h.pub.removals
	h.pub.removals = nil
	h.list(home, full)
	if got := h.retainedComponents("P"); len(stubs(got)) != 0 || len(got["led"]) < 40 {
		t.Fatalf("the LED is back: %v", got)
	}
	bare.Capabilities = nil // connectivity only: the switch goes too
	h.list(home, bare)
	wantStubs := map[string]string{"led": `{"platform":"switch"}`, "switch": `{"platform":"switch"}`}
	if got := stubs(h.retainedComponents("P")); !maps.Equal(got, wantStubs) {
		t.Fatalf("stubs %v, want %v", got, wantStubs)
	}
	for _, rm := range older {
		h.apply(h.reg.handleRemovalSent(removalSentEvent{rm}))
	}
	h.list(home, bare)
	if got := stubs(h.retainedComponents("P")); !maps.Equal(got, wantStubs) {
		t.Errorf("after an acknowledgement of an older set: stubs %v, want %v", got, wantStubs)
	}
}

// bridge-devices.json from an earlier run: its components tell which
// stubs the first payload needs. A record of a release that did not keep
// them is a switch-era record: a light then gets a stub for every
// component the bridge has used that it lacks (Home Assistant ignores
// stubs of components it does not have); an energy meter had all four
// sensors then, and gets stubs for those of readings it does not report
// (a KL130 was announced with voltage and current that stayed unknown);
// other devices are as they were.
func TestRegistry_ComponentsFromThePreviousRun(t *testing.T) {
	bulb := colorBulb("B", "Hall")
	bulb.Capabilities = append(slices.Clone(bulb.Capabilities), cloud.CapEnergy)
	bulb.Readings = []cloud.Reading{cloud.ReadingPower, cloud.ReadingEnergy}
	powerPlug := plug("P", "Hall", true)
	powerPlug.Capabilities = append(slices.Clone(powerPlug.Capabilities), cloud.CapEnergy)
	powerPlug.Readings = []cloud.Reading{cloud.ReadingPower, cloud.ReadingEnergy}
	meter := powerPlug
	meter.Readings = cloud.AllReadings()
	rec := func(id string, comps []string) knownDevice {
		return knownDevice{Account: "home", Provider: "kasa", ID: id, Topic: "hall",
			ConfigTopic: "homeassistant/device/kasa_" + id + "/config", Components: comps}
	}
	for _, tc := range []struct {
		name  string
		rec   knownDevice
		dev   cloud.Device
		stubs []string
	}{
		{"a dimmer from before lights", rec("D", nil), dimmer("D", "Hall"),
			[]string{"connectivity", "current", "energy", "power", "restart", "rssi", "switch", "voltage"}},
		{"a dimmer recorded as a switch", rec("D", []string{"led", "switch"}), dimmer("D", "Hall"), []string{"switch"}},
		{"a dimmer recorded as a light", rec("D", []string{"led", "light"}), dimmer("D", "Hall"), nil},
		{"a plug from before lights", rec("P", nil), plug("P", "Hall", true), nil},
		{"a bulb announced with four energy sensors", rec("B", []string{"current", "energy", "light", "power", "rssi", "voltage"}), bulb,
			[]string{"current", "voltage"}},
		{"a plug metering power and energy, from before lights", rec("P", nil), powerPlug, []string{"current", "voltage"}},
		{"a plug metering all four, from before lights", rec("P", nil), meter, nil},
		{"under another discovery topic", func() knownDevice {
			kd := rec("D", []string{"switch"})
			kd.ConfigTopic = "ha/device/kasa_D/config"
			return kd
		}(), dimmer("D", "Hall"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{HomeAssistant: true}, map[string]knownDevice{"kasa/" + tc.rec.ID: tc.rec}, home)
			h.list(home, tc.dev)
			if got := slices.Sorted(maps.Keys(stubs(h.retainedComponents(tc.dev.ID)))); !slices.Equal(got, tc.stubs) {
				t.Errorf("stubs %v, want %v", got, tc.stubs)
			}
			h.brokerAccepts()
			if got, want := h.saved["kasa/"+tc.dev.ID].Components, discovery.ComponentIDs(tc.dev); !slices.Equal(got, want) {
				t.Errorf("recorded %v once accepted, want %v", got, want)
			}
		})
	}
}

// Without discovery nothing is announced: the record lists no components
// (and is not a record of an older release).
func TestRegistry_NoComponentsWithoutDiscovery(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, dimmer("D", "Hall"))
	if got := h.saved["kasa/D"].Components; got == nil || len(got) != 0 {
		t.Errorf("recorded %#v, want an empty list", got)
	}
	if len(h.pub.removals) != 0 {
		t.Errorf("stubs without discovery: %v", h.pub.removals)
	}
}
