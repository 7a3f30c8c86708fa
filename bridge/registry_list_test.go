package bridge

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

var home = &testProvider{kind: "kasa", account: "home"}

// A device list compared with the previous one: new devices are added,
// missing ones removed and cleared (discovery at once, state and
// availability after the grace), renamed ones moved (new discovery and
// availability first, then the old topics cleared), the rest left alone.
func TestRegistry_ListDiffs(t *testing.T) {
	lamp, fan := plug("A", "Lamp", true), plug("B", "Fan", false)
	deskLamp := lamp
	deskLamp.Name = "Desk Lamp"
	for _, tc := range []struct {
		name          string
		first, then   []cloud.Device
		wantTopics    map[string]string
		wantEvents    []string
		wantStarted   []string
		wantStopped   []string
		wantWrites    []string // publications of the second list, bridge/devices and bridge/info left out
		wantLater     []string // publications clearGrace later
		wantAvailable map[string]string
	}{{
		name: "added", then: []cloud.Device{lamp, fan},
		wantTopics: map[string]string{"A": "lamp", "B": "fan"},
		wantEvents: []string{"device_added", "device_added"}, wantStarted: []string{"kasa/A", "kasa/B"},
		wantWrites: []string{
			"homeassistant/device/kasa_A/config=…", `kasa2mqtt/lamp/availability={"state":"online"}`,
			"homeassistant/device/kasa_B/config=…", `kasa2mqtt/fan/availability={"state":"offline"}`,
		},
		wantAvailable: map[string]string{"lamp": "online", "fan": "offline"},
	}, {
		name: "removed", first: []cloud.Device{lamp, fan}, then: []cloud.Device{lamp},
		wantTopics: map[string]string{"A": "lamp"},
		wantEvents: []string{"device_removed"}, wantStopped: []string{"kasa/B"},
		wantWrites:    []string{"homeassistant/device/kasa_B/config="},
		wantLater:     []string{"kasa2mqtt/fan=", "kasa2mqtt/fan/availability="},
		wantAvailable: map[string]string{"lamp": "online"},
	}, {
		name: "unchanged", first: []cloud.Device{lamp, fan}, then: []cloud.Device{fan, lamp},
		wantTopics:    map[string]string{"A": "lamp", "B": "fan"},
		wantAvailable: map[string]string{"lamp": "online", "fan": "offline"},
	}, {
		name: "renamed", first: []cloud.Device{lamp, fan}, then: []cloud.Device{deskLamp, fan},
		wantTopics: map[string]string{"A": "desk_lamp", "B": "fan"},
		wantEvents: []string{"device_renamed"},
		wantWrites: []string{
			"homeassistant/device/kasa_A/config=…", `kasa2mqtt/desk_lamp/availability={"state":"online"}`,
			"kasa2mqtt/lamp=", "kasa2mqtt/lamp/availability=",
		},
		wantAvailable: map[string]string{"desk_lamp": "online", "fan": "offline"},
	}, {
		name: "back online in the list", first: []cloud.Device{lamp, fan}, then: []cloud.Device{lamp, plug("B", "Fan", true)},
		wantTopics:    map[string]string{"A": "lamp", "B": "fan"},
		wantWrites:    []string{`kasa2mqtt/fan/availability={"state":"online"}`},
		wantAvailable: map[string]string{"lamp": "online", "fan": "online"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{HomeAssistant: true}, nil, home)
			if tc.first != nil {
				h.list(home, tc.first...)
			}
			events, writes, started, stopped := len(h.pub.events), len(h.pub.writes), len(h.started), len(h.stopped)
			h.list(home, tc.then...)

			if got := h.topics(); !maps.Equal(got, tc.wantTopics) {
				t.Errorf("topics %v, want %v", got, tc.wantTopics)
			}
			if got := h.eventTypes()[events:]; !slices.Equal(got, tc.wantEvents) {
				t.Errorf("events %v, want %v", got, tc.wantEvents)
			}
			if got := h.started[started:]; !slices.Equal(got, tc.wantStarted) {
				t.Errorf("workers started %v, want %v", got, tc.wantStarted)
			}
			if got := h.stopped[stopped:]; !slices.Equal(got, tc.wantStopped) {
				t.Errorf("workers stopped %v, want %v", got, tc.wantStopped)
			}
			if got := h.writesSince(writes); !slices.Equal(got, tc.wantWrites) {
				t.Errorf("publications\n %q\nwant\n %q", got, tc.wantWrites)
			}
			writes = len(h.pub.writes)
			h.afterGrace()
			if got := h.writesSince(writes); !slices.Equal(got, tc.wantLater) {
				t.Errorf("publications after the grace\n %q\nwant\n %q", got, tc.wantLater)
			}
			for topic, want := range tc.wantAvailable {
				if got := h.pub.retained["kasa2mqtt/"+topic+"/availability"]; got != `{"state":"`+want+`"}` {
					t.Errorf("%s availability %s, want %s", topic, got, want)
				}
			}
			// bridge/devices and bridge-devices.json follow every list.
			var list []bridgeDevice
			if err := json.Unmarshal([]byte(h.pub.retained["kasa2mqtt/bridge/devices"]), &list); err != nil {
				t.Fatal(err)
			}
			if len(list) != len(tc.wantTopics) || len(h.saved) != len(tc.wantTopics) {
				t.Errorf("bridge/devices lists %d, bridge-devices.json %d devices, want %d", len(list), len(h.saved), len(tc.wantTopics))
			}
			for _, bd := range list {
				if kd := h.saved["kasa/"+bd.ID]; bd.Topic != tc.wantTopics[bd.ID] || kd.Topic != bd.Topic || kd.Account != "home" {
					t.Errorf("device %s: bridge/devices topic %q, saved %+v, want topic %q", bd.ID, bd.Topic, kd, tc.wantTopics[bd.ID])
				}
			}
		})
	}
}

