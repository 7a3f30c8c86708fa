package discovery

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// A component the device no longer has goes out once more as its platform
// alone, which is what makes Home Assistant delete it; live and unknown
// ids in Removed change nothing.
func TestPayload_RemovedComponentsAreStubs(t *testing.T) {
	dimmer := fixtures["dimmer"]
	for _, tc := range []struct {
		name    string
		removed []string
		stubs   map[string]string // id → the component's whole JSON
	}{
		{"none", nil, nil},
		{"the switch a dimmer was", []string{"switch"}, map[string]string{"switch": `{"platform":"switch"}`}},
		{"each platform", []string{"power", "restart", "connectivity", "switch"}, map[string]string{
			"power": `{"platform":"sensor"}`, "restart": `{"platform":"button"}`, "connectivity": `{"platform":"binary_sensor"}`, "switch": `{"platform":"switch"}`}},
		{"a live id stays whole", []string{"light", "led"}, nil},
		{"unknown ids are ignored", []string{"flux_capacitor", ""}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dimmer
			d.Removed = tc.removed
			if tc.name == "each platform" {
				d.Capabilities = slices.DeleteFunc(slices.Clone(d.Capabilities), func(c cloud.Capability) bool { return c == cloud.CapReboot })
			}
			got := mustPayload(t, testConfig, d)
			checkInvariants(t, testConfig, d, got)
			var p struct {
				Components map[string]json.RawMessage `json:"components"`
			}
			if err := json.Unmarshal(got, &p); err != nil {
				t.Fatal(err)
			}
			live := ComponentIDs(d.Device)
			if want := slices.Sorted(slices.Values(append(slices.Clone(live), slices.Collect(maps.Keys(tc.stubs))...))); !slices.Equal(slices.Sorted(maps.Keys(p.Components)), want) {
				t.Errorf("components %v, want %v", slices.Sorted(maps.Keys(p.Components)), want)
			}
			for id, want := range tc.stubs {
				if string(p.Components[id]) != want {
					t.Errorf("component %q = %s, want %s", id, p.Components[id], want)
				}
			}
			for _, id := range live {
				if len(p.Components[id]) < 40 {
					t.Errorf("live component %q reduced to %s", id, p.Components[id])
				}
			}
		})
	}
}

// ComponentIDs are the components Payload announces, and AllComponentIDs
// holds every one of them, with the platform Payload gives it.
func TestComponentIDs(t *testing.T) {
	all := AllComponentIDs()
	seen := map[string]bool{}
	devs := slices.Collect(maps.Values(fixtures))
	for _, c := range []cloud.Capability{cloud.CapRelay, cloud.CapEnergy, cloud.CapRSSI, cloud.CapLED, cloud.CapReboot, cloud.CapLight} {
		d := fixtures["plain_plug"]
		d.Capabilities = []cloud.Capability{c}
		devs = append(devs, d)
	}
	for _, d := range devs {
		d.Removed = nil
		p := decode(t, mustPayload(t, testConfig, d))
		ids := ComponentIDs(d.Device)
		if !slices.Equal(ids, slices.Sorted(maps.Keys(p.Components))) {
			t.Errorf("%s: ComponentIDs %v, payload has %v", d.Topic, ids, slices.Sorted(maps.Keys(p.Components)))
		}
		for id, comp := range p.Components {
			seen[id] = true
			if !slices.Contains(all, id) || platforms[id] != comp.Platform {
				t.Errorf("component %q (%s) is not in AllComponentIDs with its platform", id, comp.Platform)
			}
		}
	}
	if len(seen) != len(all) {
		t.Errorf("AllComponentIDs %v, payloads announce %v", all, slices.Sorted(maps.Keys(seen)))
	}
}
