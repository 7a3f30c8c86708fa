package bridge

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// writesSince returns the publications since index from, discovery
// payloads shortened to "…" and bridge/devices and bridge/info left out.
func (h *harness) writesSince(from int) []string {
	var got []string
	for _, w := range h.pub.writes[from:] {
		topic, payload, _ := strings.Cut(w, "=")
		switch {
		case topic == "kasa2mqtt/bridge/devices" || topic == "kasa2mqtt/bridge/info":
			continue
		case strings.HasSuffix(topic, "/config") && payload != "":
			w = topic + "=…"
		}
		got = append(got, w)
	}
	return got
}

// configWritesSince is writesSince for the discovery topics only.
func (h *harness) configWritesSince(from int) []string {
	var out []string
	for _, w := range h.writesSince(from) {
		if topic, _, _ := strings.Cut(w, "="); strings.HasSuffix(topic, "/config") {
			out = append(out, w)
		}
	}
	return out
}

// clearedExactlyAfterTheGrace checks that flushClears publishes nothing
// until clearGrace has passed since now, and then want.
func (h *harness) clearedExactlyAfterTheGrace(want ...string) {
	h.t.Helper()
	from := len(h.pub.writes)
	h.clock.Advance(clearGrace - time.Millisecond)
	h.apply(h.reg.flushClears())
	if got := h.writesSince(from); len(got) != 0 {
		h.t.Fatalf("cleared %q before the grace ended", got)
	}
	h.clock.Advance(time.Millisecond)
	h.apply(h.reg.flushClears())
	if got := h.writesSince(from); !slices.Equal(got, want) {
		h.t.Errorf("after the grace: %q, want %q", got, want)
	}
}

// A rename puts the new discovery (which moves Home Assistant's entities
// to the new topics), availability and state on the wire before the old
// state and availability topics are cleared, whichever way it comes: the
// app's name in a list, a name or a topic set over MQTT, a rename in the
// cloud.
func TestRegistry_RenamePublishesTheNewTopicsBeforeClearingTheOld(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rename func(h *harness, p cloud.Provider)
		newTop string
		before []string // publications before the move
	}{
		{"in the app", func(h *harness, p cloud.Provider) { h.list(p, plug("A", "Desk Lamp", true)) }, "desk_lamp", nil},
		{"name over MQTT", func(h *harness, _ cloud.Provider) {
			h.request("device/options", `{"id":"A","options":{"name":"Desk Lamp"}}`)
		}, "desk_lamp", nil},
		{"topic over MQTT", func(h *harness, _ cloud.Provider) {
			h.request("device/options", `{"id":"A","options":{"topic":"desk/lamp"}}`)
		}, "desk/lamp", nil},
		{"in the cloud", func(h *harness, _ cloud.Provider) {
			h.request("device/rename", `{"id":"A","to":"Desk Lamp"}`)
			for _, j := range h.takeJobs() {
				s := relayState("A", true)
				h.finish(j, resultEvent{state: &s})
			}
		}, "desk_lamp", []string{`kasa2mqtt/lamp={"state":"ON","led":"ON"}`}}, // the re-read, confirmed where the device still is
	} {
		t.Run(tc.name, func(t *testing.T) {
			acct := &renamingProvider{*home}
			h := newHarness(t, Options{HomeAssistant: true}, nil, acct)
			h.list(acct, plug("A", "Lamp", true))
			h.poll(acct, h.clock.Now(), relayState("A", true))
			from := len(h.pub.writes)
			tc.rename(h, acct)
			want := append(tc.before, "homeassistant/device/kasa_A/config=…",
				"kasa2mqtt/"+tc.newTop+`/availability={"state":"online"}`,
				"kasa2mqtt/"+tc.newTop+`={"state":"ON","led":"ON"}`,
				"kasa2mqtt/lamp=", "kasa2mqtt/lamp/availability=")
			if got := h.writesSince(from); !slices.Equal(got, want) {
				t.Errorf("published\n %q\nwant\n %q", got, want)
			}
			if cfg := h.pub.retained["homeassistant/device/kasa_A/config"]; !strings.Contains(cfg, `"kasa2mqtt/`+tc.newTop+`"`) {
				t.Errorf("discovery does not name the new topic: %s", cfg)
			}
		})
	}
}