// A rename moves the retained state and availability to the new topic, and
// the event says where it came from.
func TestRegistry_RenameMovesTheRetainedTopics(t *testing.T) {
	h := newHarness(t, Options{HomeAssistant: true}, nil, home)
	h.list(home, plug("A", "Lamp", true))
	h.poll(home, h.clock.Now(), relayState("A", true))
	renamed := plug("A", "Desk Lamp", true)
	h.list(home, renamed)

	if got := h.retainedTopics("kasa2mqtt/d"); !slices.Equal(got, []string{"kasa2mqtt/desk_lamp", "kasa2mqtt/desk_lamp/availability"}) {
		t.Errorf("retained %v", got)
	}
	if got := h.retainedTopics("kasa2mqtt/lamp"); got != nil {
		t.Errorf("old topics still retained: %v", got)
	}
	if got := h.pub.retained["kasa2mqtt/desk_lamp"]; got != `{"state":"ON","led":"ON"}` {
		t.Errorf("state on the new topic %s", got)
	}
	if cfg := h.pub.retained["homeassistant/device/kasa_A/config"]; !strings.Contains(cfg, "kasa2mqtt/desk_lamp") {
		t.Errorf("discovery does not point at the new topic: %s", cfg)
	}
	e := h.pub.events[len(h.pub.events)-1]
	var data deviceEvent
	_ = json.Unmarshal(e.Data, &data)
	if e.Type != "device_renamed" || data.From != "Lamp" || data.Name != "Desk Lamp" || data.Topic != "desk_lamp" {
		t.Errorf("event %s %+v", e.Type, data)
	}
	if kd := h.saved["kasa/A"]; kd.Topic != "desk_lamp" {
		t.Errorf("bridge-devices.json has %+v", kd)
	}
}

// Devices disabled in the configuration are neither published nor read;
// one that an earlier run published is cleared. The skip is logged once.
func TestRegistry_DisabledDevicesAreNotBridged(t *testing.T) {
	known := map[string]knownDevice{"kasa/B": {Account: "home", Provider: "kasa", ID: "B", Topic: "fan", ConfigTopic: "homeassistant/device/kasa_B/config"}}
	h := newHarness(t, Options{HomeAssistant: true, Devices: map[string]DeviceOverride{"B": {Disabled: true}}}, known, home)
	h.pub.retained["kasa2mqtt/fan"] = `{"state":"ON"}` // left by the earlier run
	h.list(home, plug("A", "Lamp", true), plug("B", "Fan", true))
	h.list(home, plug("A", "Lamp", true), plug("B", "Fan", true))
	h.afterGrace()

	if got := h.topics(); !maps.Equal(got, map[string]string{"A": "lamp"}) {
		t.Errorf("topics %v", got)
	}
	if got := h.retainedTopics("kasa2mqtt/fan"); got != nil {
		t.Errorf("the disabled device is still retained: %v", got)
	}
	if _, ok := h.saved["kasa/B"]; ok {
		t.Error("the disabled device is still in bridge-devices.json")
	}
	if n := h.logged("device disabled by configuration"); n != 1 {
		t.Errorf("logged the disabled device %d times, want once", n)
	}
}

