package bridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// Per-device options set over MQTT (device/options): a name moves the
// device to the topic that follows, a topic moves it, disabled removes it,
// re-enabling lists every account again; bad options are refused.
func TestRegistry_DeviceOptionsOverMQTT(t *testing.T) {
	for _, tc := range []struct {
		name       string
		request    string
		wantErr    string
		wantTopics map[string]string
		wantEvents []string
		relists    int
	}{
		{"name", `{"id":"A","options":{"name":"Reading Lamp"}}`, "",
			map[string]string{"A": "reading_lamp", "B": "fan"}, nil, 0},
		{"topic", `{"topic":"lamp","options":{"topic":"living/lamp"}}`, "",
			map[string]string{"A": "living/lamp", "B": "fan"}, nil, 0},
		{"back to the app's name", `{"from":"Lamp","options":{"name":""}}`, "",
			map[string]string{"A": "lamp", "B": "fan"}, nil, 0},
		{"disabled", `{"id":"B","options":{"disabled":true}}`, "",
			map[string]string{"A": "lamp"}, []string{"device_removed"}, 0},
		{"re-enabled", `{"id":"Z","options":{"disabled":false}}`, "",
			map[string]string{"A": "lamp", "B": "fan"}, nil, 1},
		{"topic of another device", `{"id":"A","options":{"topic":"fan"}}`, `topic "fan" is used by "Fan"`,
			map[string]string{"A": "lamp", "B": "fan"}, nil, 0},
		{"reserved topic", `{"id":"A","options":{"topic":"bridge"}}`, `topic "bridge" is reserved for the bridge`,
			map[string]string{"A": "lamp", "B": "fan"}, nil, 0},
		{"blank name", `{"id":"A","options":{"name":"  "}}`, `"name" must not be blank`,
			map[string]string{"A": "lamp", "B": "fan"}, nil, 0},
		{"no options", `{"id":"A"}`, `"options" is required`,
			map[string]string{"A": "lamp", "B": "fan"}, nil, 0},
		{"unknown device", `{"topic":"nothing","options":{"name":"x"}}`, `no device with topic "nothing"`,
			map[string]string{"A": "lamp", "B": "fan"}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{HomeAssistant: true}, nil, home)
			h.list(home, plug("A", "Lamp", true), plug("B", "Fan", true))
			h.poll(home, h.clock.Now(), relayState("A", true), relayState("B", true))
			events := len(h.pub.events)
			got := h.request("device/options", tc.request)
			if len(got) != 1 || got[0].Error != "" && !strings.Contains(got[0].Error, tc.wantErr) || (got[0].Error == "") != (tc.wantErr == "") {
				t.Fatalf("answers %+v, want error %q", got, tc.wantErr)
			}
			if topics := h.topics(); !maps.Equal(topics, tc.wantTopics) {
				t.Errorf("topics %v, want %v", topics, tc.wantTopics)
			}
			if ev := h.eventTypes()[events:]; !slices.Equal(ev, tc.wantEvents) {
				t.Errorf("events %v, want %v", ev, tc.wantEvents)
			}
			if len(h.relists) != tc.relists {
				t.Errorf("relists %v, want %d", h.relists, tc.relists)
			}
			// What the broker retains matches the registry (once a removed
			// device's state and availability are cleared too).
			h.afterGrace()
			for id, topic := range tc.wantTopics {
				if h.pub.retained["kasa2mqtt/"+topic] == "" || h.pub.retained["kasa2mqtt/"+topic+"/availability"] == "" {
					t.Errorf("device %s: nothing retained on %s", id, topic)
				}
				if kd := h.saved["kasa/"+id]; kd.Topic != topic {
					t.Errorf("device %s saved with topic %q, want %q", id, kd.Topic, topic)
				}
			}
			if n := len(h.retainedTopics("kasa2mqtt/")) - 2; n != 2*len(tc.wantTopics) { // bridge/devices, bridge/info
				t.Errorf("retained %v, want state and availability of %d devices", h.retainedTopics("kasa2mqtt/"), len(tc.wantTopics))
			}
		})
	}
}

// A device/options answer comes only once the options were stored; a
// failure to store them is the answer.
func TestRegistry_DeviceOptionsThatCannotBeSaved(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, plug("A", "Lamp", true))
	effs := h.reg.handleRequest("device/options", mqttMessage{topic: "kasa2mqtt/bridge/request/device/options",
		payload: []byte(`{"id":"A","options":{"topic":"desk"},"transaction":7}`)})
	if len(effs) != 1 {
		t.Fatalf("effects %+v, want only the save", effs)
	}
	h.apply(h.reg.optionsSaved(effs[0].(saveOptionsEffect), errors.New("save device options: disk full")))
	got := h.pub.responses["device/options"]
	if len(got) != 1 || got[0].Status != "error" || !strings.Contains(got[0].Error, "disk full") || string(got[0].Transaction) != "7" {
		t.Errorf("answers %+v", got)
	}
}

