package test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

// Reliability scenario 2: Home Assistant restarts. When it announces
// itself (homeassistant/status "online") the bridge replays discovery,
// availability and state once, after a short delay (random 1–5 s by
// default, 2 s here) that lets Home Assistant subscribe first.
// "offline" triggers nothing; two births in a row give one replay; the
// replay declares exactly the unique_ids that were declared before, each in
// exactly one discovery config topic.

func isConfigTopic(topic string) bool {
	return strings.HasPrefix(topic, "homeassistant/") && strings.HasSuffix(topic, "/config")
}

// discoveryIDs maps each unique_id declared by the newest payload of each
// discovery config topic in msgs (an empty payload clears the topic) to the
// config topics declaring it.
func discoveryIDs(t *testing.T, msgs []msg) map[string][]string {
	t.Helper()
	newest := map[string]string{}
	for _, m := range msgs {
		if isConfigTopic(m.topic) {
			newest[m.topic] = m.payload
		}
	}
	ids := map[string][]string{}
	for _, topic := range slices.Sorted(maps.Keys(newest)) {
		p := newest[topic]
		if p == "" {
			continue
		}
		var cfg struct {
			Components map[string]struct {
				UniqueID string `json:"unique_id"`
			} `json:"components"`
		}
		if err := json.Unmarshal([]byte(p), &cfg); err != nil || len(cfg.Components) == 0 {
			t.Fatalf("discovery on %s has no components (%v): %s", topic, err, p)
		}
		for _, c := range cfg.Components {
			if c.UniqueID == "" {
				t.Fatalf("a component on %s has no unique_id: %s", topic, p)
			}
			ids[c.UniqueID] = append(ids[c.UniqueID], topic)
		}
	}
	return ids
}

// checkUnique fails when a unique_id is declared more than once.
func checkUnique(t *testing.T, what string, ids map[string][]string) {
	t.Helper()
	for id, topics := range ids {
		if len(topics) != 1 {
			t.Errorf("%s: unique_id %s is declared %d times: %v", what, id, len(topics), topics)
		}
	}
}

func TestReliability_HomeAssistantRestartReplaysOnceWithTheSameUniqueIDs(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, kind string) {
		h := newHarness(t, kind)
		h.cfg.Poll.Interval = time.Hour // only the replay publishes
		// Two births published in a row must reach the bridge within the
		// delay, or they rightly give two replays: 200 ms was too short on a
		// loaded machine.
		h.birthDelay = 2 * time.Second
		f := h.addFleet()
		h.start()
		all := append([]string{f.lamp, f.kettle, f.fridge, f.strip}, f.outlets...)
		topics := map[string]string{}
		for _, id := range all {
			topics[id] = h.deviceTopic(0, id)
		}
		h.waitBack(0, all, topics)
		bridgeConfig := "homeassistant/device/kasa2mqtt_bridge_" + base + "/config"
		h.rec.waitMsg(0, bridgeConfig, nil)

		before := discoveryIDs(t, h.rec.all())
		checkUnique(t, kind+": before", before)
		configs := map[string]bool{}
		for _, tt := range before {
			configs[tt[0]] = true
		}
		if want := len(all) + 1; len(configs) != want {
			t.Fatalf("%d discovery config topics before the restart, want %d (devices and the bridge)", len(configs), want)
		}

		// Home Assistant stops: nothing is republished.
		mk := h.rec.mark()
		h.rec.publish("homeassistant/status", "offline", false)
		// Answered after "offline" was handled (in order, by one goroutine).
		if r := h.request("health_check", `{}`); r.Status != "ok" {
			t.Fatalf("health_check: %+v", r)
		}
		if h.logged(zapcore.InfoLevel, birthMessage) {
			t.Fatal("Home Assistant going offline scheduled a replay")
		}
		for _, m := range h.rec.all()[mk:] {
			if m.topic != "homeassistant/status" && !strings.HasSuffix(m.topic, "/health_check") {
				t.Fatalf("Home Assistant going offline made the bridge publish %s", m.topic)
			}
		}

		// It comes back and announces itself twice in a row (a retained birth
		// and a fresh one): one replay.
		mk = h.rec.mark()
		born := time.Now()
		h.rec.publish("homeassistant/status", "online", false)
		h.rec.publish("homeassistant/status", "online", false)
		last := h.waitBack(mk, all, topics)
		h.rec.waitMsg(mk, bridgeConfig, nil)
		var first time.Time
		for _, m := range h.rec.all()[mk:] {
			if m.topic != "homeassistant/status" {
				first = m.at
				break
			}
		}
		t.Logf("%s: replay began %v after Home Assistant's birth and was complete after %v",
			kind, first.Sub(born).Round(time.Millisecond), last.Sub(born).Round(time.Millisecond))
		if d := first.Sub(born); d < h.birthDelay {
			t.Errorf("the replay began %v after the birth, before the %v delay", d, h.birthDelay)
		}
		h.birthsSettled(2) // a second replay would be out
		replay := h.rec.all()[mk:]
		for topic := range configs {
			n := 0
			for _, m := range replay {
				if m.topic == topic {
					n++
					if m.payload == "" {
						t.Errorf("the replay cleared %s", topic)
					}
				}
			}
			if n != 1 {
				t.Errorf("%s republished %d times after two births in a row, want 1", topic, n)
			}
		}
		for _, m := range replay {
			if isConfigTopic(m.topic) && !configs[m.topic] {
				t.Errorf("the replay published discovery on a new topic %s", m.topic)
			}
		}
		after := discoveryIDs(t, replay)
		checkUnique(t, kind+": replay", after)
		if !slices.Equal(slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(before))) {
			t.Errorf("the replay declared %d unique_ids, %d before; they differ", len(after), len(before))
		}

		// What Home Assistant reads from the broker: the same, once each.
		late := newRecorder(t, h.broker.url())
		late.waitMsg(0, bridgeConfig, nil)
		for topic := range configs {
			late.waitMsg(0, topic, nil)
		}
		retained := discoveryIDs(t, late.all())
		checkUnique(t, kind+": retained", retained)
		if len(retained) != len(before) {
			t.Errorf("%d unique_ids retained on the broker, %d declared", len(retained), len(before))
		}
	})
}
