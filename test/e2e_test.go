package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/internal/config"
)

// fleet is the standard account: a plug, two metered plugs of both emeter
// generations and a 6-outlet metered strip.
type fleet struct {
	lamp, kettle, fridge, strip string
	outlets                     []string
}

func (h *harness) addFleet() fleet {
	var f fleet
	f.lamp = h.fake.AddPlug(user, "Living Room Lamp", "HS103(US)")
	f.kettle = h.fake.AddMeteredPlug(user, "Kettle", "KP115(US)", true)
	f.fridge = h.fake.AddMeteredPlug(user, "Fridge", "HS110(EU)", false)
	f.strip, f.outlets = h.fake.AddStrip(user, "Desk Strip", "HS300(US)", 6, true)
	h.fake.SetPower(f.kettle, 1500)
	h.fake.SetPower(f.fridge, 85.5)
	for i, id := range f.outlets {
		h.fake.SetPower(id, float64(10*(i+1)))
	}
	// Metered devices draw power only while on.
	h.fake.SetRelay(f.kettle, true)
	h.fake.SetRelay(f.fridge, true)
	h.fake.SetRelay(f.outlets[2], true)
	return f
}

func configTopic(id string) string { return "homeassistant/device/kasa_" + id + "/config" }

// deviceTopic finds the topic the bridge gave a device in bridge/devices.
func (h *harness) deviceTopic(from int, id string) string {
	h.t.Helper()
	var topic string
	h.rec.waitMsg(from, base+"/bridge/devices", func(p string) bool {
		var list []struct {
			ID, Topic string
		}
		if json.Unmarshal([]byte(p), &list) != nil {
			return false
		}
		for _, d := range list {
			if d.ID == id {
				topic = d.Topic
				return true
			}
		}
		return false
	})
	return topic
}

func stateField(p string, key string) any {
	var m map[string]any
	if json.Unmarshal([]byte(p), &m) != nil {
		return nil
	}
	return m[key]
}

func TestE2E_DiscoveryStateAndEnergyAppear(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, kind string) {
		h := newHarness(t, kind)
		f := h.addFleet()
		h.start()

		m := h.rec.waitMsg(0, configTopic(f.lamp), contains(`"device_class":"outlet"`))
		t.Logf("%s: discovery of the first device %v after start", kind, m.at.Sub(h.started).Round(time.Millisecond))
		h.rec.waitMsg(0, base+"/bridge/state", contains(`"online"`))
		for _, id := range append([]string{f.kettle, f.fridge, f.strip}, f.outlets...) {
			h.rec.waitMsg(0, configTopic(id), nil)
		}
		// Outlets link to their strip.
		h.rec.waitMsg(0, configTopic(f.outlets[0]), contains(`"via_device":"kasa2mqtt_kasa_`+f.strip+`"`))

		lamp := h.deviceTopic(0, f.lamp)
		if lamp != "living_room_lamp" {
			t.Errorf("lamp topic = %q, want living_room_lamp", lamp)
		}
		h.rec.waitMsg(0, base+"/"+lamp, contains(`"state":"OFF"`))
		h.rec.waitMsg(0, base+"/"+lamp+"/availability", contains(`"online"`))

		// Energy, normalised from both generations (W, V, A, kWh).
		kettle := h.deviceTopic(0, f.kettle)
		km := h.rec.waitMsg(0, base+"/"+kettle, contains(`"power":1500`))
		if v, ok := stateField(km.payload, "voltage").(float64); !ok || v < 100 || v > 260 {
			t.Errorf("kettle voltage = %v in %s, want volts", stateField(km.payload, "voltage"), km.payload)
		}
		fridge := h.deviceTopic(0, f.fridge)
		h.rec.waitMsg(0, base+"/"+fridge, contains(`"power":85.5`))
		outlet := h.deviceTopic(0, f.outlets[2])
		om := h.rec.waitMsg(0, base+"/"+outlet, contains(`"power":30`))
		if _, ok := stateField(om.payload, "energy").(float64); !ok {
			t.Errorf("outlet state %s has no energy", om.payload)
		}
		t.Logf("%s: state of all devices %v after start", kind, time.Since(h.started).Round(time.Millisecond))

		// Retained: a client connecting now sees discovery and state at once.
		late := newRecorder(t, h.broker.url())
		lm := late.waitMsg(0, base+"/"+lamp, nil)
		if !lm.retained {
			t.Errorf("state of %s is not retained", lamp)
		}
		if dm := late.waitMsg(0, configTopic(f.lamp), nil); !dm.retained {
			t.Errorf("discovery is not retained")
		}
		h.rec.waitMsg(0, base+"/bridge/devices", contains(`"parent":"`+f.strip+`"`))
	})
}

