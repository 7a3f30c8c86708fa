package test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

// scaleGuard bounds the waits of the scale tests: a guard against a hang,
// not a timing (under -race the daemon reads 2,000 devices slowly).
const scaleGuard = 3 * time.Minute

// waitUntil is eventually for the scale tests: up to scaleGuard, and
// every 200 ms, since their conditions go through thousands of messages.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	pollUntil(t, scaleGuard, 200*time.Millisecond, what, cond)
}

// stateTopics counts the distinct device state topics under prefix and the
// availability messages that said offline.
func stateTopics(h *harness, prefix string) (states, offline int) {
	seen := map[string]bool{}
	for _, m := range h.rec.all() {
		rest, ok := strings.CutPrefix(m.topic, prefix+"/")
		if !ok || strings.HasPrefix(rest, "bridge/") {
			continue
		}
		switch {
		case strings.HasSuffix(rest, "/availability"):
			if strings.Contains(m.payload, "offline") {
				offline++
			}
		case strings.HasPrefix(m.payload, "{"):
			seen[rest] = true
		}
	}
	return len(seen), offline
}

// 2,000 plugs on one account behind a cloud that takes 30 ms per call,
// polled every 5 s: reading them all takes longer than the interval at the
// default concurrency, so the interval stretches (logged once with the
// numbers, shown in bridge/info) and every device stays available.
func TestScale_SlowCloudKeepsEveryDeviceAvailable(t *testing.T) {
	t.Parallel()
	const devices = 2000
	h := newHarness(t, "mochi")
	for i := range devices {
		h.fake.AddPlug(user, fmt.Sprintf("Plug %04d", i), "HS103(US)")
	}
	h.fake.SetLatency(30 * time.Millisecond)
	h.cfg.Poll.Interval = 5 * time.Second
	// Each read has its own deadline; the list of 2,000 devices must not
	// miss its own on a loaded machine (it did at 2 s while other tests
	// listed thousands of devices), which would be an account error.
	h.cfg.Poll.RequestTimeout = 10 * time.Second
	h.cfg.Log.Level = "info" // 2,000 devices' debug lines are not the point
	h.start()

	waitUntil(t, "a state for every device", func() bool {
		n, _ := stateTopics(h, base)
		return n == devices
	})
	// Two more rounds of reads at the stretched interval.
	first := h.fake.Calls("passthrough")
	waitUntil(t, "two more rounds of reads", func() bool { return h.fake.Calls("passthrough") >= first+2*devices })

	if _, offline := stateTopics(h, base); offline != 0 {
		t.Errorf("%d devices were published unavailable though the cloud answered every request", offline)
	}
	if h.logged(zapcore.ErrorLevel, "cloud account error") {
		t.Error("the account was in error though the cloud answered every request")
	}
	if !h.logged(zapcore.WarnLevel, "poll interval stretched", "cycle", "effective_interval") {
		t.Error("no log line says the interval was stretched, with the cycle time")
	}
	if n := h.logs.FilterMessageSnippet("poll interval stretched").Len(); n != 1 {
		t.Errorf("%d lines say the interval was stretched, want one", n)
	}
	info := h.rec.waitMsg(0, base+"/bridge/info", contains(`"poll_stretched":"cycle"`))
	var bi struct {
		Accounts map[string]struct {
			PollInterval float64 `json:"poll_interval_s"`
		} `json:"accounts"`
	}
	if err := json.Unmarshal([]byte(info.payload), &bi); err != nil {
		t.Fatal(err)
	}
	if got := bi.Accounts["home"].PollInterval; got <= 5 {
		t.Errorf("bridge/info shows a poll interval of %vs, want the stretched one (above 5s)", got)
	}
}