// The same device on two accounts is bridged from the account that listed
// it first; the other account's lists neither add nor remove it.
func TestRegistry_DuplicateIDOnTwoAccounts(t *testing.T) {
	office := &testProvider{kind: "kasa", account: "office"}
	h := newHarness(t, Options{}, nil, home, office)
	h.list(home, plug("A", "Lamp", true))
	h.list(office, plug("A", "Lamp", true), plug("C", "Printer", true))
	h.list(office, plug("A", "Lamp", true), plug("C", "Printer", true))
	if dv := h.device("A"); dv == nil || dv.prov != home {
		t.Fatalf("device A bridged from %v, want home", dv)
	}
	if n := h.logged("device is on two accounts; bridging it from the first only"); n != 1 {
		t.Errorf("warned %d times, want once", n)
	}
	h.list(office, plug("C", "Printer", true))
	if h.device("A") == nil {
		t.Error("the second account's list removed the device of the first")
	}
	if got := h.metrics; got["home"] != [2]int{1, 1} || got["office"] != [2]int{1, 1} {
		t.Errorf("device gauges %v", got)
	}
	h.list(home)
	if h.device("A") != nil {
		t.Error("the first account's list did not remove it")
	}
}

// bridge-devices.json across restarts: topics are kept, old topics of a
// device renamed while stopped are cleared, devices of accounts no longer
// configured are cleared at start, and known devices missing from their
// account's list are cleared and forgotten.
func TestRegistry_KnownDevicesFromThePreviousRun(t *testing.T) {
	known := map[string]knownDevice{
		"kasa/B": {Account: "home", Provider: "kasa", ID: "B", Topic: "lamp"},                                            // keeps "lamp"
		"kasa/C": {Account: "home", Provider: "kasa", ID: "C", Topic: "old_name", ConfigTopic: "homeassistant/x/config"}, // renamed while stopped
		"kasa/D": {Account: "home", Provider: "kasa", ID: "D", Topic: "gone"},                                            // removed while stopped
		"kasa/E": {Account: "cellar", Provider: "kasa", ID: "E", Topic: "freezer"},                                       // account removed
	}
	h := newHarness(t, Options{}, known, home)
	if !slices.Contains(h.pub.writes, "kasa2mqtt/freezer/availability=") || !slices.Contains(h.pub.writes, "kasa2mqtt/freezer=") {
		t.Errorf("the device of an account no longer configured was not cleared at start: %q", h.pub.writes)
	}
	for _, topic := range []string{"lamp", "old_name", "gone"} {
		h.pub.retained["kasa2mqtt/"+topic+"/availability"] = `{"state":"online"}` // left by the earlier run
	}

	// Before the account lists, a replay publishes known devices offline.
	h.apply(h.reg.replay("connected"))
	var offline []string
	for _, m := range h.pub.replays[0].offline {
		offline = append(offline, m.topic+"="+string(m.payload))
	}
	want := []string{`kasa2mqtt/lamp/availability={"state":"offline"}`, `kasa2mqtt/old_name/availability={"state":"offline"}`,
		`kasa2mqtt/gone/availability={"state":"offline"}`}
	if !slices.Equal(offline, want) {
		t.Errorf("replayed offline %v, want %v", offline, want)
	}

	h.list(home, plug("A", "Lamp", true), plug("B", "Lamp", true), plug("C", "Heater", true))
	if got, want := h.topics(), map[string]string{"A": "lamp_2", "B": "lamp", "C": "heater"}; !maps.Equal(got, want) {
		t.Errorf("topics %v, want %v", got, want)
	}
	for _, topic := range []string{"kasa2mqtt/old_name/availability", "kasa2mqtt/gone/availability", "homeassistant/x/config"} {
		if _, ok := h.pub.retained[topic]; ok {
			t.Errorf("%s was not cleared", topic)
		}
	}
	if got := slices.Sorted(maps.Keys(h.saved)); !slices.Equal(got, []string{"kasa/A", "kasa/B", "kasa/C"}) {
		t.Errorf("bridge-devices.json holds %v", got)
	}
}
