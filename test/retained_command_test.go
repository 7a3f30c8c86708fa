package test

import (
	"slices"
	"testing"

	"go.uber.org/zap/zapcore"
)

// TestRetainedCommandUnderMQTT311 pins what really happens to a command
// published with the retain flag (docs/broker.md). The bridge speaks MQTT
// 3.1.1, where a broker clears the retain flag of every message it
// forwards to an existing subscription [MQTT-3.3.1-9]: a retained command
// published while the bridge is connected looks like any other and is
// applied, once. The broker keeps it, and delivers it with the retain flag
// at every later subscription: the bridge ignores it then, so a restart
// does not apply it again.
func TestRetainedCommandUnderMQTT311(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, kind string) {
		h := newHarness(t, kind)
		lamp := h.fake.AddPlug(user, "Living Room Lamp", "HS103(US)")
		h.start()
		topic := h.deviceTopic(0, lamp)
		h.rec.waitMsg(0, base+"/"+topic, contains(`"state":"OFF"`))

		from := h.rec.mark()
		h.rec.publish(base+"/"+topic+"/set", "ON", true)
		h.rec.waitMsg(from, base+"/"+topic, contains(`"state":"ON"`))
		if got := h.fake.RelayHistory(lamp); !slices.Equal(got, []bool{true}) {
			t.Fatalf("a retained ON published while the bridge is connected applied %v, want [true]", got)
		}

		// Someone switches the lamp off in the app; kasa2mqtt restarts and
		// subscribes again, receiving the stored ON with the retain flag.
		h.fake.SetRelay(lamp, false)
		h.stop()
		from = h.rec.mark()
		h.start()
		h.rec.waitMsg(from, base+"/bridge/state", contains("online"))
		h.rec.waitMsg(from, base+"/"+topic, contains(`"state":"OFF"`))
		h.waitLog("the stored ON ignored", zapcore.DebugLevel, "ignoring retained message", base+"/"+topic+"/set")
		h.refreshed(lamp) // done after any command queued before it
		if got := h.fake.RelayHistory(lamp); !slices.Equal(got, []bool{true}) {
			t.Errorf("after a restart the retained ON was applied again: %v", got)
		}
		if h.fake.Relay(lamp) {
			t.Error("the lamp is on again after the restart")
		}
		// Clearing it (an empty retained publish) applies nothing.
		h.rec.publish(base+"/"+topic+"/set", "", true)
		h.refreshed(lamp) // handled after the empty command (in order), done after any job it queued
		if got := h.fake.RelayHistory(lamp); !slices.Equal(got, []bool{true}) {
			t.Errorf("clearing the retained command applied %v", got)
		}
	})
}
