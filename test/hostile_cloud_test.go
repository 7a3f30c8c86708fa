package test

import (
	"encoding/json"
	"io"
	"math"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya/tuyatest"
)

// Hostile cloud input: the clouds (or whoever answers in their name) may
// send truncated JSON, wrong types, giant bodies, responseData as an object,
// an appServerUrl on another host, and negative, NaN or absurd readings.
// The daemon must not crash, must read at most 4 MiB of any answer and say
// so, must never send a token to a host other than the configured cloud,
// must publish no NaN, negative or absurd power and energy nor a lifetime
// energy total that goes down, and must recover once the cloud is sane.

const (
	giantBody = 50 << 20
	// giantHeapBound is the most the heap in use may exceed its level
	// before the giant answers: reading one whole would take over 50 MiB.
	giantHeapBound = 48 << 20
	// Plausibility limits the published state must respect.
	maxPlausiblePowerW   = 100_000
	maxPlausibleEnergyKW = 1_000_000
)

func TestHostileCloudInput(t *testing.T) {
	if !alone(t) { // it measures the heap
		return
	}
	h := newHarness(t, "mochi")
	f := h.addFleet()
	tf := h.addTuya()
	h.start()
	lamp, kettle, fridge := h.deviceTopic(0, f.lamp), h.deviceTopic(0, f.kettle), h.deviceTopic(0, f.fridge)
	heater := h.deviceTopic(0, tf.plug)
	h.rec.waitMsg(0, base+"/"+kettle, contains(`"power":1500`))
	h.rec.waitMsg(0, base+"/"+heater, contains(`"power":1234.5`))
	started := time.Now()

	// sane waits until every fault was served and every device is online.
	sane := func(t *testing.T, what string) {
		t.Helper()
		eventually(t, what+": faults served", func() bool {
			return h.fake.PendingRewrites() == 0 && tf.srv.PendingRewrites() == 0
		})
		h.waitPolls("home", 2) // one more whole poll of each account
		h.waitPolls("garden", 2)
		for _, topic := range []string{lamp, kettle, fridge, heater} {
			eventually(t, what+": "+topic+" available", func() bool {
				return lastPayload(h, base+"/"+topic+"/availability") == `{"state":"online"}`
			})
		}
	}
	waitLog := func(t *testing.T, what string, lvl zapcore.Level, parts ...string) {
		t.Helper()
		eventually(t, what, func() bool { return h.logged(lvl, parts...) })
	}

	t.Run("truncated JSON", func(t *testing.T) {
		h.fake.RewriteNext("passthrough", 3, kasatest.Truncate())
		tf.srv.RewriteNext("/v1.0/iot-03/devices/status", 2, tuyatest.Truncate())
		// Which reads get the cut answers depends on the order of the
		// concurrent calls: a device's state ("cannot read device") or a strip
		// outlet's energy ("kasa outlet energy reading failed"). Either way
		// the log says why.
		waitLog(t, "kasa read error", zapcore.WarnLevel, "decode response", "unexpected end of JSON input")
		waitLog(t, "tuya read error", zapcore.WarnLevel, "devices/status", "malformed response")
		sane(t, "after truncated answers")
	})

	t.Run("giant bodies", func(t *testing.T) {
		before, _ := heapInUse()
		peak := watchHeap()
		t0 := time.Now()
		h.fake.RewriteNext("passthrough", 2, kasatest.Giant(giantBody))
		h.fake.RewriteNext("getDeviceList", 1, kasatest.Giant(giantBody))
		tf.srv.RewriteNext("/v1.0/iot-03/devices/status", 2, tuyatest.Giant(giantBody))
		if r := h.request("devices/refresh", "{}"); r.Status != "ok" {
			t.Errorf("devices/refresh: %+v", r)
		}
		waitLog(t, "kasa giant passthrough refused", zapcore.WarnLevel, "passthrough", "response larger than 4194304 bytes")
		waitLog(t, "kasa giant list refused", zapcore.ErrorLevel, "getDeviceList", "response larger than 4194304 bytes")
		waitLog(t, "tuya giant status refused", zapcore.WarnLevel, "response larger than 4194304 bytes", "status")
		took := time.Since(t0)
		top := peak()
		t.Logf("three 50 MiB answers refused after reading 4 MiB each within %v; heap in use peaked %d MiB above the %d MiB before",
			took.Round(time.Millisecond), (int64(top)-int64(before))>>20, before>>20)
		if grown := int64(top) - int64(before); grown > giantHeapBound {
			t.Errorf("heap in use grew by %d MiB while refusing giant answers, want < %d MiB", grown>>20, giantHeapBound>>20)
		}
		sane(t, "after giant answers")
	})

	t.Run("responseData as an object", func(t *testing.T) {
		h.fake.RewriteNext("passthrough", 1000, kasatest.ResponseDataAsObject())
		h.fake.SetRelay(f.lamp, true) // switched in the app: must be read through the object form
		mk := h.rec.mark()
		h.rec.waitMsg(mk, base+"/"+lamp, contains(`"state":"ON"`))
		h.fake.SetPower(f.kettle, 1700)
		h.rec.waitMsg(mk, base+"/"+kettle, contains(`"power":1700`))
		h.fake.RewriteNext("passthrough", 0, nil)
		if h.logged(zapcore.WarnLevel, "responseData") {
			t.Error("responseData as an object was not accepted")
		}
	})

	t.Run("wrong types", func(t *testing.T) {
		mk := h.rec.mark()
		h.fake.RewriteNext("getDeviceList", 1, kasatest.Raw(`{"error_code":0,"result":{"deviceList":{"deviceId":"AA"}}}`))
		h.request("devices/refresh", "{}")
		waitLog(t, "list of the wrong type", zapcore.ErrorLevel, "deviceList is not an array")
		h.fake.RewriteNext("getDeviceList", 1, kasatest.Raw(`{"error_code":0,"result":{"deviceList":[1,"x",null,{"deviceId":5},{"deviceId":"../../etc"}]}}`))
		h.request("devices/refresh", "{}")
		waitLog(t, "list of garbage rows", zapcore.ErrorLevel, "none of the 5 rows of deviceList has a usable deviceId")
		h.fake.RewriteNext("getDeviceList", 1, kasatest.Raw(`{"error_code":{"x":1},"result":{}}`))
		h.request("devices/refresh", "{}")
		waitLog(t, "error_code of the wrong type", zapcore.ErrorLevel, "missing or invalid error_code")
		h.fake.RewriteNext("passthrough", 40, kasatest.EditResponseData(func(data []byte) []byte {
			s := strings.ReplaceAll(string(data), `"relay_state":1`, `"relay_state":"on"`)
			s = strings.ReplaceAll(s, `"relay_state":0`, `"relay_state":[0]`)
			return []byte(strings.ReplaceAll(s, `"err_code":0`, `"err_code":"zero"`))
		}))
		tf.srv.RewriteNext("/v1.0/iot-03/devices/status", 2, tuyatest.Raw(`{"success":true,"t":1700000000000,"result":{"id":5}}`))
		waitLog(t, "kasa odd types", zapcore.WarnLevel, "cannot read device", "invalid err_code")
		waitLog(t, "tuya odd types", zapcore.WarnLevel, "status")
		h.fake.RewriteNext("passthrough", 0, nil)
		// A bad list is an error, not an empty account: nothing was removed.
		for _, id := range []string{f.lamp, f.kettle, f.fridge, f.strip} {
			if h.rec.count(mk, configTopic(id)) != 0 || h.logged(zapcore.InfoLevel, "device removed", id) {
				t.Errorf("device %s was removed or its discovery changed after a bad device list", id)
			}
		}
		sane(t, "after answers of the wrong types")
	})

	t.Run("appServerUrl on another host", func(t *testing.T) {
		u, _ := url.Parse(h.fake.URL())
		other := "http://127.0.0.2:" + u.Port() // loopback, but not the configured cloud
		h.fake.SetAppServerURL(f.lamp, "https://attacker.example.net/")
		h.fake.SetAppServerURL(f.kettle, other)
		h.fake.SetAppServerURL(f.fridge, "https://tplinkcloud.com.attacker.example.net")
		mk := h.rec.mark()
		h.request("devices/refresh", "{}")
		for _, topic := range []string{lamp, kettle, fridge} {
			h.rec.waitMsg(mk, base+"/"+topic+"/availability", contains(`"offline"`))
		}
		waitLog(t, "refusal named", zapcore.WarnLevel, "attacker.example.net", "outside https://*.tplinkcloud.com")
		waitLog(t, "loopback refusal named", zapcore.WarnLevel, "127.0.0.2", "outside https://*.tplinkcloud.com")
		h.waitPolls("home", 2) // more polls: still nothing goes there
		for _, r := range h.fake.Requests() {
			if r.Host != u.Host {
				t.Errorf("a %s request went to %s", r.Method, r.Host)
			}
		}
		for _, id := range []string{f.lamp, f.kettle, f.fridge} {
			h.fake.SetAppServerURL(id, h.fake.URL())
		}
		h.request("devices/refresh", "{}")
		sane(t, "after the appServerUrl is the cloud's again")
	})

	t.Run("negative, NaN and absurd readings", func(t *testing.T) {
		// The kettle reports power_mw/total_wh, the fridge and the strip's
		// outlets power/total. Each round edits every answer until each
		// of its readings was refused with a reason.
		type edit struct{ from, to, reason string }
		kasaRounds := [][]edit{{
			{`"power_mw":\d+`, `"power_mw":"NaN"`, "power power_mw is not a number"},
			{`"power":[0-9.]+`, `"power":-85.5`, "power power=-85.5 is negative"},
			{`"total_wh":\d+`, `"total_wh":"Infinity"`, "energy total total_wh is not a number"},
			{`"total":[0-9.]+`, `"total":1e15`, "energy total total=1e+15 is implausible"},
		}, {
			{`"power_mw":\d+`, `"power_mw":1e15`, "power power_mw=1e+12 is implausible"},
			{`"total_wh":\d+`, `"total_wh":-5000`, "energy total total_wh=-5 is negative"},
			{`"voltage":[0-9.]+`, `"voltage":"-Inf"`, "voltage voltage is not a number"},
		}}
		for _, round := range kasaRounds {
			h.fake.RewriteNext("passthrough", 1000, kasatest.EditResponseData(func(data []byte) []byte {
				for _, e := range round {
					data = regexp.MustCompile(e.from).ReplaceAll(data, []byte(e.to))
				}
				return data
			}))
			for _, e := range round {
				waitLog(t, e.reason, zapcore.WarnLevel, "kasa energy value dropped", e.reason)
			}
		}
		h.fake.RewriteNext("passthrough", 0, nil)
		// A counter that goes down (the plug was reset) must not lower the
		// published lifetime total.
		h.fake.SetEnergyTotal(f.fridge, 0.001)

		// Tuya: one status answer per round, several data points each.
		tuyaRounds := []map[string]string{
			{"cur_power": `"NaN"`, "add_ele": `-100`, "cur_voltage": `1e12`},
			{"cur_power": `-5`, "add_ele": `1e15`, "cur_current": `1e9`},
			{"cur_power": `1e15`, "add_ele": `"Infinity"`},
		}
		for _, round := range tuyaRounds {
			var pairs []string
			for code, v := range round {
				old := `{"code":"` + code + `","value":`
				pairs = append(pairs, old, old+v+`,"was":`)
			}
			r := strings.NewReplacer(pairs...)
			tf.srv.RewriteNext("/v1.0/iot-03/devices/status", 1, func(w io.Writer, body []byte) {
				_, _ = io.WriteString(w, r.Replace(string(body)))
			})
			eventually(t, "tuya round read", func() bool { return tf.srv.PendingRewrites() == 0 })
		}
		waitLog(t, "tuya bad values named", zapcore.WarnLevel, "tuya data point value dropped")
		sane(t, "after bad readings")
	})

	// Nothing bad was ever published, and nothing left the loopback.
	for _, topic := range []string{lamp, kettle, fridge, heater} {
		checkPublishedReadings(t, h, base+"/"+topic)
	}
	for _, out := range f.outlets {
		checkPublishedReadings(t, h, base+"/"+h.deviceTopic(0, out))
	}
	if hosts := h.fake.ForeignHosts(); len(hosts) != 0 {
		t.Errorf("requests to foreign hosts: %v", hosts)
	}
	if hosts := tf.srv.ForeignHosts(); len(hosts) != 0 {
		t.Errorf("tuya requests to foreign hosts: %v", hosts)
	}
	t.Logf("hostile cloud phases done in %v", time.Since(started).Round(time.Millisecond))
}