func TestE2E_SetSwitchesPlugAndOutletWithConfirmedState(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, kind string) {
		h := newHarness(t, kind)
		h.cfg.Poll.Interval = time.Hour // confirmation must come from the re-read, not a poll
		f := h.addFleet()
		h.start()
		lamp := h.deviceTopic(0, f.lamp)
		h.rec.waitMsg(0, base+"/"+lamp, contains(`"state":"OFF"`))

		mk := h.rec.mark()
		h.rec.publish(base+"/"+lamp+"/set", "ON", false)
		h.rec.waitMsg(mk, base+"/"+lamp, contains(`"state":"ON"`))
		if !h.fake.Relay(f.lamp) {
			t.Fatal("the cloud plug is still off after /set ON")
		}

		mk = h.rec.mark()
		h.rec.publish(base+"/"+lamp+"/set", `{"state":"toggle"}`, false)
		h.rec.waitMsg(mk, base+"/"+lamp, contains(`"state":"OFF"`))
		if h.fake.Relay(f.lamp) {
			t.Fatal("TOGGLE did not switch the plug off")
		}

		// One strip outlet, plain form; its neighbours stay as they were.
		out := h.deviceTopic(0, f.outlets[3])
		h.rec.waitMsg(0, base+"/"+out, contains(`"state":"OFF"`))
		mk = h.rec.mark()
		h.rec.publish(base+"/"+out+"/set/state", "on", false)
		h.rec.waitMsg(mk, base+"/"+out, contains(`"state":"ON"`))
		for i, id := range f.outlets {
			if want := i == 3 || i == 2; h.fake.Relay(id) != want {
				t.Errorf("outlet %d relay = %v, want %v", i, h.fake.Relay(id), want)
			}
		}

		// LED (inverted on the wire) and a refresh request.
		mk = h.rec.mark()
		h.rec.publish(base+"/"+lamp+"/set/led", "OFF", false)
		h.rec.waitMsg(mk, base+"/"+lamp, contains(`"led":"OFF"`))
		if h.fake.LED(f.lamp) {
			t.Error("LED still on in the cloud")
		}
		h.fake.SetRelay(f.lamp, true) // switched in the app
		mk = h.rec.mark()
		h.rec.publish(base+"/"+lamp+"/get", "", false)
		h.rec.waitMsg(mk, base+"/"+lamp, contains(`"state":"ON"`))

		// Bad payloads are reported with topic and payload, and change nothing.
		h.rec.publish(base+"/"+lamp+"/set", "BLINK", false)
		eventually(t, "warning about the bad payload", func() bool {
			return h.logged(zapcore.WarnLevel, base+"/"+lamp+"/set", `"BLINK"`)
		})
		if !h.fake.Relay(f.lamp) {
			t.Error("a bad payload changed the plug")
		}
	})
}

func TestE2E_CommandsForOneDeviceStayInOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.cfg.Poll.Interval = time.Hour
	f := h.addFleet()
	h.start()
	lamp := h.deviceTopic(0, f.lamp)
	h.rec.waitMsg(0, base+"/"+lamp, nil)
	for i := range 9 {
		v := "ON"
		if i%2 == 1 {
			v = "OFF"
		}
		h.rec.publish(base+"/"+lamp+"/set", v, false)
	}
	// The last command was ON: that is what the plug must end in. A refresh
	// of the lamp is done by its worker after every command before it.
	eventually(t, "plug ends ON", func() bool { return h.fake.Relay(f.lamp) })
	if r := h.refreshed(f.lamp); r.Status != "ok" {
		t.Fatalf("device/refresh: %+v", r)
	}
	if !h.fake.Relay(f.lamp) {
		t.Fatal("the plug did not end in the state of the last command")
	}
}

func TestE2E_TokenExpiryCausesExactlyOneLogin(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, kind string) {
		h := newHarness(t, kind)
		f := h.addFleet()
		for i := range 6 {
			h.fake.AddPlug(user, "Spare "+string(rune('A'+i)), "HS103(US)")
		}
		h.start()
		lamp := h.deviceTopic(0, f.lamp)
		h.rec.waitMsg(0, base+"/"+lamp, nil)
		before := h.fake.Calls("login") + h.fake.Calls("refreshToken")

		h.fake.ExpireTokens()
		h.fake.SetRelay(f.lamp, true)
		mk := h.rec.mark()
		h.rec.waitMsg(mk, base+"/"+lamp, contains(`"state":"ON"`))
		h.waitPolls("home", 2) // another whole poll on the new token
		after := h.fake.Calls("login") + h.fake.Calls("refreshToken")
		if after-before != 1 {
			t.Fatalf("token expiry across %d devices caused %d logins/refreshes, want exactly 1", 10+6, after-before)
		}
		if h.logged(zapcore.WarnLevel, "offline") {
			t.Error("a token expiry marked devices offline")
		}
	})
}

