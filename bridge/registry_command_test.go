package bridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// A poll that started before a command's re-read must not overwrite the
// confirmed state with an older one; a poll that started after it does.
func TestRegistry_StalePollAfterAConfirmedReread(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, plug("A", "Lamp", true))
	h.poll(home, h.clock.Now(), relayState("A", false))

	pollStarted := h.clock.Now()
	h.clock.Advance(time.Second)
	h.command("kasa2mqtt/lamp/set", "ON")
	jobs := h.takeJobs()
	if len(jobs) != 1 || jobs[0].job.cmd == nil || !jobs[0].job.cmd.On {
		t.Fatalf("jobs %+v, want one relay ON", jobs)
	}
	h.finish(jobs[0], resultEvent{state: new(relayState("A", true)), started: h.clock.Now()})
	if got := h.pub.retained["kasa2mqtt/lamp"]; got != `{"state":"ON","led":"ON"}` {
		t.Fatalf("after the command: %s", got)
	}

	h.poll(home, pollStarted, relayState("A", false)) // began before the command
	if got := h.pub.retained["kasa2mqtt/lamp"]; got != `{"state":"ON","led":"ON"}` {
		t.Errorf("a stale poll overwrote the confirmed state: %s", got)
	}
	h.clock.Advance(time.Second)
	h.poll(home, h.clock.Now(), relayState("A", false)) // began after it
	if got := h.pub.retained["kasa2mqtt/lamp"]; got != `{"state":"OFF","led":"ON"}` {
		t.Errorf("a newer poll was ignored: %s", got)
	}
}

// TOGGLE resolves against the target of commands still queued, else the
// last known state; unknown state refuses it.
func TestRegistry_ToggleFollowsTheQueuedIntent(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, plug("A", "Lamp", true))
	h.command("kasa2mqtt/lamp/set", "TOGGLE")
	if jobs := h.takeJobs(); len(jobs) != 0 {
		t.Fatalf("TOGGLE of an unknown state queued %+v", jobs)
	}
	if h.logged("cannot TOGGLE: the current state is not known yet; send ON or OFF") != 1 {
		t.Error("the refused TOGGLE was not logged")
	}

	h.poll(home, h.clock.Now(), relayState("A", false))
	h.command("kasa2mqtt/lamp/set", "TOGGLE")             // OFF → ON
	h.command("kasa2mqtt/lamp/set/state", "toggle")       // ON (queued) → OFF
	h.command("kasa2mqtt/lamp/set", `{"state":"TOGGLE"}`) // OFF (queued) → ON
	jobs := h.takeJobs()
	var got []bool
	for _, j := range jobs {
		got = append(got, j.job.cmd.On)
	}
	if fmt.Sprint(got) != "[true false true]" {
		t.Fatalf("toggles queued %v, want [true false true]", got)
	}
	for _, j := range jobs {
		h.finish(j, resultEvent{state: new(relayState("A", j.job.cmd.On)), started: h.clock.Now()})
	}
	if dv := h.device("A"); dv.relayIntent != nil || dv.inflight != 0 || dv.queued != 0 {
		t.Errorf("after every result: intent %v, in flight %d, queued %d", dv.relayIntent, dv.inflight, dv.queued)
	}
	// Nothing queued: TOGGLE follows the state (ON) again. The LED toggles
	// against its own state.
	h.command("kasa2mqtt/lamp/set", `{"state":"TOGGLE","led":"TOGGLE"}`)
	jobs = h.takeJobs()
	if len(jobs) != 2 || jobs[0].job.cmd.On || jobs[1].job.cmd.Action != cloud.ActionSetLED || jobs[1].job.cmd.On {
		t.Errorf("jobs %+v %+v, want relay OFF and LED OFF", jobs[0].job.cmd, jobs[1].job.cmd)
	}
}

// Commands the device cannot take, retained or unknown-device messages and
// bad payloads queue nothing.
func TestRegistry_CommandsThatQueueNothing(t *testing.T) {
	outlet := cloud.Device{ID: "O", Provider: "kasa", Name: "Outlet", ParentID: "S", Capabilities: []cloud.Capability{cloud.CapRelay}}
	for _, tc := range []struct{ topic, payload, log string }{
		{"kasa2mqtt/outlet/set/led", "ON", "device does not support this command"},
		{"kasa2mqtt/outlet/set", `{"restart":true}`, "device does not support this command"},
		{"kasa2mqtt/nothing/set", "ON", "command for an unknown device"},
		{"kasa2mqtt/outlet/set", "maybe", "ignoring bad command"},
	} {
		h := newHarness(t, Options{}, nil, home)
		h.list(home, outlet)
		h.command(tc.topic, tc.payload)
		if jobs := h.takeJobs(); len(jobs) != 0 || h.logged(tc.log) != 1 {
			t.Errorf("%s %s: jobs %+v, logged %q %d times", tc.topic, tc.payload, jobs, tc.log, h.logged(tc.log))
		}
	}
	h := newHarness(t, Options{}, nil, home)
	h.list(home, outlet)
	h.apply(h.reg.handleMessage(mqttMessage{topic: "kasa2mqtt/outlet/set", payload: []byte("ON"), size: 2, retained: true}))
	if jobs := h.takeJobs(); len(jobs) != 0 {
		t.Errorf("a retained command queued %+v", jobs)
	}
}

