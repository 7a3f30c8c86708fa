package test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/kasa2mqtt/kasa2mqtt/internal/daemon"
)

var txSeq atomic.Int64

type response struct {
	Status      string          `json:"status"`
	Data        json.RawMessage `json:"data"`
	Error       string          `json:"error"`
	Transaction json.RawMessage `json:"transaction"`
}

// request sends a bridge request with a fresh transaction id merged into
// payload (a JSON object, or "" for none) and returns the matching response.
func (h *harness) request(path, payload string) response {
	h.t.Helper()
	tx := fmt.Sprintf("tx-%d", txSeq.Add(1))
	body := payload
	if strings.HasPrefix(strings.TrimSpace(payload), "{") {
		var m map[string]any
		if json.Unmarshal([]byte(payload), &m) == nil {
			m["transaction"] = tx
			b, _ := json.Marshal(m)
			body = string(b)
		}
	}
	mk := h.rec.mark()
	h.rec.publish(base+"/bridge/request/"+path, body, false)
	var r response
	h.rec.waitMsg(mk, base+"/bridge/response/"+path, func(p string) bool {
		r = response{}
		if json.Unmarshal([]byte(p), &r) != nil {
			return false
		}
		var got string
		_ = json.Unmarshal(r.Transaction, &got)
		return got == tx || !strings.Contains(body, tx)
	})
	return r
}

func TestE2E_BridgeRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.cfg.Poll.Interval = time.Hour
	f := h.addFleet()
	h.start()
	lamp := h.deviceTopic(0, f.lamp)
	h.rec.waitMsg(0, base+"/"+lamp, nil)

	bad := []struct{ name, path, payload, wantErr string }{
		{"unknown path", "frobnicate", `{}`, `unknown request "frobnicate"; known: health_check`},
		{"not json", "health_check", `hello`, `payload must be a JSON object`},
		{"truncated json", "device/refresh", `{"topic":`, `invalid JSON`},
		{"array", "device/refresh", `[1,2]`, `payload must be a JSON object`},
		{"unknown field", "device/refresh", `{"topik":"x"}`, `unknown field "topik"`},
		{"wrong type", "device/refresh", `{"topic":5}`, `invalid JSON`},
		{"unknown device", "device/refresh", `{"topic":"nope"}`, `no device with topic "nope"`},
		{"no device named", "device/rename", `{"to":"x"}`, `name the device with "id" or "topic"`},
		{"rename without to", "device/rename", `{"topic":"` + lamp + `"}`, `"to" (the new name) is required`},
		{"bad option topic", "device/options", `{"topic":"` + lamp + `","options":{"topic":"a/set"}}`, `reserved`},
		{"bad log level", "log_level", `{"level":"loud"}`, `want debug, info, warn or error`},
		{"bad log component", "log_level", `{"level":"debug","component":"nope"}`, `log component "nope"`},
	}
	for _, tt := range bad {
		r := h.request(tt.path, tt.payload)
		if r.Status != "error" || !strings.Contains(r.Error, tt.wantErr) {
			t.Errorf("%s: status %q error %q, want an error containing %q", tt.name, r.Status, r.Error, tt.wantErr)
		}
	}
	// A huge request is refused without being parsed.
	mk0 := h.rec.mark()
	h.rec.publish(base+"/bridge/request/health_check", `{"id":"`+strings.Repeat("x", 20000)+`"}`, false)
	h.rec.waitMsg(mk0, base+"/bridge/response/health_check", contains(`larger than`))

	// Even a request with bad fields gets its transaction back.
	mk := h.rec.mark()
	h.rec.publish(base+"/bridge/request/device/refresh", `{"transaction":42,"topik":"x"}`, false)
	h.rec.waitMsg(mk, base+"/bridge/response/device/refresh", contains(`"transaction":42`))

	if r := h.request("health_check", `{}`); r.Status != "ok" || !strings.Contains(string(r.Data), `"healthy":true`) {
		t.Errorf("health_check = %+v", r)
	}
	// An empty payload is an empty request.
	mk = h.rec.mark()
	h.rec.publish(base+"/bridge/request/health_check", "", false)
	h.rec.waitMsg(mk, base+"/bridge/response/health_check", contains(`"status":"ok"`))

	// device/refresh re-reads at once: a change made in the app shows up.
	h.fake.SetRelay(f.lamp, true)
	if r := h.request("device/refresh", `{"topic":"`+lamp+`"}`); r.Status != "ok" || !strings.Contains(string(r.Data), `"state":"ON"`) {
		t.Errorf("device/refresh = %+v", r)
	}
	h.rec.waitMsg(0, base+"/"+lamp, contains(`"state":"ON"`))

	if r := h.request("devices/refresh", `{}`); r.Status != "ok" || !strings.Contains(string(r.Data), `"home"`) {
		t.Errorf("devices/refresh = %+v", r)
	}
	if r := h.request("log_level", `{"level":"debug","component":"kasa"}`); r.Status != "ok" {
		t.Errorf("log_level = %+v", r)
	}

	// bridge/info: retained, with account status and no secrets.
	info := h.rec.waitMsg(0, base+"/bridge/info", contains(`"status":"ok"`))
	for _, want := range []string{`"version":"dev"`, `"accounts":{"home":{"provider":"kasa"`, `"logged_in":true`, `"state_dir"`} {
		if !strings.Contains(info.payload, want) {
			t.Errorf("bridge/info lacks %s: %s", want, info.payload)
		}
	}
	if strings.Contains(info.payload, password) {
		t.Fatal("bridge/info contains the password")
	}
	h.rec.waitMsg(0, "homeassistant/device/kasa2mqtt_bridge_kasa2mqtt/config", contains(`"account_home_problem"`))
	h.rec.waitMsg(0, base+"/bridge/event", contains(`"type":"device_added"`))
}

