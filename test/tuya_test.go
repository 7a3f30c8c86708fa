package test

import (
	"strings"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya/tuyatest"
	"github.com/kasa2mqtt/kasa2mqtt/internal/config"
)

const (
	tuyaID     = "p3kt9mqz7v2xw8yfabcd"
	tuyaSecret = "0123456789abcdef0123456789abcdef"
)

// tuyaFleet is a Tuya project with a metered plug and a 2-gang strip,
// configured as a second account next to the Kasa one.
type tuyaFleet struct {
	srv         *tuyatest.Server
	plug, strip string
	gangs       []string
}

func (h *harness) addTuya() tuyaFleet {
	h.t.Helper()
	srv := tuyatest.NewServer()
	h.t.Cleanup(srv.Close)
	addSecretSource(h, srv.Secrets) // test/secrets_test.go
	srv.AddProject(tuyaID, tuyaSecret)
	f := tuyaFleet{srv: srv}
	f.plug = srv.AddPlug(tuyaID, "Heater", true)
	f.strip, f.gangs = srv.AddStrip(tuyaID, "Desk Power", 2)
	srv.SetSwitch(f.plug, "switch_1", true)
	srv.SetPower(f.plug, 1234.5)
	h.cfg.Accounts = append(h.cfg.Accounts, config.Account{
		Provider: "tuya", Name: "garden", Budget: "none", Settings: &tuya.Config{AccessID: tuyaID, AccessSecret: tuyaSecret, Endpoint: srv.URL(), Auth: "simple"},
	})
	return f
}

func TestE2E_TuyaDiscoveryScaledSensorsAndEnergy(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, kind string) {
		h := newHarness(t, kind)
		h.addFleet()
		f := h.addTuya()
		h.start()

		h.rec.waitMsg(0, "homeassistant/device/tuya_"+f.plug+"/config", contains(`"manufacturer":"Tuya"`))
		h.rec.waitMsg(0, "homeassistant/device/tuya_"+f.gangs[1]+"/config", contains(`"via_device":"kasa2mqtt_tuya_`+f.strip+`"`))
		heater := h.deviceTopic(0, f.plug)
		// cur_power is tenths of a watt, cur_current mA: published as W and A.
		m := h.rec.waitMsg(0, base+"/"+heater, contains(`"power":1234.5`))
		if c, _ := stateField(m.payload, "current").(float64); c < 5.3 || c > 5.4 {
			t.Errorf("current = %v A in %s, want about 5.37 (from mA)", stateField(m.payload, "current"), m.payload)
		}
		if v, _ := stateField(m.payload, "voltage").(float64); v != 230 {
			t.Errorf("voltage = %v in %s", v, m.payload)
		}

		// add_ele deltas accumulate into a lifetime total that only grows.
		first, _ := stateField(m.payload, "energy").(float64)
		f.srv.Tick(time.Hour) // 1.2345 kWh
		m = h.rec.waitMsg(0, base+"/"+heater, func(p string) bool {
			v, _ := stateField(p, "energy").(float64)
			return v > first+1.2
		})
		total, _ := stateField(m.payload, "energy").(float64)
		if total > first+1.3 {
			t.Errorf("energy grew by %v kWh for 1.2345 kWh used", total-first)
		}
		h.waitPolls("garden", 2) // more polls, no new energy: the total stays put
		last := h.rec.waitMsg(0, base+"/"+heater, nil)
		for _, msg := range h.rec.all() {
			if msg.topic == base+"/"+heater {
				last = msg
			}
		}
		if v, _ := stateField(last.payload, "energy").(float64); v < total || v > total+0.01 {
			t.Errorf("energy moved from %v to %v without consumption", total, v)
		}
	})
}

func TestE2E_TuyaStripGangCommands(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.cfg.Poll.Interval = time.Hour
	f := h.addTuya()
	h.start()
	gang2 := h.deviceTopic(0, f.gangs[1])
	h.rec.waitMsg(0, base+"/"+gang2, contains(`"state":"OFF"`))

	mk := h.rec.mark()
	h.rec.publish(base+"/"+gang2+"/set", "ON", false)
	h.rec.waitMsg(mk, base+"/"+gang2, contains(`"state":"ON"`))
	if !f.srv.Switch(f.strip, "switch_2") || f.srv.Switch(f.strip, "switch_1") {
		t.Fatalf("after ON on gang 2: switch_1=%v switch_2=%v", f.srv.Switch(f.strip, "switch_1"), f.srv.Switch(f.strip, "switch_2"))
	}
	mk = h.rec.mark()
	h.rec.publish(base+"/"+gang2+"/set", `{"state":"TOGGLE"}`, false)
	h.rec.waitMsg(mk, base+"/"+gang2, contains(`"state":"OFF"`))
	if f.srv.Switch(f.strip, "switch_2") {
		t.Fatal("TOGGLE did not switch gang 2 off")
	}
}

func TestE2E_TuyaQuotaExhaustedStopsPolling(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	f := h.addTuya()
	h.start()
	heater := h.deviceTopic(0, f.plug)
	h.rec.waitMsg(0, base+"/"+heater, nil)

	f.srv.SetQuotaExhausted(true)
	h.rec.waitMsg(0, base+"/bridge/info", contains(`"status":"rate_limited"`))
	h.rec.waitMsg(0, base+"/bridge/event", contains(`"type":"account_error"`))
	calls := f.srv.Calls("/")
	// Chances to call the cloud: a refresh of the plug and a new list,
	// asked for over MQTT (the next poll is minutes away: the bridge backs
	// off from a rate-limited account).
	if r := h.refreshed(f.plug); r.Status != "error" {
		t.Errorf("device/refresh of a paused account: %+v, want an error", r)
	}
	failed := h.failedCalls("garden")
	if r := h.request("devices/refresh", `{}`); r.Status != "ok" {
		t.Fatalf("devices/refresh: %+v", r)
	}
	h.waitFailedCalls("garden", failed+1)
	if n := f.srv.Calls("/") - calls; n != 0 {
		t.Fatalf("%d cloud calls after the trial quota ran out, want none", n)
	}
	if !h.logged(0, "28841004") {
		t.Error("the log does not name the quota error code")
	}
	info := h.rec.waitMsg(0, base+"/bridge/info", contains(`"rate_limited"`))
	if !strings.Contains(info.payload, `"problem":true`) {
		t.Errorf("bridge/info does not flag the problem: %s", info.payload)
	}
}
