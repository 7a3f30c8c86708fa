package bridge

import (
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
)

// warned returns the warnings logged with msg, as "topic payload".
func (h *harness) warned(msg string) []string {
	var out []string
	for _, e := range h.logs.FilterMessage(msg).FilterLevelExact(zapcore.WarnLevel).All() {
		m := e.ContextMap()
		out = append(out, fmt.Sprintf("%s %q", m[keyTopic], m[keyPayload])) // the payload field quoted once, here
	}
	return out
}

// An empty payload on a command topic is what clears a retained message;
// the bridge, which speaks MQTT 3.1.1, gets it without the retain flag. On
// a topic where it saw the retained command (delivered with the flag at a
// connect) it is that clear: a debug line, nothing applied. Anywhere else
// it is a bad command, warned about with its topic and payload; an empty
// /set/restart does not reboot.
func TestRegistry_EmptyCommands(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, plug("A", "Lamp", true))
	h.poll(home, h.clock.Now(), relayState("A", false))

	for _, topic := range []string{"kasa2mqtt/lamp/set", "kasa2mqtt/lamp/set/restart", "kasa2mqtt/gone/set"} {
		h.apply(h.reg.handleMessage(mqttMessage{topic: topic, payload: []byte("ON"), size: 2, retained: true}))
		h.command(topic, "") // the clear
	}
	if jobs := h.takeJobs(); len(jobs) != 0 {
		t.Errorf("retained commands and their clears queued %+v", jobs)
	}
	if n := h.logs.FilterLevelExact(zapcore.WarnLevel).Len(); n != 0 {
		t.Errorf("%d warnings for retained commands and their clears: %v", n, h.logs.FilterLevelExact(zapcore.WarnLevel).All())
	}
	if n := h.logs.FilterMessage("cleared retained message on a command topic").FilterLevelExact(zapcore.DebugLevel).Len(); n != 3 {
		t.Errorf("%d clears logged at debug level, want 3", n)
	}

	// The clear was seen: the next empty message there is a bad command
	// again, as on a topic that never held a retained one.
	h.command("kasa2mqtt/lamp/set", "")
	h.command("kasa2mqtt/lamp/set/state", "")
	h.command("kasa2mqtt/lamp/set/restart", "")
	if jobs := h.takeJobs(); len(jobs) != 0 {
		t.Errorf("empty commands queued %+v", jobs)
	}
	want := []string{`kasa2mqtt/lamp/set ""`, `kasa2mqtt/lamp/set/state ""`, `kasa2mqtt/lamp/set/restart ""`}
	if got := h.warned("ignoring bad command"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("warnings %q, want %q", got, want)
	}
}

// A request on <base>/bridge/request (or with a trailing slash only) has
// no path: it is answered with an error on <base>/bridge/response, which
// names the paths, with the transaction echoed.
func TestRegistry_RequestWithoutAPath(t *testing.T) {
	for _, topic := range []string{"kasa2mqtt/bridge/request", "kasa2mqtt/bridge/request/"} {
		path, ok := isRequestTopic("kasa2mqtt", topic)
		if !ok || path != "" {
			t.Fatalf("isRequestTopic(%q) = %q, %v", topic, path, ok)
		}
		h := newHarness(t, Options{}, nil, home)
		h.apply(h.reg.handleRequest(path, mqttMessage{topic: topic, payload: []byte(`{"transaction":7}`), size: 17}))
		got := h.pub.responses[""]
		if len(got) != 1 || got[0].Status != "error" || string(got[0].Transaction) != "7" ||
			!strings.Contains(got[0].Error, "the request has no path: publish on kasa2mqtt/bridge/request/PATH, PATH one of: health_check") {
			t.Errorf("%s: answers %+v", topic, got)
		}
		if h.logs.FilterMessage("bridge request failed").FilterField(zapcore.Field{Key: keyTopic, Type: zapcore.StringType, String: "kasa2mqtt/bridge/request"}).Len() != 1 {
			t.Errorf("%s: no warning naming the request topic", topic)
		}
	}
	for topic, want := range map[string]string{"kasa2mqtt/bridge/requests": "", "kasa2mqtt/bridge": "", "kasa2mqtt/bridge/request/info": "info"} {
		if path, ok := isRequestTopic("kasa2mqtt", topic); ok != (want != "") || path != want {
			t.Errorf("isRequestTopic(%q) = %q, %v", topic, path, ok)
		}
	}
}

// Clearing a retained request (an empty payload, which would otherwise be
// the request {}) does not run it; an empty request elsewhere does.
func TestRegistry_ClearedRetainedRequestIsNotRun(t *testing.T) {
	h := newHarness(t, Options{Restart: func() {}}, nil, home)
	h.apply(h.reg.handleRequest("restart", mqttMessage{topic: "kasa2mqtt/bridge/request/restart", payload: []byte("{}"), size: 2, retained: true}))
	h.request("restart", "") // the clear
	if h.restarts != 0 || len(h.pub.responses["restart"]) != 0 {
		t.Errorf("a retained restart request or its clear restarted (%d) or was answered %+v", h.restarts, h.pub.responses["restart"])
	}
	if got := h.request("health_check", ""); len(got) != 1 || got[0].Status != "ok" {
		t.Errorf("an empty health_check: %+v", got)
	}
	h.request("restart", "")
	if h.restarts != 1 {
		t.Errorf("an empty restart request after the clear restarted %d times, want 1", h.restarts)
	}
}