// A device's worker takes at most workerQueue jobs; more are dropped until
// results come back.
func TestRegistry_WorkerQueueIsBounded(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, plug("A", "Lamp", true))
	for range workerQueue + 1 {
		h.command("kasa2mqtt/lamp/get", "")
	}
	jobs := h.takeJobs()
	if len(jobs) != workerQueue || h.logged("device busy, dropping refresh") != 1 {
		t.Fatalf("%d jobs queued, %d dropped; want %d and 1", len(jobs), h.logged("device busy, dropping refresh"), workerQueue)
	}
	if got := h.request("device/refresh", `{"id":"A"}`); len(got) != 1 || got[0].Error != "the device is busy; try again" {
		t.Errorf("device/refresh on a full queue: %+v", got)
	}
	h.finish(jobs[0], resultEvent{state: new(relayState("A", true)), started: h.clock.Now()})
	h.command("kasa2mqtt/lamp/get", "")
	if got := h.takeJobs(); len(got) != 1 {
		t.Errorf("after a result, %d jobs queued, want 1", len(got))
	}
}

// What a command's result publishes.
func TestRegistry_CommandResults(t *testing.T) {
	offline := fmt.Errorf("vendor: %w", cloud.ErrDeviceOffline)
	timeout := fmt.Errorf("vendor: %w", cloud.ErrTimeout)
	for _, tc := range []struct {
		name      string
		payload   string
		result    resultEvent
		wantState string
		wantAvail string
	}{
		{"confirmed by the re-read", "ON", resultEvent{state: new(relayState("A", true))}, `{"state":"ON","led":"OFF"}`, "online"},
		{"re-read failed: commanded state published", "ON", resultEvent{readErr: timeout}, `{"state":"ON","led":"OFF"}`, "online"},
		{"device offline", "ON", resultEvent{applyErr: offline, readErr: offline}, `{"state":"OFF","led":"OFF"}`, "offline"},
		{"reboot accepted: nothing until the next poll", `{"restart":true}`, resultEvent{readErr: timeout}, `{"state":"OFF","led":"OFF"}`, "online"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{}, nil, home)
			d := plug("A", "Lamp", true)
			d.Capabilities = append(d.Capabilities, cloud.CapReboot)
			h.list(home, d)
			h.poll(home, h.clock.Now(), cloud.State{DeviceID: "A", Relay: cloud.Bool(false), LED: cloud.Bool(false)})
			h.command("kasa2mqtt/lamp/set", tc.payload)
			jobs := h.takeJobs()
			if len(jobs) != 1 {
				t.Fatalf("%d jobs", len(jobs))
			}
			if tc.result.state != nil {
				tc.result.state.LED = cloud.Bool(false)
			}
			h.finish(jobs[0], tc.result)
			if got := h.pub.retained["kasa2mqtt/lamp"]; got != tc.wantState {
				t.Errorf("state %s, want %s", got, tc.wantState)
			}
			if got := h.pub.retained["kasa2mqtt/lamp/availability"]; got != `{"state":"`+tc.wantAvail+`"}` {
				t.Errorf("availability %s, want %s", got, tc.wantAvail)
			}
		})
	}
}

// A device becomes unavailable at once for errors that say so, else after
// MissedPolls failed reads in a row; a good read makes it available again.
func TestRegistry_AvailabilityAfterMissedPolls(t *testing.T) {
	timeout := fmt.Errorf("vendor: %w", cloud.ErrTimeout)
	for _, tc := range []struct {
		name   string
		missed int
		reads  []error // nil: a good read
		want   string
	}{
		{"one timeout", 2, []error{timeout}, "online"},
		{"two timeouts", 2, []error{timeout, timeout}, "offline"},
		{"two timeouts of three allowed", 3, []error{timeout, timeout}, "online"},
		{"a good read in between", 2, []error{timeout, nil, timeout}, "online"},
		{"back after missing", 2, []error{timeout, timeout, nil}, "online"},
		{"device offline", 2, []error{fmt.Errorf("v: %w", cloud.ErrDeviceOffline)}, "offline"},
		{"credentials refused", 2, []error{fmt.Errorf("v: %w", cloud.ErrAuth)}, "offline"},
		{"unknown device", 2, []error{fmt.Errorf("v: %w", cloud.ErrUnknownDevice)}, "offline"},
		{"request refused", 2, []error{fmt.Errorf("v: %w", cloud.ErrRefused)}, "offline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{MissedPolls: tc.missed}, nil, home)
			h.list(home, plug("A", "Lamp", true))
			for _, err := range tc.reads {
				h.clock.Advance(time.Minute)
				s := relayState("A", true)
				s.Err = err
				h.poll(home, h.clock.Now(), s)
			}
			if got := h.pub.retained["kasa2mqtt/lamp/availability"]; got != `{"state":"`+tc.want+`"}` {
				t.Errorf("availability %s, want %s", got, tc.want)
			}
			if want := 1; tc.reads[len(tc.reads)-1] == nil && h.logged("device readable again") != want {
				t.Errorf("recovery logged %d times, want %d", h.logged("device readable again"), want)
			}
		})
	}
}