func TestE2E_WrongPasswordTriesOnceAndBridgeStaysUp(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, kind string) {
		h := newHarness(t, kind)
		h.addFleet()
		h.kasaSettings(0).Password = "not-the-password"
		h.cfg.Poll.DeviceListInterval = 500 * time.Millisecond
		h.start()
		h.rec.waitMsg(0, base+"/bridge/state", contains(`"online"`))
		eventually(t, "a clear log line", func() bool { return h.logged(zapcore.ErrorLevel, "wrong password") })
		h.waitFailedCalls("home", h.failedCalls("home")+6) // six list intervals: six chances to log in again
		if n := h.fake.Calls("login"); n != 1 {
			t.Fatalf("wrong password: %d login attempts, want exactly 1", n)
		}
		late := newRecorder(t, h.broker.url())
		late.waitMsg(0, base+"/bridge/state", contains(`"online"`))
		for _, e := range h.logs.All() {
			if strings.Contains(entryText(e), "not-the-password") {
				t.Fatalf("the password appeared in a log line: %s", e.Message)
			}
		}
	})
}

func TestE2E_OfflineDeviceBecomesUnavailableAndComesBack(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, kind string) {
		h := newHarness(t, kind)
		f := h.addFleet()
		h.start()
		lamp := h.deviceTopic(0, f.lamp)
		h.rec.waitMsg(0, base+"/"+lamp+"/availability", contains(`"online"`))

		mk := h.rec.mark()
		h.fake.SetOnline(f.lamp, false)
		h.rec.waitMsg(mk, base+"/"+lamp+"/availability", contains(`"offline"`))
		// The other devices are unaffected.
		kettle := h.deviceTopic(0, f.kettle)
		if n := h.rec.count(mk, base+"/"+kettle+"/availability"); n != 0 {
			t.Errorf("kettle availability changed %d times while only the lamp went offline", n)
		}
		mk = h.rec.mark()
		h.fake.SetOnline(f.lamp, true)
		h.rec.waitMsg(mk, base+"/"+lamp+"/availability", contains(`"online"`))
	})
}

func TestE2E_BrokerRestartRepublishesEverything(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, kind string) {
		h := newHarness(t, kind)
		f := h.addFleet()
		h.start()
		lamp := h.deviceTopic(0, f.lamp)
		h.rec.waitMsg(0, base+"/"+lamp, nil)

		h.broker.restart() // the broker forgets every retained message
		restarted := time.Now()
		late := newRecorder(t, h.broker.url())
		late.waitMsg(0, base+"/bridge/state", contains(`"online"`))
		late.waitMsg(0, configTopic(f.lamp), nil)
		late.waitMsg(0, base+"/"+lamp+"/availability", contains(`"online"`))
		late.waitMsg(0, base+"/"+lamp, contains(`"state"`))
		t.Logf("%s: everything republished %v after the broker came back", kind, time.Since(restarted).Round(time.Millisecond))

		// And commands work again (the bridge resubscribed).
		late.publish(base+"/"+lamp+"/set", "ON", false)
		eventually(t, "command after broker restart", func() bool { return h.fake.Relay(f.lamp) })
	})
}

func TestE2E_HomeAssistantBirthReplaysDiscoveryAndState(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, kind string) {
		h := newHarness(t, kind)
		h.cfg.Poll.Interval = time.Hour // nothing else publishes
		f := h.addFleet()
		h.start()
		lamp := h.deviceTopic(0, f.lamp)
		h.rec.waitMsg(0, base+"/"+lamp, nil)

		mk := h.rec.mark()
		h.rec.publish("homeassistant/status", "offline", false)
		// Answered after "offline" was handled (in order, by one goroutine).
		if r := h.request("health_check", `{}`); r.Status != "ok" {
			t.Fatalf("health_check: %+v", r)
		}
		if n := h.rec.count(mk, configTopic(f.lamp)); n != 0 || h.logged(zapcore.InfoLevel, birthMessage) {
			t.Fatalf("HA going offline triggered %d discovery messages (or a replay)", n)
		}
		h.rec.publish("homeassistant/status", "online", false)
		h.rec.waitMsg(mk, configTopic(f.lamp), nil)
		h.rec.waitMsg(mk, base+"/"+lamp+"/availability", nil)
		h.rec.waitMsg(mk, base+"/"+lamp, nil)
		h.birthsSettled(1)
		if n := h.rec.count(mk, configTopic(f.lamp)); n != 1 {
			t.Errorf("one HA birth republished discovery %d times, want 1", n)
		}
	})
}