// A device that is no longer bridged has its discovery cleared at once
// (Home Assistant removes its entities, which unsubscribe) and its state
// and availability clearGrace later; bridge-devices.json keeps it until
// then, so that a restart in between clears it again.
func TestRegistry_RemovalClearsDiscoveryFirstAndTheRestAfterTheGrace(t *testing.T) {
	h := newHarness(t, Options{HomeAssistant: true}, nil, home)
	h.list(home, plug("A", "Lamp", true), plug("B", "Fan", true))
	h.poll(home, h.clock.Now(), relayState("A", true), relayState("B", true))

	from := len(h.pub.writes)
	h.list(home, plug("A", "Lamp", true))
	if got, want := h.writesSince(from), []string{"homeassistant/device/kasa_B/config="}; !slices.Equal(got, want) {
		t.Fatalf("at the removal: %q, want %q", got, want)
	}
	if _, ok := h.saved["kasa/B"]; !ok {
		t.Error("bridge-devices.json forgot the device before its topics were cleared")
	}
	if want := h.clock.Now().Add(clearGrace); !h.wake.Equal(want) {
		t.Errorf("wake-up asked for %v, want %v", h.wake, want)
	}

	h.clearedExactlyAfterTheGrace("kasa2mqtt/fan=", "kasa2mqtt/fan/availability=")
	if got := slices.Sorted(maps.Keys(h.saved)); !slices.Equal(got, []string{"kasa/A"}) {
		t.Errorf("bridge-devices.json holds %v after the clear", got)
	}
	if got := h.retainedTopics("kasa2mqtt/fan"); got != nil {
		t.Errorf("still retained: %v", got)
	}
	// Nothing is left to do.
	from = len(h.pub.writes)
	h.afterGrace()
	if got := h.writesSince(from); len(got) != 0 {
		t.Errorf("a second flush published %q", got)
	}
}

// A replay (connect, Home Assistant's birth) delivers the discovery clears
// again, or for the first time when the broker was away: the grace starts
// again. While the broker is away nothing is flushed.
func TestRegistry_ReplayRestartsTheGrace(t *testing.T) {
	h := newHarness(t, Options{HomeAssistant: true}, nil, home)
	h.list(home, plug("A", "Lamp", true), plug("B", "Fan", true))
	h.connected = false
	h.list(home, plug("A", "Lamp", true))
	h.clock.Advance(clearGrace)
	from := len(h.pub.writes)
	h.apply(h.reg.flushClears())
	if got := h.writesSince(from); len(got) != 0 {
		t.Fatalf("flushed %q while disconnected", got)
	}

	h.connected = true
	h.clock.Advance(time.Second)
	h.apply(h.reg.replay("connected"))
	if want := h.clock.Now().Add(clearGrace); !h.wake.Equal(want) {
		t.Errorf("after the replay the wake-up is at %v, want %v", h.wake, want)
	}
	for _, m := range h.pub.replays[len(h.pub.replays)-1].offline {
		if strings.Contains(m.topic, "/fan/") {
			t.Errorf("the replay published the removed device's availability: %s", m.topic)
		}
	}
	h.clearedExactlyAfterTheGrace("kasa2mqtt/fan=", "kasa2mqtt/fan/availability=")
}

// Stopped during the grace: the next run finds the device in
// bridge-devices.json, missing from its account's list, and clears it the
// same way.
func TestRegistry_RemovalInterruptedByARestart(t *testing.T) {
	h := newHarness(t, Options{HomeAssistant: true}, nil, home)
	h.list(home, plug("A", "Lamp", true), plug("B", "Fan", true))
	h.list(home, plug("A", "Lamp", true))

	next := newHarness(t, Options{HomeAssistant: true}, h.saved, home)
	next.list(home, plug("A", "Lamp", true))
	if got, want := next.writesSince(0), []string{"homeassistant/device/kasa_B/config="}; !slices.Contains(got, want[0]) ||
		slices.Contains(got, "kasa2mqtt/fan=") {
		t.Fatalf("the next run's list published %q: want the discovery clear and no state clear yet", got)
	}
	from := len(next.pub.writes)
	next.afterGrace()
	if got, want := next.writesSince(from), []string{"kasa2mqtt/fan=", "kasa2mqtt/fan/availability="}; !slices.Equal(got, want) {
		t.Errorf("after the grace: %q, want %q", got, want)
	}
	if _, ok := next.saved["kasa/B"]; ok {
		t.Error("still in bridge-devices.json")
	}
}

