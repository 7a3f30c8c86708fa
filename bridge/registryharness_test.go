package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/discovery"
)

// The registry is tested alone: its effects go to a recording publisher
// (which keeps what a broker would retain) and to recorders for workers,
// jobs, relists and state files. Nothing runs in the background.

// testProvider is an account as the registry sees it: a kind and a name
// (the registry never calls the cloud).
type testProvider struct{ kind, account string }

func (p *testProvider) Kind() string                                                { return p.kind }
func (p *testProvider) Account() string                                             { return p.account }
func (p *testProvider) ListDevices(context.Context) ([]cloud.Device, error)         { return nil, nil }
func (p *testProvider) ReadStates(context.Context, []string) ([]cloud.State, error) { return nil, nil }
func (p *testProvider) Apply(context.Context, cloud.Command) error                  { return nil }

// renamingProvider can also rename in the vendor cloud.
type renamingProvider struct{ testProvider }

func (p *renamingProvider) Rename(context.Context, string, string) error { return nil }

// recordingPublisher implements publisher by keeping the broker's view
// (retained topic → payload), the publications in order, the events and
// the answers. JSON output only.
type recordingPublisher struct {
	base      string
	retained  map[string]string
	writes    []string // "topic=payload" of every publication, in order
	events    []testEvent
	responses map[string][]apiResponse // by request path
	replays   []replaySet
	// removals are the stubs of the discovery messages published, for
	// harness.brokerAccepts.
	removals []removal
}

type testEvent struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

func newRecordingPublisher(base string) *recordingPublisher {
	return &recordingPublisher{base: base, retained: map[string]string{}, responses: map[string][]apiResponse{}}
}

func (p *recordingPublisher) retain(topic string, payload []byte, force bool) {
	if old, ok := p.retained[topic]; ok && !force && old == string(payload) {
		return
	}
	p.writes = append(p.writes, topic+"="+string(payload))
	if len(payload) == 0 {
		delete(p.retained, topic)
		return
	}
	p.retained[topic] = string(payload)
}

func (p *recordingPublisher) announce(m message, force bool) {
	if old, ok := p.retained[m.topic]; ok && !force && old == string(m.payload) {
		return
	}
	p.retain(m.topic, m.payload, true)
	if m.removal != nil {
		p.removals = append(p.removals, *m.removal)
	}
}

func (p *recordingPublisher) state(topic string, payload []byte, force bool) {
	p.retain(discovery.StateTopic(p.base, topic), payload, force)
}

func (p *recordingPublisher) clear(topic, configTopic string) {
	if configTopic != "" {
		p.retain(configTopic, nil, true)
	}
	if topic != "" {
		p.retain(discovery.StateTopic(p.base, topic), nil, true)
		p.retain(discovery.AvailabilityTopic(p.base, topic), nil, true)
	}
}

func (p *recordingPublisher) send(topic string, payload []byte) {
	var r apiResponse
	if err := json.Unmarshal(payload, &r); err != nil {
		panic("response is not JSON: " + string(payload))
	}
	path := strings.TrimPrefix(topic, p.base+"/bridge/response/")
	if topic == p.base+"/bridge/response" {
		path = "" // the answer to a request without a path
	}
	p.responses[path] = append(p.responses[path], r)
}

func (p *recordingPublisher) event(payload []byte) {
	var e testEvent
	if err := json.Unmarshal(payload, &e); err != nil {
		panic("event is not JSON: " + string(payload))
	}
	p.events = append(p.events, e)
}

func (p *recordingPublisher) replay(s replaySet) {
	p.replays = append(p.replays, s)
	for _, m := range s.discovery {
		if m.removal != nil {
			p.removals = append(p.removals, *m.removal)
		}
	}
}

// harness drives one registry.
type harness struct {
	t     *testing.T
	reg   *registry
	pub   *recordingPublisher
	clock *fakeClock
	logs  *observer.ObservedLogs

	workers   map[string]uint64 // running workers: key → serial
	started   []string          // keys, in order
	stopped   []string
	jobs      []enqueueEffect
	relists   []string // accounts
	hurried   []string // device ids to read sooner
	saved     map[string]knownDevice
	saves     int
	metrics   map[string][2]int // account → total, online
	waiting   []string
	attention []string
	restarts  int
	connected bool
	// wake is when the registry last asked for flushClears (wakeEffect).
	wake time.Time
	// pushHealthy records the push health reported to the pollers.
	pushHealthy []bool
}

// newHarness builds a registry for providers, with opts (defaults filled
// in by New), after a previous run that published known.
func newHarness(t *testing.T, opts Options, known map[string]knownDevice, providers ...cloud.Provider) *harness {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	clk := newFakeClock()
	opts.MQTT = MQTTOptions{Server: "mqtt://127.0.0.1:1883", ClientID: "test"}
	opts.Logger = zap.New(core)
	opts.clock = clk
	b, err := New(opts, providers...)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clock: clk, logs: logs, pub: newRecordingPublisher(b.opts.BaseTopic),
		workers: map[string]uint64{}, metrics: map[string][2]int{}, connected: true}
	h.reg = newRegistry(b.opts, b.disc, providers, b.ov, b.started, func() bool { return h.connected })
	h.apply(h.reg.start(maps.Clone(known)))
	return h
}