func TestE2E_RemovedDeviceIsCleared(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, kind string) {
		h := newHarness(t, kind)
		h.cfg.Poll.DeviceListInterval = 500 * time.Millisecond
		f := h.addFleet()
		h.start()
		kettle := h.deviceTopic(0, f.kettle)
		h.rec.waitMsg(0, base+"/"+kettle, nil)

		mk := h.rec.mark()
		h.fake.RemoveDevice(f.kettle)
		h.rec.waitMsg(mk, configTopic(f.kettle), func(p string) bool { return p == "" })
		h.rec.waitMsg(mk, base+"/"+kettle, func(p string) bool { return p == "" })
		h.rec.waitMsg(mk, base+"/"+kettle+"/availability", func(p string) bool { return p == "" })
		// No ghost: a client connecting now sees nothing retained for it.
		late := newRecorder(t, h.broker.url())
		late.waitMsg(0, configTopic(f.lamp), nil)
		late.sync() // every retained message has arrived
		if n := late.count(0, configTopic(f.kettle)); n != 0 {
			t.Errorf("removed device still has retained discovery")
		}
	})
}

func TestE2E_DeviceRemovedWhileStoppedIsClearedOnStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	f := h.addFleet()
	h.start()
	h.rec.waitMsg(0, configTopic(f.kettle), nil)
	h.stop()
	h.rec.waitMsg(0, base+"/bridge/state", contains(`"offline"`))

	h.fake.RemoveDevice(f.kettle)
	mk := h.rec.mark()
	h.start()
	h.rec.waitMsg(mk, configTopic(f.kettle), func(p string) bool { return p == "" })
	if _, err := os.Stat(filepath.Join(h.stateDir, "bridge-devices.json")); err != nil {
		t.Fatal(err)
	}
}

func TestE2E_EnergyNeverDecreasesAcrossPlugReboot(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	f := h.addFleet()
	h.fake.Tick(2 * time.Hour) // 3 kWh on the kettle
	h.start()
	kettle := h.deviceTopic(0, f.kettle)
	m := h.rec.waitMsg(0, base+"/"+kettle, contains(`"energy"`))
	before, _ := stateField(m.payload, "energy").(float64)
	if before < 2.9 {
		t.Fatalf("energy before reboot = %v, want about 3 kWh", before)
	}
	mk := h.rec.mark()
	h.fake.RebootEnergy(f.kettle)
	h.fake.Tick(time.Hour) // 1.5 kWh after the reboot
	m = h.rec.waitMsg(mk, base+"/"+kettle, func(p string) bool {
		v, _ := stateField(p, "energy").(float64)
		return v > before
	})
	after, _ := stateField(m.payload, "energy").(float64)
	if after < before+1.4 || after > before+1.6 {
		t.Fatalf("energy after the plug's counter reset = %v, want %v + 1.5", after, before)
	}
	// And across a daemon restart.
	h.stop()
	mk = h.rec.mark()
	h.start()
	m = h.rec.waitMsg(mk, base+"/"+kettle, contains(`"energy"`))
	if v, _ := stateField(m.payload, "energy").(float64); v < after {
		t.Fatalf("energy after a daemon restart = %v, was %v", v, after)
	}
}

func TestE2E_ShutdownPublishesOffline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.addFleet()
	h.start()
	h.rec.waitMsg(0, base+"/bridge/state", contains(`"online"`))
	mk := h.rec.mark()
	h.stop()
	m := h.rec.waitMsg(mk, base+"/bridge/state", contains(`"offline"`))
	if !m.retained && h.rec.count(mk, base+"/bridge/state") == 0 {
		t.Fatal("offline state not published")
	}
}