// lastPayload is the newest payload on topic.
func lastPayload(h *harness, topic string) string {
	all := h.rec.all()
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].topic == topic {
			return all[i].payload
		}
	}
	return ""
}

// checkPublishedReadings checks every state published on topic: readings
// are finite, non-negative and plausible, and the energy total never goes
// down.
func checkPublishedReadings(t *testing.T, h *harness, topic string) {
	t.Helper()
	lastEnergy, n := -1.0, 0
	for _, m := range h.rec.all() {
		if m.topic != topic || m.payload == "" {
			continue
		}
		var st map[string]any
		if err := json.Unmarshal([]byte(m.payload), &st); err != nil {
			t.Errorf("%s: state %q is not JSON: %v", topic, m.payload, err)
			continue
		}
		n++
		for _, k := range []string{"power", "voltage", "current", "energy"} {
			raw, ok := st[k]
			if !ok {
				continue
			}
			v, isNum := raw.(float64)
			limit := map[string]float64{"power": maxPlausiblePowerW, "voltage": 1000, "current": 1000, "energy": maxPlausibleEnergyKW}[k]
			if !isNum || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > limit {
				t.Errorf("%s: published %s %v in %s", topic, k, raw, m.payload)
			}
		}
		if e, ok := st["energy"].(float64); ok {
			if e < lastEnergy {
				t.Errorf("%s: published energy went down from %v to %v", topic, lastEnergy, e)
			}
			lastEnergy = e
		}
	}
	if n == 0 {
		t.Errorf("%s: no state published", topic)
	}
}
