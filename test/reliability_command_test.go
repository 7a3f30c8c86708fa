package test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

// relayCalls counts the set_relay_state calls to device id (a plug) that
// the fake cloud received, failed ones included.
func (h *harness) relayCalls(id string) int {
	n := 0
	for _, r := range h.fake.Requests() {
		if r.Method == "passthrough" && r.DeviceID == id && strings.Contains(r.RequestData, "set_relay_state") {
			n++
		}
	}
	return n
}

// A command whose cloud call fails for a reason that may pass (an HTTP 5xx,
// a "request timeout" answer) is sent again, a few times within the command
// budget, and the commands after it wait for it: nothing is lost or
// reordered. Other error answers are not retried, nor is a command to a
// device the cloud reports offline: it fails at once and the device shows
// unavailable.
func TestReliability_FailedCommandCallsAreRetriedInOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.cfg.Poll.Interval = time.Hour
	f := h.addFleet()
	h.start()
	lamp := h.deviceTopic(0, f.lamp)
	h.rec.waitMsg(0, base+"/"+lamp+"/availability", contains(`"online"`))
	// The first round of reads (four devices, the strip's outlet meters
	// last) ends before the faults are armed, so that they hit the
	// commands, not a read still under way.
	eventually(t, "the first round of reads", func() bool { return h.polls("home") >= 4 })

	h.fake.FailHTTP(1, http.StatusServiceUnavailable)
	h.fake.FailNext("passthrough", 1, -20002) // "Request timeout"
	h.rec.publish(base+"/"+lamp+"/set", "ON", false)
	h.rec.publish(base+"/"+lamp+"/set", "OFF", false)
	h.rec.publish(base+"/"+lamp+"/set", "ON", false)
	eventually(t, "three commands applied", func() bool { return len(h.fake.RelayHistory(f.lamp)) == 3 })
	if got := h.fake.RelayHistory(f.lamp); !slices.Equal(got, []bool{true, false, true}) {
		t.Fatalf("the cloud applied %v, want ON, OFF, ON", got)
	}
	if n := h.relayCalls(f.lamp); n != 5 {
		t.Errorf("%d relay calls for 3 commands and 2 failures, want 5", n)
	}
	if !h.logged(zapcore.InfoLevel, "command failed; retrying", "503") {
		t.Error("the retry was not logged")
	}
	if h.logged(zapcore.ErrorLevel, "command failed") {
		t.Error("a command that succeeded on retry was logged as failed")
	}

	// An error answer that says nothing about the cloud answering later is
	// final: not sent again. (The refresh waits for the worker to be idle,
	// so the fault hits the command, not a re-read.)
	if r := h.refreshed(f.lamp); r.Status != "ok" {
		t.Fatalf("device/refresh: %+v", r)
	}
	h.fake.FailNext("passthrough", 1, -20104) // "parameter doesn't exist"
	before := h.relayCalls(f.lamp)
	h.rec.publish(base+"/"+lamp+"/set", "OFF", false)
	eventually(t, "the failure logged", func() bool { return h.logged(zapcore.ErrorLevel, "command failed", "-20104") })
	h.refreshed(f.lamp) // a retry would come before it
	if n := h.relayCalls(f.lamp) - before; n != 1 {
		t.Errorf("a command refused with an unclassified error was sent %d times, want 1", n)
	}

	h.fake.SetOnline(f.lamp, false)
	before = h.relayCalls(f.lamp)
	mk := h.rec.mark()
	h.rec.publish(base+"/"+lamp+"/set", "OFF", false)
	h.rec.waitMsg(mk, base+"/"+lamp+"/availability", contains(`"offline"`))
	eventually(t, "the failure logged", func() bool { return h.logged(zapcore.ErrorLevel, "command failed", "offline") })
	h.refreshed(f.lamp) // a retry would come before it
	if n := h.relayCalls(f.lamp) - before; n != 1 {
		t.Errorf("a command to an offline device was sent %d times, want 1", n)
	}
	if !h.fake.Relay(f.lamp) {
		t.Error("the offline plug changed")
	}
}