// A device the list called offline that answers a read makes its account
// list again, at most once a minute.
func TestRegistry_AnOfflineDeviceThatAnswersRelistsItsAccount(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, plug("A", "Lamp", false))
	h.poll(home, h.clock.Now(), relayState("A", true))
	h.poll(home, h.clock.Now(), relayState("A", true))
	if len(h.relists) != 1 {
		t.Fatalf("relisted %v, want once", h.relists)
	}
	h.poll(home, h.clock.Now(), cloud.State{DeviceID: "A", Err: fmt.Errorf("v: %w", cloud.ErrDeviceOffline)})
	h.poll(home, h.clock.Now(), relayState("A", true)) // within the minute
	h.clock.Advance(time.Minute)
	h.poll(home, h.clock.Now(), cloud.State{DeviceID: "A", Err: fmt.Errorf("v: %w", cloud.ErrDeviceOffline)})
	h.poll(home, h.clock.Now(), relayState("A", true))
	if len(h.relists) != 2 {
		t.Errorf("relisted %v, want twice", h.relists)
	}
}

// A read the cloud answers with "unknown device" (Kasa -20580: removed
// from the account) makes the account list again, at most once a minute,
// so the device is removed without waiting for the list interval.
func TestRegistry_AnUnknownDeviceRelistsItsAccount(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, plug("A", "Lamp", true), plug("B", "Fan", true))
	gone := cloud.State{DeviceID: "A", Err: fmt.Errorf("read A: %w", cloud.ErrUnknownDevice)}
	h.poll(home, h.clock.Now(), gone)
	if !slices.Equal(h.relists, []string{"home"}) {
		t.Fatalf("relisted %v, want once for home", h.relists)
	}
	if got := h.pub.retained["kasa2mqtt/lamp/availability"]; got != `{"state":"offline"}` {
		t.Errorf("availability %s until the list, want offline", got)
	}
	h.poll(home, h.clock.Now(), gone, cloud.State{DeviceID: "B", Err: fmt.Errorf("read B: %w", cloud.ErrUnknownDevice)})
	if len(h.relists) != 1 {
		t.Errorf("relisted %v within the minute, want still once", h.relists)
	}
	h.poll(home, h.clock.Now(), cloud.State{DeviceID: "B", Err: fmt.Errorf("read B: %w", cloud.ErrUnavailable)})
	h.clock.Advance(time.Minute)
	h.poll(home, h.clock.Now(), cloud.State{DeviceID: "B", Err: fmt.Errorf("read B: %w", cloud.ErrUnavailable)})
	if len(h.relists) != 1 {
		t.Errorf("relisted %v after other read errors, want still once", h.relists)
	}
}

// A refused command's payload is logged once-quoted: the log line shows
// the payload itself (the logger quotes the field), not a quoted string
// quoted again; control characters, invalid bytes and hidden text are
// escaped, and a long payload is cut with its length.
func TestRegistry_RefusalsLogThePayloadReadably(t *testing.T) {
	long := `{"state":"` + strings.Repeat("9", 5000) + `"}`
	for _, tc := range []struct{ payload, want string }{
		{`{"state":"warm"}`, `{"state":"warm"}`},
		{"\x1b[31mON\nOFF", `\x1b[31mON\nOFF`},
		{"caf\xc3\xa9 \xff \u202egnp.exe", `café \xff \u202egnp.exe`},
		{long, long[:200] + "… (5012 bytes)"},
	} {
		var line bytes.Buffer
		core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&line), zapcore.DebugLevel)
		h := newHarness(t, Options{}, nil, home)
		h.reg.log = zap.New(core)
		h.list(home, plug("P", "Lamp", true))
		line.Reset()
		h.command("kasa2mqtt/lamp/set", tc.payload)
		var entry map[string]any
		if err := json.Unmarshal(line.Bytes(), &entry); err != nil {
			t.Fatalf("%q: log line %q: %v", tc.payload, line.String(), err)
		}
		if entry["msg"] != "ignoring bad command" || entry[keyPayload] != tc.want {
			t.Errorf("%q logged as %s, want the payload field %q", tc.payload, line.String(), tc.want)
		}
		if strings.ContainsAny(line.String(), "\x1b\u202e") {
			t.Errorf("%q: the log line holds the raw control characters: %q", tc.payload, line.String())
		}
	}
}