// A device that takes over the topic of one waiting for its clear gets it
// cleared first, and the delayed clear never wipes the newcomer; a device
// that comes back within the grace keeps its topics.
func TestRegistry_PendingClearsAndTopicsTakenAgain(t *testing.T) {
	t.Run("newcomer", func(t *testing.T) {
		h := newHarness(t, Options{HomeAssistant: true}, nil, home)
		h.list(home, plug("A", "Lamp", true), plug("B", "Fan", true))
		h.poll(home, h.clock.Now(), relayState("A", true), relayState("B", true))
		from := len(h.pub.writes)
		h.list(home, plug("A", "Lamp", true), plug("C", "Fan", true)) // B replaced by another "Fan"
		want := []string{"homeassistant/device/kasa_B/config=", "kasa2mqtt/fan=", "kasa2mqtt/fan/availability=",
			"homeassistant/device/kasa_C/config=…", `kasa2mqtt/fan/availability={"state":"online"}`}
		if got := h.writesSince(from); !slices.Equal(got, want) {
			t.Errorf("published\n %q\nwant\n %q", got, want)
		}
		h.poll(home, h.clock.Now(), relayState("A", true), relayState("C", false))
		from = len(h.pub.writes)
		h.afterGrace()
		if got := h.writesSince(from); len(got) != 0 {
			t.Errorf("after the grace: %q", got)
		}
		if h.pub.retained["kasa2mqtt/fan"] == "" || h.pub.retained["kasa2mqtt/fan/availability"] == "" {
			t.Errorf("the newcomer's topics were cleared: %v", h.retainedTopics("kasa2mqtt/fan"))
		}
		if got := slices.Sorted(maps.Keys(h.saved)); !slices.Equal(got, []string{"kasa/A", "kasa/C"}) {
			t.Errorf("bridge-devices.json holds %v", got)
		}
	})
	t.Run("back", func(t *testing.T) {
		h := newHarness(t, Options{HomeAssistant: true}, nil, home)
		h.list(home, plug("A", "Lamp", true), plug("B", "Fan", true))
		h.poll(home, h.clock.Now(), relayState("A", true), relayState("B", true))
		h.list(home, plug("A", "Lamp", true))
		h.list(home, plug("A", "Lamp", true), plug("B", "Fan", true))
		from := len(h.pub.writes)
		h.afterGrace()
		if got := h.writesSince(from); len(got) != 0 {
			t.Errorf("after the grace: %q", got)
		}
		if h.pub.retained["kasa2mqtt/fan/availability"] == "" || h.pub.retained["homeassistant/device/kasa_B/config"] == "" {
			t.Errorf("the device that came back lost its topics: %v", h.retainedTopics(""))
		}
		if _, ok := h.saved["kasa/B"]; !ok {
			t.Error("the device that came back is not in bridge-devices.json")
		}
	})
}

// Without Home Assistant discovery nobody needs time to drop entities:
// everything is cleared at once.
func TestRegistry_RemovalWithoutDiscoveryClearsAtOnce(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, plug("A", "Lamp", true), plug("B", "Fan", true))
	from := len(h.pub.writes)
	h.list(home, plug("A", "Lamp", true))
	if got, want := h.writesSince(from), []string{"kasa2mqtt/fan=", "kasa2mqtt/fan/availability="}; !slices.Equal(got, want) {
		t.Errorf("published %q, want %q", got, want)
	}
	if _, ok := h.saved["kasa/B"]; ok {
		t.Error("still in bridge-devices.json")
	}
}

func outlet(id, parent, name string) cloud.Device {
	return cloud.Device{ID: id, Provider: "kasa", Name: name, Model: "HS300", Online: true, ParentID: parent,
		Capabilities: []cloud.Capability{cloud.CapRelay}}
}

