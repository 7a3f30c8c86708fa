package test

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

// indexOf returns the index in msgs, from on, of the first message on topic
// whose payload satisfies ok, or -1.
func indexOf(msgs []msg, from int, topic string, ok func(string) bool) int {
	for i := from; i < len(msgs); i++ {
		if msgs[i].topic == topic && ok(msgs[i].payload) {
			return i
		}
	}
	return -1
}

func empty(p string) bool { return p == "" }

// TestE2E_ClearOrderAndEmptyMessages checks, as a subscriber to the raw
// topics sees them, the order of a rename's and a removal's messages
// (docs/topics.md, "Renames and removals"), and of the replay that
// repeats the clears:
//   - rename: the new discovery (naming the new topics), availability and
//     state, then the old state and availability cleared;
//   - removal: the discovery cleared first, the state and availability
//     about five seconds later (Home Assistant has dropped the entities);
//   - replay (Home Assistant's birth): cleared discovery topics before all
//     discovery, the other cleared topics after it;
//
// then what the bridge makes of empty messages: the clear of a retained
// command (debug), an empty command (a warning naming topic and payload),
// a request without a path (an error on <base>/bridge/response).
func TestE2E_ClearOrderAndEmptyMessages(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, kind string) {
		h := newHarness(t, kind)
		f := h.addFleet()
		// A retained command left on the broker: the bridge receives it
		// with the retain flag when it subscribes, and ignores it.
		h.rec.publish(base+"/fridge/set", "OFF", true)
		h.start()
		kettle, lamp := h.deviceTopic(0, f.kettle), h.deviceTopic(0, f.lamp)
		h.rec.waitMsg(0, base+"/"+kettle, contains(`"power"`))
		h.rec.waitMsg(0, base+"/"+lamp, contains(`"state"`))

		// Rename in the app, then a device list.
		mk := h.rec.mark()
		h.fake.Rename(f.kettle, "Tea Maker")
		if r := h.request("devices/refresh", "{}"); r.Status != "ok" {
			t.Fatalf("devices/refresh: %+v", r)
		}
		newTopic := base + "/tea_maker"
		expect := []struct {
			what, topic string
			ok          func(string) bool
		}{
			{"new discovery", configTopic(f.kettle), contains(`"state_topic":"` + newTopic + `"`)},
			{"new availability", newTopic + "/availability", contains(`"online"`)},
			{"new state", newTopic, contains(`"power"`)},
			{"old state cleared", base + "/" + kettle, empty},
			{"old availability cleared", base + "/" + kettle + "/availability", empty},
		}
		var order []int
		var names []string
		for _, e := range expect {
			h.rec.waitMsg(mk, e.topic, e.ok)
			order = append(order, indexOf(h.rec.all(), mk, e.topic, e.ok))
			names = append(names, e.what)
		}
		for _, i := range []int{3, 4} {
			if order[i] < max(order[0], order[1], order[2]) {
				t.Errorf("rename: %s (message %d) before all of the new topics (%v)", names[i], order[i], order[:3])
			}
		}

		// Removal from the account, then a device list.
		mk = h.rec.mark()
		h.fake.RemoveDevice(f.lamp)
		if r := h.request("devices/refresh", "{}"); r.Status != "ok" {
			t.Fatalf("devices/refresh: %+v", r)
		}
		disc := h.rec.waitMsg(mk, configTopic(f.lamp), empty)
		state := h.rec.waitMsg(mk, base+"/"+lamp, empty)
		avail := h.rec.waitMsg(mk, base+"/"+lamp+"/availability", empty)
		msgs := h.rec.all()
		if d, s, a := indexOf(msgs, mk, configTopic(f.lamp), empty), indexOf(msgs, mk, base+"/"+lamp, empty),
			indexOf(msgs, mk, base+"/"+lamp+"/availability", empty); s < d || a < d {
			t.Errorf("removal: state cleared at message %d, availability at %d, discovery at %d", s, a, d)
		}
		// The bridge waits 5 s; allow for delivery delays under load.
		if gap := min(state.at.Sub(disc.at), avail.at.Sub(disc.at)); gap < 2*time.Second {
			t.Errorf("removal: state and availability cleared %v after discovery, want about 5s", gap)
		}
		// A poll may find the device gone before the list does (Kasa
		// -20580, not bound) and publish it offline; after the removal
		// (its discovery cleared) nothing but the clears.
		for _, m := range msgs[indexOf(msgs, mk, configTopic(f.lamp), empty):] {
			if m.topic == base+"/"+lamp || m.topic == base+"/"+lamp+"/availability" {
				if m.payload != "" {
					t.Errorf("removal: %s republished after the removal: %s", m.topic, m.payload)
				}
			}
		}

		// Home Assistant restarts: the replay clears the discovery topics
		// first and the old state topics after all discovery.
		mk = h.rec.mark()
		h.rec.publish("homeassistant/status", "online", false)
		h.rec.waitMsg(mk, base+"/"+kettle+"/availability", empty)
		h.rec.waitMsg(mk, base+"/"+lamp+"/availability", empty)
		h.rec.waitMsg(mk, "homeassistant/device/kasa2mqtt_bridge_"+base+"/config", nil)
		msgs = h.rec.all()
		lastConfig, firstConfig := -1, -1
		for i := mk; i < len(msgs); i++ {
			if m := msgs[i]; strings.HasPrefix(m.topic, "homeassistant/device/") && m.payload != "" {
				lastConfig = i
				if firstConfig < 0 {
					firstConfig = i
				}
			}
		}
		if c := indexOf(msgs, mk, configTopic(f.lamp), empty); c < 0 || c > firstConfig {
			t.Errorf("replay: the removed device's discovery cleared at message %d, first discovery at %d", c, firstConfig)
		}
		for _, topic := range []string{base + "/" + kettle, base + "/" + kettle + "/availability", base + "/" + lamp, base + "/" + lamp + "/availability"} {
			if i := indexOf(msgs, mk, topic, empty); i < lastConfig {
				t.Errorf("replay: %s cleared at message %d, before the last discovery at %d", topic, i, lastConfig)
			}
		}

		checkEmptyMessages(t, h, f)
	})
}