func TestE2E_RenameInTheCloudKeepsIdentity(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	f := h.addFleet()
	h.start()
	h.rec.waitMsg(0, base+"/kettle", nil)
	disc := h.rec.waitMsg(0, configTopic(f.kettle), nil)

	r := h.request("device/rename", `{"topic":"kettle","to":"Tea Kettle"}`)
	if r.Status != "ok" || !strings.Contains(string(r.Data), `"topic":"tea_kettle"`) {
		t.Fatalf("rename = %+v", r)
	}
	if got := h.fake.Alias(f.kettle); got != "Tea Kettle" {
		t.Fatalf("cloud alias = %q", got)
	}
	h.rec.waitMsg(0, base+"/bridge/event", contains(`"type":"device_renamed"`))
	h.rec.waitMsg(0, base+"/tea_kettle", nil)
	h.rec.waitMsg(0, base+"/kettle", func(p string) bool { return p == "" })
	newDisc := h.rec.waitMsg(0, configTopic(f.kettle), contains(`"name":"Tea Kettle"`))
	if uids(disc.payload) != uids(newDisc.payload) {
		t.Errorf("unique_ids changed on rename:\n%s\n%s", uids(disc.payload), uids(newDisc.payload))
	}
}

func uids(payload string) string {
	var p struct {
		Components map[string]struct {
			UniqueID string `json:"unique_id"`
		} `json:"components"`
	}
	_ = json.Unmarshal([]byte(payload), &p)
	var out []string
	for k, c := range p.Components {
		out = append(out, k+"="+c.UniqueID)
	}
	sort.Strings(out)
	return fmt.Sprint(len(out), out)
}

func TestE2E_DeviceOptionsPersistAndDisable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	f := h.addFleet()
	h.start()
	h.rec.waitMsg(0, base+"/fridge", nil)

	if r := h.request("device/options", `{"topic":"fridge","options":{"topic":"kitchen/fridge","name":"Big Fridge"}}`); r.Status != "ok" {
		t.Fatalf("device/options = %+v", r)
	}
	h.rec.waitMsg(0, base+"/kitchen/fridge", nil)
	h.rec.waitMsg(0, base+"/fridge", func(p string) bool { return p == "" })
	h.rec.waitMsg(0, configTopic(f.fridge), contains(`"name":"Big Fridge"`))
	// Commands follow the new topic.
	h.rec.publish(base+"/kitchen/fridge/set", "OFF", false)
	eventually(t, "fridge switched off through its new topic", func() bool { return !h.fake.Relay(f.fridge) })

	// Persisted across a restart.
	h.stop()
	mk := h.rec.mark()
	h.start()
	h.rec.waitMsg(mk, base+"/kitchen/fridge", nil)

	// Disabled: discovery cleared; re-enabled by id: back.
	if r := h.request("device/options", `{"topic":"kitchen/fridge","options":{"disabled":true}}`); r.Status != "ok" {
		t.Fatalf("disable = %+v", r)
	}
	h.rec.waitMsg(mk, configTopic(f.fridge), func(p string) bool { return p == "" })
	mk = h.rec.mark()
	if r := h.request("device/options", `{"id":"`+f.fridge+`","options":{"disabled":false}}`); r.Status != "ok" {
		t.Fatalf("enable = %+v", r)
	}
	h.rec.waitMsg(mk, configTopic(f.fridge), contains(`"name":"Big Fridge"`))
}

func TestE2E_RestartRequestRestartsTheDaemon(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.addFleet()
	h.start()
	h.rec.waitMsg(0, base+"/bridge/state", contains(`"online"`))
	mk := h.rec.mark()
	h.rec.publish(base+"/bridge/request/restart", "{}", false) // what the HA button sends
	h.rec.waitMsg(mk, base+"/bridge/response/restart", contains(`"status":"ok"`))
	select {
	case err := <-h.done:
		if !errors.Is(err, daemon.ErrRestart) {
			t.Fatalf("Run returned %v, want ErrRestart", err)
		}
		h.cancel = nil // already stopped
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon did not stop for the restart")
	}
	if !h.logged(zapcore.InfoLevel, "restart requested") {
		t.Error("restart not logged")
	}
}
