package bridge

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

func lightState(id string, on bool, brightness float64) cloud.State {
	return cloud.State{DeviceID: id, Online: true, RSSI: cloud.Int(-50),
		Light: &cloud.LightState{On: on, Brightness: cloud.Float(brightness), Mode: cloud.ColorModeTemp, ColorTempK: cloud.Int(2700)}}
}

// A dragged slider: 50 brightness values while the first command is under
// way cost two commands, the second with the last value.
func TestRegistry_LightCommandsAreCoalesced(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, colorBulb("B", "Bulb"))
	h.poll(home, h.clock.Now(), lightState("B", false, 10))
	for i := 1; i <= 50; i++ {
		h.command("kasa2mqtt/bulb/set", fmt.Sprintf(`{"state":"ON","brightness":%d}`, i*5))
	}
	jobs := h.takeJobs()
	if len(jobs) != 1 || jobs[0].job.cmd.String() != "set_light=on brightness=1.96078% B" {
		t.Fatalf("jobs %v, want the first value only", jobCmds(jobs))
	}
	h.finish(jobs[0], resultEvent{state: new(lightState("B", true, 2)), started: h.clock.Now()})
	if got := h.pub.retained["kasa2mqtt/bulb"]; got != `{"state":"ON","brightness":5,"color_mode":"color_temp","color_temp":2700,"rssi":-50}` {
		t.Errorf("after the first command: %s", got)
	}
	jobs = h.takeJobs()
	if len(jobs) != 1 || jobs[0].job.cmd.String() != "set_light=on brightness=98.0392% B" {
		t.Fatalf("after the first result, jobs %v, want the last value", jobCmds(jobs))
	}
	// Meanwhile a colour and a temperature arrive: merged, the last wins.
	h.command("kasa2mqtt/bulb/set/color", "120,50")
	h.command("kasa2mqtt/bulb/set/color_temp", "3000")
	h.command("kasa2mqtt/bulb/set", `{"transition":2,"state":"ON"}`)
	h.finish(jobs[0], resultEvent{state: new(lightState("B", true, 98)), started: h.clock.Now()})
	jobs = h.takeJobs()
	if len(jobs) != 1 || jobs[0].job.cmd.String() != "set_light=on color_temp=3000K transition=2s B" {
		t.Fatalf("jobs %v, want one merged command", jobCmds(jobs))
	}
	h.finish(jobs[0], resultEvent{state: new(lightState("B", true, 98)), started: h.clock.Now()})
	if jobs := h.takeJobs(); len(jobs) != 0 {
		t.Fatalf("nothing pending, yet jobs %v", jobCmds(jobs))
	}
	if dv := h.device("B"); dv.light != (lightQueue{}) || dv.queued != 0 {
		t.Errorf("after every result: %+v, queued %d", dv.light, dv.queued)
	}
}

// TOGGLE of a light follows the command under way or pending, else the
// state; OFF drops the settings pending before it.
func TestRegistry_LightToggleAndOff(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, dimmer("D", "Hall"))
	h.command("kasa2mqtt/hall/set", "TOGGLE")
	if jobs := h.takeJobs(); len(jobs) != 0 || h.logged("ignoring bad light command") != 1 {
		t.Fatalf("TOGGLE before any read: jobs %v", jobCmds(jobs))
	}
	h.poll(home, h.clock.Now(), cloud.State{DeviceID: "D", Online: true, Light: &cloud.LightState{On: true, Brightness: cloud.Float(40)}})
	h.command("kasa2mqtt/hall/set", "TOGGLE")                         // on → off, sent
	h.command("kasa2mqtt/hall/set/state", "toggle")                   // off (under way) → on, pending
	h.command("kasa2mqtt/hall/set/brightness", "128")                 // merged into the pending on
	h.command("kasa2mqtt/hall/set", `{"state":"OFF","transition":3}`) // replaces it
	jobs := h.takeJobs()
	if len(jobs) != 1 || jobs[0].job.cmd.String() != "set_light=off D" {
		t.Fatalf("jobs %v", jobCmds(jobs))
	}
	h.finish(jobs[0], resultEvent{state: new(cloud.State{DeviceID: "D", Online: true, Light: &cloud.LightState{On: false, Brightness: cloud.Float(40)}}), started: h.clock.Now()})
	jobs = h.takeJobs()
	if len(jobs) != 1 || jobs[0].job.cmd.String() != "set_light=off transition=3s D" {
		t.Fatalf("jobs %v, want the OFF with its transition", jobCmds(jobs))
	}
	// The re-read fails: the commanded state is published, with the
	// brightness the light had.
	h.finish(jobs[0], resultEvent{readErr: errors.New("read timed out"), started: h.clock.Now()})
	if got := h.pub.retained["kasa2mqtt/hall"]; got != `{"state":"OFF","brightness":102,"color_mode":"brightness"}` {
		t.Errorf("optimistic state %s", got)
	}
}