func checkEmptyMessages(t *testing.T, h *harness, f fleet) {
	t.Helper()
	fridge := h.deviceTopic(0, f.fridge)
	set := base + "/" + fridge + "/set"
	eventually(t, "the retained command ignored", func() bool {
		return h.logged(zapcore.DebugLevel, "ignoring retained message on a command topic", set)
	})
	h.rec.publish(set, "", true) // its clear
	eventually(t, "the clear recognised", func() bool {
		return h.logged(zapcore.DebugLevel, "cleared retained message on a command topic", set)
	})
	if h.logged(zapcore.WarnLevel, set) {
		t.Errorf("a warning for the retained command or its clear")
	}
	if !h.fake.Relay(f.fridge) {
		t.Errorf("the retained OFF or its clear switched the fridge off")
	}

	// An empty command is a bad command.
	h.rec.publish(set+"/state", "", false)
	eventually(t, "the empty command warned about", func() bool {
		for _, e := range h.logs.All() {
			f := e.ContextMap()
			if e.Level == zapcore.WarnLevel && e.Message == "ignoring bad command" && f["topic"] == set+"/state" && f["payload"] == "" {
				return true
			}
		}
		return false
	})

	// Requests without a path.
	for _, topic := range []string{base + "/bridge/request", base + "/bridge/request/"} {
		mk := h.rec.mark()
		h.rec.publish(topic, `{"transaction":"bare"}`, false)
		h.rec.waitMsg(mk, base+"/bridge/response", func(p string) bool {
			return strings.Contains(p, `"status":"error"`) && strings.Contains(p, `"transaction":"bare"`) &&
				strings.Contains(p, "the request has no path: publish on "+base+"/bridge/request/PATH, PATH one of: health_check")
		})
	}
}