// The requests answered at once, and the ones answered by a worker's result.
func TestRegistry_BridgeRequests(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, plug("A", "Lamp", true))
	h.poll(home, h.clock.Now(), relayState("A", true))

	check := func(path, payload, wantErr string) apiResponse {
		t.Helper()
		got := h.request(path, payload)
		if len(got) != 1 || !strings.Contains(got[0].Error, wantErr) || (got[0].Error == "") != (wantErr == "") {
			t.Fatalf("%s %s: answers %+v, want error %q", path, payload, got, wantErr)
		}
		return got[0]
	}
	health := check("health_check", `{"transaction":"t1"}`, "")
	if data, _ := json.Marshal(health.Data); string(health.Transaction) != `"t1"` || !strings.Contains(string(data), `"healthy":true`) {
		t.Errorf("health_check %s %s", data, health.Transaction)
	}
	check("nothing", "", `unknown request "nothing"`)
	check("info", `{"bogus":1}`, "bad request on kasa2mqtt/bridge/request/info")
	check("devices/refresh", `{"account":"work"}`, `no account named "work"`)
	check("devices/refresh", `{}`, "")
	if !slices.Equal(h.relists, []string{"home"}) {
		t.Errorf("relists %v", h.relists)
	}
	check("device/rename", `{"id":"A","to":"Desk"}`, "the kasa provider cannot rename devices")
	check("log_level", `{"level":"debug"}`, "not available in this mode")
	check("restart", ``, "not available in this mode")

	// device/refresh is answered with the state the re-read published.
	if got := h.request("device/refresh", `{"topic":"lamp","transaction":2}`); len(got) != 0 {
		t.Fatalf("answered before the worker: %+v", got)
	}
	jobs := h.takeJobs()
	h.finish(jobs[0], resultEvent{state: new(relayState("A", false)), started: h.clock.Now()})
	got := h.pub.responses["device/refresh"]
	if data, _ := json.Marshal(got[0].Data); len(got) != 1 || string(data) != `{"id":"A","state":{"led":"ON","state":"OFF"},"topic":"lamp"}` {
		t.Errorf("device/refresh answered %s", data)
	}
	h.command("kasa2mqtt/lamp/get", "")
	jobs = h.takeJobs()
	h.request("device/refresh", `{"id":"A"}`)
	jobs = append(jobs, h.takeJobs()...)
	h.finish(jobs[0], resultEvent{readErr: fmt.Errorf("v: %w", cloud.ErrTimeout)})
	h.list(home) // removed meanwhile
	h.finish(jobs[1], resultEvent{state: new(relayState("A", false))})
	if got := h.pub.responses["device/refresh"]; len(got) != 2 || got[1].Error != "the device was removed meanwhile" {
		t.Errorf("answers %+v", got)
	}
}

// A rename in the vendor cloud is answered once the worker renamed it:
// new name and topic, device_renamed, and the account listed again.
func TestRegistry_RenameInTheCloud(t *testing.T) {
	acct := &renamingProvider{testProvider{kind: "kasa", account: "home"}}
	h := newHarness(t, Options{}, nil, acct)
	h.list(acct, plug("A", "Lamp", true))
	h.request("device/rename", `{"from":"Lamp","to":" Desk Lamp "}`)
	jobs := h.takeJobs()
	if len(jobs) != 1 || jobs[0].job.rename != "Desk Lamp" {
		t.Fatalf("jobs %+v", jobs)
	}
	h.finish(jobs[0], resultEvent{state: new(relayState("A", true))})
	got := h.pub.responses["device/rename"]
	if data, _ := json.Marshal(got[0].Data); string(data) != `{"from":"Lamp","id":"A","to":"Desk Lamp","topic":"desk_lamp"}` {
		t.Errorf("answer %s", data)
	}
	if ev := h.eventTypes(); ev[len(ev)-1] != "device_renamed" || !slices.Equal(h.relists, []string{"home"}) {
		t.Errorf("events %v, relists %v", ev, h.relists)
	}
	h.request("device/rename", `{"id":"A","to":"Lamp"}`)
	h.finish(h.takeJobs()[0], resultEvent{renameErr: errors.New("vendor: refused")})
	if got := h.pub.responses["device/rename"]; len(got) != 2 || got[1].Error != "vendor: refused" || h.topics()["A"] != "desk_lamp" {
		t.Errorf("failed rename: %+v, topic %s", got, h.topics()["A"])
	}
}

// restart answers first, then asks the daemon to restart; log_level
// changes the level and republishes bridge/info.
func TestRegistry_RestartAndLogLevel(t *testing.T) {
	var level string
	opts := Options{Restart: func() {}, SetLogLevel: func(c, l string) error {
		if l == "loud" {
			return errors.New("unknown level")
		}
		level = c + "=" + l
		return nil
	}, LogLevel: func() string { return level }}
	h := newHarness(t, opts, nil, home)
	effs := h.reg.handleRequest("restart", mqttMessage{topic: "kasa2mqtt/bridge/request/restart"})
	if len(effs) != 2 {
		t.Fatalf("effects %+v", effs)
	}
	if _, ok := effs[0].(sendEffect); !ok {
		t.Errorf("restart before the answer: %+v", effs)
	}
	h.apply(effs)
	if h.restarts != 1 {
		t.Errorf("restarts %d", h.restarts)
	}
	if got := h.request("log_level", `{"level":"loud"}`); got[0].Error != "unknown level" {
		t.Errorf("answer %+v", got)
	}
	if got := h.request("log_level", `{"level":"debug","component":"kasa"}`); got[0].Error != "" || level != "kasa=debug" {
		t.Errorf("answer %+v, level %s", got, level)
	}
	if info := h.pub.retained["kasa2mqtt/bridge/info"]; !strings.Contains(info, `"log_level":"kasa=debug"`) {
		t.Errorf("bridge/info %s", info)
	}
}