func (h *harness) apply(effs []effect) {
	for _, e := range effs {
		if p, ok := e.(publication); ok {
			p.publishTo(h.pub)
			continue
		}
		switch e := e.(type) {
		case startWorkerEffect:
			if _, running := h.workers[e.key]; running {
				h.t.Fatalf("a second worker started for %s", e.key)
			}
			h.workers[e.key] = e.serial
			h.started = append(h.started, e.key)
		case stopWorkerEffect:
			if _, running := h.workers[e.key]; !running {
				h.t.Fatalf("stopping the worker of %s, which is not running", e.key)
			}
			delete(h.workers, e.key)
			h.stopped = append(h.stopped, e.key)
		case enqueueEffect:
			if _, running := h.workers[e.key]; !running {
				h.t.Fatalf("job for %s, which has no worker", e.key)
			}
			h.jobs = append(h.jobs, e)
		case relistEffect:
			h.relists = append(h.relists, e.prov.Account())
		case hurryEffect:
			h.hurried = append(h.hurried, e.id)
		case saveKnownEffect:
			h.saved, h.saves = e.devices, h.saves+1
		case saveOptionsEffect:
			h.apply(h.reg.optionsSaved(e, h.reg.ov.set(e.id, e.opt)))
		case devicesMetricEffect:
			h.metrics[e.account] = [2]int{e.total, e.online}
		case readinessEffect:
			h.waiting, h.attention = e.waiting, e.attention
		case restartEffect:
			h.restarts++
		case wakeEffect:
			h.wake = e.at
		case pushHealthEffect:
			h.pushHealthy = append(h.pushHealthy, e.healthy)
		default:
			h.t.Fatalf("unknown effect %T", e)
		}
	}
}

// brokerAccepts acknowledges, as the outbox would once the broker has,
// the discovery messages with stubs published so far.
func (h *harness) brokerAccepts() {
	acks := h.pub.removals
	h.pub.removals = nil
	for _, rm := range acks {
		h.apply(h.reg.handleRemovalSent(removalSentEvent{rm}))
	}
}

func (h *harness) list(p cloud.Provider, devs ...cloud.Device) {
	h.apply(h.reg.handleList(listEvent{prov: p, devices: devs}))
}

func (h *harness) listFails(p cloud.Provider, err error) {
	h.apply(h.reg.handleList(listEvent{prov: p, err: err}))
}

func (h *harness) poll(p cloud.Provider, started time.Time, states ...cloud.State) {
	h.apply(h.reg.handleStates(statesEvent{prov: p, states: states, started: started}))
}

func (h *harness) command(topic, payload string) {
	h.apply(h.reg.handleMessage(mqttMessage{topic: topic, payload: []byte(payload), size: len(payload)}))
}

// request sends a bridge request and returns the answers it got at once.
func (h *harness) request(path, payload string) []apiResponse {
	before := len(h.pub.responses[path])
	h.apply(h.reg.handleRequest(path, mqttMessage{topic: "kasa2mqtt/bridge/request/" + path, payload: []byte(payload), size: len(payload)}))
	return h.pub.responses[path][before:]
}

// afterGrace moves the clock on by clearGrace and runs flushClears, as the
// run loop's timer would.
func (h *harness) afterGrace() {
	h.clock.Advance(clearGrace)
	if h.wake.After(h.clock.Now()) {
		h.t.Fatalf("the registry asked to flush its clears at %v, after the grace (now %v)", h.wake, h.clock.Now())
	}
	h.apply(h.reg.flushClears())
}

// takeJobs returns the jobs queued since the last call.
func (h *harness) takeJobs() []enqueueEffect {
	j := h.jobs
	h.jobs = nil
	return j
}

// finish answers a job as its worker would.
func (h *harness) finish(j enqueueEffect, ev resultEvent) {
	ev.key, ev.worker, ev.cmd, ev.reply, ev.rename = j.key, h.workers[j.key], j.job.cmd, j.job.reply, j.job.rename
	h.apply(h.reg.handleResult(ev))
}

func (h *harness) eventTypes() []string {
	var out []string
	for _, e := range h.pub.events {
		out = append(out, e.Type)
	}
	return out
}

func (h *harness) logged(msg string) int { return h.logs.FilterMessage(msg).Len() }

// device returns the registered device with id.
func (h *harness) device(id string) *device {
	for _, dv := range h.reg.devices {
		if dv.dev.ID == id {
			return dv
		}
	}
	return nil
}

func (h *harness) topics() map[string]string {
	out := map[string]string{}
	for _, dv := range h.reg.devices {
		out[dv.dev.ID] = dv.topic
	}
	return out
}

// retainedTopics lists the broker's retained topics under prefix.
func (h *harness) retainedTopics(prefix string) []string {
	var out []string
	for _, topic := range slices.Sorted(maps.Keys(h.pub.retained)) {
		if strings.HasPrefix(topic, prefix) {
			out = append(out, topic)
		}
	}
	return out
}

func plug(id, name string, online bool) cloud.Device {
	return cloud.Device{ID: id, Provider: "kasa", Name: name, Model: "HS100", Online: online,
		Capabilities: []cloud.Capability{cloud.CapRelay, cloud.CapLED}}
}

func relayState(id string, on bool) cloud.State {
	return cloud.State{DeviceID: id, Online: true, Relay: cloud.Bool(on), LED: cloud.Bool(true)}
}

func equalBytes(a []byte, b string) bool { return bytes.Equal(a, []byte(b)) }