// Light commands the device cannot take, and light values for a device
// that is not a light, queue nothing and say why with topic and payload.
func TestRegistry_BadLightCommands(t *testing.T) {
	for _, tc := range []struct{ topic, payload, log string }{
		{"kasa2mqtt/bulb/set", `{"state":"ON","color_temp":2000}`, "ignoring bad light command"},
		{"kasa2mqtt/bulb/set/brightness", "300", "ignoring bad command"},
		{"kasa2mqtt/bulb/set", `{"state":"ON","color":{"x":0.3,"y":0.3}}`, "ignoring bad command"},
		{"kasa2mqtt/hall/set/color", "120,50", "ignoring bad light command"},
		{"kasa2mqtt/lamp/set", `{"state":"ON","brightness":100}`, "device is not a light"},
		{"kasa2mqtt/lamp/set/color_temp", "3000", "device is not a light"},
	} {
		h := newHarness(t, Options{}, nil, home)
		h.list(home, colorBulb("B", "Bulb"), dimmer("D", "Hall"), plug("P", "Lamp", true))
		h.command(tc.topic, tc.payload)
		entries := h.logs.FilterMessage(tc.log).All()
		if jobs := h.takeJobs(); len(jobs) != 0 || len(entries) != 1 {
			t.Errorf("%s %s: jobs %v, logged %q %d times", tc.topic, tc.payload, jobCmds(jobs), tc.log, len(entries))
			continue
		}
		f := entries[0].ContextMap()
		if f[keyTopic] != tc.topic || f[keyPayload] != tc.payload {
			t.Errorf("%s %s: logged %v, want the topic and the payload", tc.topic, tc.payload, f)
		}
	}
	// A light takes plain ON and OFF on /set and /set/state.
	h := newHarness(t, Options{}, nil, home)
	h.list(home, colorBulb("B", "Bulb"))
	h.command("kasa2mqtt/bulb/set/state", "ON")
	if jobs := h.takeJobs(); len(jobs) != 1 || jobs[0].job.cmd.String() != "set_light=on B" {
		t.Errorf("ON on /set/state: jobs %v", jobCmds(jobs))
	}
}

func jobCmds(jobs []enqueueEffect) []string {
	var out []string
	for _, j := range jobs {
		if j.job.cmd == nil {
			out = append(out, "read")
			continue
		}
		out = append(out, j.job.cmd.String())
	}
	return out
}

// bridge/devices gives a light's capabilities and Kelvin range, so flows
// can build their commands without Home Assistant.
func TestRegistry_DeviceListHasTheKelvinRange(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, colorBulb("B", "Bulb"), dimmer("D", "Hall"))
	got := h.pub.retained["kasa2mqtt/bridge/devices"]
	for _, want := range []string{
		`"capabilities":["light","brightness","color_temp","color","transition","rssi"],"color_temp":{"min":2500,"max":9000}}`,
		`"capabilities":["light","brightness","transition","led"]}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("bridge/devices %s\nlacks %s", got, want)
		}
	}
}

// bridge/devices gives an energy meter's readings (all four when the
// provider did not say), so flows know which keys its state will hold.
func TestRegistry_DeviceListHasTheReadings(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	bulb := colorBulb("B", "Bulb")
	bulb.Capabilities = append(bulb.Capabilities, cloud.CapEnergy)
	bulb.Readings = []cloud.Reading{cloud.ReadingPower, cloud.ReadingEnergy}
	meter := plug("P", "Kettle", true)
	meter.Capabilities = append(meter.Capabilities, cloud.CapEnergy)
	h.list(home, bulb, meter, dimmer("D", "Hall"))
	got := h.pub.retained["kasa2mqtt/bridge/devices"]
	for _, want := range []string{
		`"capabilities":["light","brightness","color_temp","color","transition","rssi","energy"],"color_temp":{"min":2500,"max":9000},"readings":["power","energy"]}`,
		`"capabilities":["relay","led","energy"],"readings":["power","voltage","current","energy"]}`,
		`"capabilities":["light","brightness","transition","led"]}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("bridge/devices %s\nlacks %s", got, want)
		}
	}
}