// Two instances with different accounts, client ids and base topics on one
// broker: each keeps its connection, publishes only under its own base
// topic and its devices' discovery topics, their unique ids never collide,
// and a command reaches only its own instance's device.
func TestScale_TwoInstancesOnOneBroker(t *testing.T) {
	t.Parallel()
	a := newHarness(t, "mochi")
	lampA := a.fake.AddPlug(user, "Lamp", "HS103(US)")
	a.fake.AddStrip(user, "Desk", "HS300(US)", 3, true)
	a.cfg.MQTT.ClientID, a.cfg.MQTT.BaseTopic = "kasa2mqtt-a", "a"

	// The second instance: its own cloud account, state and identity, the
	// first one's broker.
	b := &harness{t: t, stateDir: t.TempDir(), broker: a.broker, rec: a.rec}
	checkSecrets(b)
	b.fake = kasatest.NewServer()
	t.Cleanup(b.fake.Close)
	b.fake.AddAccount(user, password)
	lampB := b.fake.AddPlug(user, "lamp", "HS103(US)") // the same topic segment as A's
	b.fake.AddPlug(user, "Kettle", "HS103(US)")
	b.cfg = b.testConfig()
	b.cfg.Accounts[0].Name = "cellar"
	b.cfg.MQTT.Server = a.broker.url()
	b.cfg.MQTT.ClientID, b.cfg.MQTT.BaseTopic = "kasa2mqtt-b", "b"
	if lampA == lampB {
		t.Fatal("the two fakes gave their lamps one id")
	}

	a.start()
	b.start()
	a.rec.waitMsg(0, "a/lamp", nil)
	a.rec.waitMsg(0, "b/lamp", nil)
	a.rec.waitMsg(0, "b/kettle", nil)
	a.rec.waitMsg(0, "homeassistant/device/kasa2mqtt_bridge_a/config", nil)
	a.rec.waitMsg(0, "homeassistant/device/kasa2mqtt_bridge_b/config", nil)

	// A command on A's topic reaches A's lamp only.
	a.rec.publish("a/lamp/set", "ON", false)
	a.rec.waitMsg(0, "a/lamp", contains(`"state":"ON"`))
	if b.fake.Relay(lampB) {
		t.Error("a command for a/lamp switched the second instance's lamp")
	}
	a.waitPolls("home", 2) // several polls of both
	b.waitPolls("cellar", 2)

	// Topics: each instance's under its base topic, and discovery topics
	// of distinct devices.
	owner := map[string]string{} // discovery topic -> base topic its payload names
	uniq := map[string]string{}  // unique_id -> discovery topic
	for _, m := range a.rec.all() {
		if !strings.HasPrefix(m.topic, "homeassistant/") || m.payload == "" {
			continue
		}
		var p any
		if err := json.Unmarshal([]byte(m.payload), &p); err != nil {
			t.Fatalf("discovery %s: %v", m.topic, err)
		}
		walkJSON(p, "", func(key, val string) {
			switch {
			case key == "unique_id":
				if other, ok := uniq[val]; ok && other != m.topic {
					t.Errorf("unique_id %s in %s and %s", val, other, m.topic)
				}
				uniq[val] = m.topic
			case strings.HasSuffix(key, "topic"):
				base, _, _ := strings.Cut(val, "/")
				if prev, ok := owner[m.topic]; ok && prev != base {
					t.Errorf("%s names the topics of %s and %s", m.topic, prev, base)
				}
				owner[m.topic] = base
			}
		})
	}
	perBase := map[string]int{}
	for _, b := range owner {
		perBase[b]++
	}
	// A: lamp, strip, 3 outlets and the bridge; B: lamp, kettle and the
	// bridge.
	if perBase["a"] != 6 || perBase["b"] != 3 {
		t.Errorf("discovery topics per instance %v, want a:6 b:3", perBase)
	}
	for _, m := range a.rec.all() {
		if strings.HasPrefix(m.topic, "kasa2mqtt/") {
			t.Errorf("a message on the default base topic: %s", m.topic)
			break
		}
	}
	// Client ids: both stayed connected all along.
	for name, h := range map[string]*harness{"a": a, "b": b} {
		if h.logged(zapcore.WarnLevel, "connection lost") {
			t.Errorf("instance %s lost its broker connection (a client id clash?)", name)
		}
		if got := a.rec.waitMsg(0, name+"/bridge/state", nil); !strings.Contains(got.payload, "online") {
			t.Errorf("instance %s: bridge/state %s", name, got.payload)
		}
	}
	var seen []string
	for _, h := range []*harness{a, b} {
		for _, e := range h.logs.FilterMessage("connecting to the MQTT broker").All() {
			seen = append(seen, e.ContextMap()["client_id"].(string))
		}
	}
	if strings.Join(seen, ",") != "kasa2mqtt-a,kasa2mqtt-b" {
		t.Errorf("client ids %v, want kasa2mqtt-a and kasa2mqtt-b", seen)
	}
}

// walkJSON calls f with the key and value of every string in v.
func walkJSON(v any, key string, f func(key, val string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			walkJSON(e, k, f)
		}
	case []any:
		for _, e := range v {
			walkJSON(e, key, f)
		}
	case string:
		f(key, v)
	}
}

// An account of 550 HS300 strips (3,850 strips and outlets) with the
// embedded broker at its defaults: bridge/devices (about 1.2 MB) is
// larger than the 1 MiB many brokers allow, and the default
// max_packet_size carries it, so a subscriber gets the whole list.
func TestScale_DefaultEmbeddedBrokerCarriesALargeDeviceList(t *testing.T) {
	t.Parallel()
	const strips, outlets = 550, 6
	h := newEmbeddedHarness(t)
	for i := range strips {
		h.fake.AddStrip(user, fmt.Sprintf("Workshop Strip %04d", i), "HS300(US)", outlets, true)
	}
	h.cfg.MQTT.Embedded.MaxPacketSize = 0 // the default
	h.cfg.Poll.Interval = time.Minute
	h.cfg.Log.Level = "info"
	h.startEmbedded()
	sub := dialV5(t, h.embeddedAddr(), "large-list-reader", true, 0)
	sub.subscribe(base + "/bridge/devices")

	var devices []json.RawMessage
	waitUntil(t, "bridge/devices with every strip and outlet", func() bool {
		sub.mu.Lock()
		defer sub.mu.Unlock()
		for _, m := range slices.Backward(sub.msgs) {
			if m.Topic == base+"/bridge/devices" {
				return json.Unmarshal(m.Payload, &devices) == nil && len(devices) == strips*(1+outlets)
			}
		}
		return false
	})
	if h.logged(zapcore.ErrorLevel, "larger than the broker accepts") {
		t.Error("the bridge kept a message back from the embedded broker at its default limit")
	}
}
