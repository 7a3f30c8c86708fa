package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Home Assistant deletes a component of a device-based discovery payload
// only when a payload names it with its platform alone: one left out
// lingers as a dead entity. These tests follow a component that
// disappears to Home Assistant and out of bridge-devices.json.

// discoveryComponents returns the components of a discovery payload, each
// as its keys; nil if p is not one.
func discoveryComponents(p string) map[string][]string {
	var d struct {
		Components map[string]map[string]json.RawMessage `json:"components"`
	}
	if json.Unmarshal([]byte(p), &d) != nil {
		return nil
	}
	out := map[string][]string{}
	for id, c := range d.Components {
		for k := range c {
			out[id] = append(out[id], k)
		}
	}
	return out
}

// isStub reports whether component id of payload p is its platform only.
func isStub(p, id string) bool {
	keys, ok := discoveryComponents(p)[id]
	return ok && slices.Equal(keys, []string{"platform"})
}

// recordedComponents returns what bridge-devices.json records for the Kasa
// device id (nil while it is not recorded, or without components).
func (h *harness) recordedComponents(id string) []string {
	b, err := os.ReadFile(filepath.Join(h.stateDir, "bridge-devices.json"))
	if err != nil {
		return nil
	}
	var known map[string]struct {
		Components []string `json:"components"`
	}
	if json.Unmarshal(b, &known) != nil {
		return nil
	}
	return known["kasa/"+id].Components
}

// waitStubDropped checks that the discovery of id carried a stub for
// component comp, that once the broker accepted it bridge-devices.json
// no longer lists comp, and that the next discovery (the replay after a
// Home Assistant birth) leaves it out.
func (h *harness) waitStubDropped(id, comp string, live []string) {
	h.t.Helper()
	m := h.rec.waitMsg(0, configTopic(id), func(p string) bool { return isStub(p, comp) })
	for _, c := range live {
		if len(discoveryComponents(m.payload)[c]) < 3 {
			h.t.Errorf("the payload with the stub lacks the live %s: %s", c, m.payload)
		}
	}
	eventually(h.t, "bridge-devices.json without the accepted "+comp, func() bool {
		got := h.recordedComponents(id)
		return slices.Equal(got, live)
	})
	mk := h.rec.mark()
	h.rec.publish("homeassistant/status", "online", false)
	h.rec.waitMsg(mk, configTopic(id), func(p string) bool {
		comps := discoveryComponents(p)
		_, stale := comps[comp]
		return len(comps) == len(live) && !stale
	})
}

// The first start after the upgrade that made dimmers lights: the dimmer
// is known from bridge-devices.json (a record without components) and its
// switch goes to Home Assistant as a stub once; the plug next to it, a
// switch before and after, gets no stubs.
func TestE2E_UpgradeRemovesTheDimmersSwitch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	dimmer := h.fake.AddDimmer(user, "Hall Dimmer", "HS220(US)")
	lamp := h.fake.AddPlug(user, "Lamp", "HS103(US)")
	old := map[string]map[string]string{}
	for id, topic := range map[string]string{dimmer: "hall_dimmer", lamp: "lamp"} {
		old["kasa/"+id] = map[string]string{"account": "home", "provider": "kasa", "id": id, "topic": topic, "config_topic": configTopic(id)}
	}
	b, _ := json.Marshal(old)
	if err := os.WriteFile(filepath.Join(h.stateDir, "bridge-devices.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()

	h.waitStubDropped(dimmer, "switch", []string{"led", "light", "restart", "rssi"})
	for _, m := range h.rec.all() {
		if m.topic == configTopic(lamp) {
			for c := range discoveryComponents(m.payload) {
				if isStub(m.payload, c) {
					t.Errorf("the plug's discovery has a stub for %s: %s", c, m.payload)
				}
			}
		}
	}
}

// A dimmer that is offline when the daemon starts is listed as a plain
// plug (a switch); once it is reached it is a light, and its switch goes
// to Home Assistant as a stub once.
func TestE2E_DimmerReachedLateLosesItsSwitch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	dimmer := h.fake.AddDimmer(user, "Hall Dimmer", "HS220(US)")
	h.fake.SetOnline(dimmer, false)
	h.start()
	h.rec.waitMsg(0, configTopic(dimmer), func(p string) bool {
		_, sw := discoveryComponents(p)["switch"]
		return sw && !isStub(p, "switch")
	})
	h.fake.SetOnline(dimmer, true)
	if r := h.request("devices/refresh", "{}"); r.Status != "ok" {
		t.Fatalf("devices/refresh: %+v", r)
	}
	h.waitStubDropped(dimmer, "switch", []string{"led", "light", "restart", "rssi"})
}

// The first start after the upgrade that announces only the readings a
// meter reports: a KL130 bulb recorded with four energy sensors (its
// voltage and current stayed "unknown" in Home Assistant) loses those two
// by stubs, once, keeping its power and energy sensors; a metering plug
// next to it keeps all four and gets no stubs.
func TestE2E_UpgradeRemovesTheBulbsVoltageAndCurrent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	bulb := h.fake.AddBulb(user, "Reading Lamp", "KL130(US)", true, true)
	kettle := h.fake.AddMeteredPlug(user, "Kettle", "KP115(US)", true)
	old := map[string]knownRecord{
		"kasa/" + bulb: {Account: "home", Provider: "kasa", ID: bulb, Topic: "reading_lamp", ConfigTopic: configTopic(bulb),
			Components: []string{"current", "energy", "light", "power", "rssi", "voltage"}},
		"kasa/" + kettle: {Account: "home", Provider: "kasa", ID: kettle, Topic: "kettle", ConfigTopic: configTopic(kettle),
			Components: []string{"current", "energy", "led", "power", "restart", "rssi", "switch", "voltage"}},
	}
	b, _ := json.Marshal(old)
	if err := os.WriteFile(filepath.Join(h.stateDir, "bridge-devices.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()

	live := []string{"energy", "light", "power", "rssi"}
	h.waitStubDropped(bulb, "voltage", live)
	h.waitStubDropped(bulb, "current", live)
	h.rec.waitMsg(0, configTopic(kettle), nil)
	for _, m := range h.rec.all() {
		if m.topic == configTopic(kettle) {
			comps := discoveryComponents(m.payload)
			for c := range comps {
				if isStub(m.payload, c) {
					t.Errorf("the plug's discovery has a stub for %s: %s", c, m.payload)
				}
			}
			if len(comps["voltage"]) < 3 || len(comps["current"]) < 3 {
				t.Errorf("the plug lost a sensor: %s", m.payload)
			}
		}
	}
}

// knownRecord is a record of bridge-devices.json.
type knownRecord struct {
	Account     string   `json:"account"`
	Provider    string   `json:"provider"`
	ID          string   `json:"id"`
	Topic       string   `json:"topic"`
	ConfigTopic string   `json:"config_topic"`
	Components  []string `json:"components"`
}