func TestE2E_RetainedCommandsAreIgnored(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, kind string) {
		h := newHarness(t, kind)
		f := h.addFleet()
		// Someone published a retained command while the bridge was down: the
		// broker hands it to the bridge on every (re)subscribe. Applying it
		// would flip the plug on every restart.
		h.rec.publish(base+"/living_room_lamp/set", "ON", true)
		h.rec.publish(base+"/living_room_lamp/set/state", "ON", true)
		h.start()
		h.rec.waitMsg(0, base+"/living_room_lamp", contains(`"state":"OFF"`))
		for _, topic := range []string{base + "/living_room_lamp/set", base + "/living_room_lamp/set/state"} {
			h.waitLog("the retained command on "+topic+" is logged as ignored", zapcore.DebugLevel, "ignoring retained message", topic)
		}
		// The lamp's worker does a refresh after any command queued before it.
		if r := h.refreshed(f.lamp); r.Status != "ok" {
			t.Fatalf("device/refresh: %+v", r)
		}
		if h.fake.Relay(f.lamp) {
			t.Fatal("a retained command switched the plug")
		}
		h.rec.publish(base+"/living_room_lamp/set", "", true)
		h.rec.publish(base+"/living_room_lamp/set/state", "", true)
	})
}

func TestE2E_PasswordChangedWhileStoppedMarksDevicesUnavailable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	f := h.addFleet()
	h.start()
	lamp := h.deviceTopic(0, f.lamp)
	h.rec.waitMsg(0, base+"/"+lamp+"/availability", contains(`"online"`))
	h.stop()

	// The user changed the password in the Kasa app and the old session died.
	h.fake.SetPassword(user, "a-new-password")
	h.fake.ExpireTokens()
	h.fake.ExpireRefreshTokens()
	mk := h.rec.mark()
	h.start()
	h.rec.waitMsg(mk, base+"/bridge/state", contains(`"online"`))
	// The retained "online" from the last run must not survive.
	h.rec.waitMsg(mk, base+"/"+lamp+"/availability", contains(`"offline"`))
	eventually(t, "wrong password logged", func() bool { return h.logged(zapcore.ErrorLevel, "wrong password") })
	logins := h.fake.Calls("login")
	// Give it chances to log in again: two lists asked for over MQTT.
	for range 2 {
		failed := h.failedCalls("home")
		if r := h.request("devices/refresh", `{}`); r.Status != "ok" {
			t.Fatalf("devices/refresh: %+v", r)
		}
		h.waitFailedCalls("home", failed+1)
	}
	if n := h.fake.Calls("login"); n != logins {
		t.Fatalf("login retried after a wrong password: %d -> %d", logins, n)
	}
}

func TestE2E_RenamedWhileStoppedLeavesNoGhostAndTopicsStayPut(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	f := h.addFleet()
	h.start()
	h.rec.waitMsg(0, base+"/kettle", nil)
	h.stop()

	// While stopped: the kettle is renamed in the app, and a second device
	// called "Living Room Lamp" whose id sorts before the first one appears.
	h.fake.Rename(f.kettle, "Tea Maker")
	newLamp := h.fake.AddPlug(user, "Spare Lamp", "HS103(US)")
	h.fake.Rename(newLamp, "Living Room Lamp")
	if newLamp > f.lamp {
		t.Fatalf("test setup: the new lamp's id %s must sort before %s", newLamp, f.lamp)
	}
	mk := h.rec.mark()
	h.start()
	h.rec.waitMsg(mk, base+"/tea_maker", nil)
	h.rec.waitMsg(mk, base+"/kettle", func(p string) bool { return p == "" })
	h.rec.waitMsg(mk, base+"/kettle/availability", func(p string) bool { return p == "" })
	if got := h.deviceTopic(mk, f.lamp); got != "living_room_lamp" {
		t.Errorf("the original lamp moved to topic %q after a restart", got)
	}
	if got := h.deviceTopic(mk, newLamp); got != "living_room_lamp_2" {
		t.Errorf("the new lamp got topic %q, want living_room_lamp_2", got)
	}
	late := newRecorder(t, h.broker.url())
	late.waitMsg(0, base+"/tea_maker", nil)
	late.sync() // every retained message has arrived
	if n := late.count(0, base+"/kettle"); n != 0 {
		t.Error("the old topic is still retained")
	}
}

func TestE2E_AccountRemovedFromConfigIsCleared(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	f := h.addFleet()
	h.start()
	h.rec.waitMsg(0, configTopic(f.lamp), nil)
	h.stop()

	// The user replaces the account with another one.
	h.fake.AddAccount("other@example.com", "pw")
	h.fake.AddPlug("other@example.com", "Garage", "HS103(US)")
	h.cfg.Accounts = []config.Account{{Provider: "kasa", Name: "other", Settings: &kasa.Config{Username: "other@example.com", Password: "pw", URL: h.fake.URL()}}}
	mk := h.rec.mark()
	h.start()
	h.rec.waitMsg(mk, base+"/garage", nil)
	h.rec.waitMsg(mk, configTopic(f.lamp), func(p string) bool { return p == "" })
	h.rec.waitMsg(mk, base+"/living_room_lamp", func(p string) bool { return p == "" })
}