// viaDevice returns the via_device of the retained discovery of id ("" if
// none), failing when there is no discovery.
func (h *harness) viaDevice(id string) string {
	h.t.Helper()
	raw, ok := h.pub.retained["homeassistant/device/kasa_"+id+"/config"]
	if !ok {
		h.t.Fatalf("no discovery for %s", id)
	}
	var p struct {
		Device struct {
			ViaDevice string `json:"via_device"`
		} `json:"device"`
	}
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		h.t.Fatal(err)
	}
	return p.Device.ViaDevice
}

// An outlet's via_device names its strip only while the strip is
// announced: while the strip is disabled it names the bridge's device; the
// strip again once it is enabled (after the strip's own discovery); the
// bridge after the strip is disabled over MQTT (the outlets' new discovery
// goes before the strip's clear).
func TestRegistry_ViaDeviceOnlyToAnnouncedParents(t *testing.T) {
	strip := plug("S", "Strip", true)
	strip.Model = "HS300"
	list := []cloud.Device{strip, outlet("S1", "S", "Desk"), outlet("S2", "S", "Printer")}
	const stripID, bridgeID = "kasa2mqtt_kasa_S", "kasa2mqtt_bridge_kasa2mqtt"

	h := newHarness(t, Options{HomeAssistant: true, Devices: map[string]DeviceOverride{"S": {Disabled: true}}}, nil, home)
	h.list(home, list...)
	if _, ok := h.pub.retained["homeassistant/device/kasa_S/config"]; ok {
		t.Fatal("the disabled strip is announced")
	}
	for _, id := range []string{"S1", "S2"} {
		if via := h.viaDevice(id); via != bridgeID {
			t.Errorf("outlet %s names %q as via_device while its strip is disabled, want the bridge", id, via)
		}
	}

	// Enabled over MQTT (then listed again): the strip first, then its
	// outlets point at it.
	if r := h.request("device/options", `{"id":"S","options":{"disabled":false}}`); len(r) != 1 || r[0].Status != "ok" {
		t.Fatalf("enable: %+v", r)
	}
	from := len(h.pub.writes)
	h.list(home, list...)
	want := []string{"homeassistant/device/kasa_S/config=…", "homeassistant/device/kasa_S1/config=…", "homeassistant/device/kasa_S2/config=…"}
	if configs := h.configWritesSince(from); !slices.Equal(configs, want) {
		t.Errorf("discovery published %q, want %q", configs, want)
	}
	for _, id := range []string{"S1", "S2"} {
		if via := h.viaDevice(id); via != stripID {
			t.Errorf("outlet %s: via_device %q, want %q", id, via, stripID)
		}
	}

	// Disabled again: the outlets stop naming it before it goes.
	from = len(h.pub.writes)
	if r := h.request("device/options", `{"id":"S","options":{"disabled":true}}`); len(r) != 1 || r[0].Status != "ok" {
		t.Fatalf("disable: %+v", r)
	}
	want = []string{"homeassistant/device/kasa_S1/config=…", "homeassistant/device/kasa_S2/config=…", "homeassistant/device/kasa_S/config="}
	if configs := h.configWritesSince(from); !slices.Equal(configs, want) {
		t.Errorf("discovery published %q, want %q", configs, want)
	}
	for _, id := range []string{"S1", "S2"} {
		if via := h.viaDevice(id); via != bridgeID {
			t.Errorf("outlet %s names %q as via_device after its strip was disabled, want the bridge", id, via)
		}
	}
}

// An outlet listed before its strip (its topic is fixed in the
// configuration, which ranks it first) is announced without via_device,
// then again with it once the strip is announced.
func TestRegistry_OutletListedBeforeItsStrip(t *testing.T) {
	strip := plug("S", "Strip", true)
	h := newHarness(t, Options{HomeAssistant: true, Devices: map[string]DeviceOverride{"S1": {Topic: "desk"}}}, nil, home)
	h.list(home, strip, outlet("S1", "S", "Desk"))
	want := []string{"homeassistant/device/kasa_S1/config=…", "homeassistant/device/kasa_S/config=…", "homeassistant/device/kasa_S1/config=…"}
	if order := h.configWritesSince(0); !slices.Equal(order, want) {
		t.Errorf("discovery order %q, want %q", order, want)
	}
	if via := h.viaDevice("S1"); via != "kasa2mqtt_kasa_S" {
		t.Errorf("via_device %q, want the strip", via)
	}
}
