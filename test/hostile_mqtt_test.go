package test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap/zapcore"
)

// Hostile MQTT input: anyone who may publish under the base topic can send
// anything. A storm of 10,000 bad messages — binary, deeply
// nested JSON, JSON of the wrong types, on every command topic, every
// bridge request path (known and unknown) and topics with unicode and
// wildcard-looking levels — must not crash the daemon, must keep its heap
// bounded, must answer every bad bridge request with status "error" (or log
// why it could not) and log every bad command with a reason, and the
// bridge must apply a normal command afterwards. Payloads of 1 MiB and
// more (TestHostileMQTTHugePayloads) are refused by the embedded broker
// and reach the bridge through Mosquitto.

const (
	stormMessages = 10_000
	// stormLiveBound is the most the live heap (after GC) may grow over the
	// storm, beyond the recorder's copy of every message: the daemon's own
	// growth plus the harness's copies of some 10,000 log entries (about
	// 15 MiB). Keeping the storm's payloads (about 40 MiB) would exceed it.
	stormLiveBound = 32 << 20
	// stormInUseBound bounds HeapInuse after GC the same way; it also
	// counts the fragmentation the storm's small objects leave behind.
	stormInUseBound = 96 << 20
)

// stormKind says what the bridge must do with a storm message.
type stormKind int

const (
	stormRequest  stormKind = iota + 1 // answered on bridge/response/<path> with status error
	stormCommand                       // logged (warn) with a reason
	stormRefresh                       // a /get of a known device: a refresh, nothing to report
	stormIgnored                       // not a command topic: dropped silently
	stormRetained                      // retained command or request: ignored with a debug reason
)

type stormMsg struct {
	topic    string
	payload  []byte
	retained bool
	kind     stormKind
}

// stormDevice is one bridged device as bridge/devices lists it.
type stormDevice struct {
	ID           string   `json:"id"`
	Topic        string   `json:"topic"`
	Capabilities []string `json:"capabilities"`
}

// badPayloads returns a generator of payloads that no command topic and no
// bridge request accepts (and that are never empty: an empty request is
// a valid "{}").
func badPayloads(rng *rand.Rand) func(allowJSONObject bool) []byte {
	wrongTypes := []string{
		`{"state":5}`, `{"state":null}`, `{"state":[]}`, `{"state":{}}`, `{"state":"ONN"}`, `{"state":1e400}`,
		`{"led":1.5}`, `{"led":[true]}`, `{"restart":[]}`, `{"restart":{}}`, `{"STATE":"maybe"}`, `{"bogus":"ON"}`,
		`{"state":"ON","extra":1}`, `{"state":"\u0000ON"}`, `{"state":"ON"`, `{"state":"ON"}{"state":"OFF"}`,
		`{"transaction":{"nested":[1,2,{"x":null}]},"id":5}`, `{"transaction":[1,2],"bogus":true}`,
		`{"transaction":"t","id":{"$gt":""}}`, `{"options":"kitchen"}`, `{"options":{"topic":5},"id":"x"}`,
		`{"level":5}`, `{"level":["debug"]}`, `{"to":{"name":"x"},"id":"x"}`, `{"account":false}`,
		`{"id":"` + strings.Repeat("\\u0000", 50) + `"}x`, `{"from":null,"topic":[]}`,
	}
	nonObjects := []string{`[]`, `[{"state":"ON"}]`, `"ON"`, `5`, `null`, `true`, `-0`, `"\u00d6N"`, `[`, `]`, `}`, `ÖN`, `ON OFF`, `0N`}
	return func(allowJSONObject bool) []byte {
		switch n := rng.IntN(100); {
		case n < 30: // binary, starting with a byte that is neither blank nor '{' nor a letter
			b := make([]byte, 1+rng.IntN(512))
			for i := range b {
				b[i] = byte(rng.UintN(256))
			}
			b[0] = byte(0xfe + rng.IntN(2)) // never valid UTF-8, so never trimmed as a blank
			return b
		case n < 45: // deeply nested arrays (within the 16 KiB the bridge parses)
			depth := 100 + rng.IntN(7900)
			if allowJSONObject && rng.IntN(2) == 0 {
				return []byte(`{"state":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`)
			}
			return []byte(strings.Repeat("[", depth) + strings.Repeat("]", depth))
		case n < 55: // just over the size the bridge parses
			return []byte(`{"state":"` + strings.Repeat("O", 16<<10) + `N"}`)
		case n < 80 && allowJSONObject:
			return []byte(wrongTypes[rng.IntN(len(wrongTypes))])
		default:
			return []byte(nonObjects[rng.IntN(len(nonObjects))])
		}
	}
}

func TestHostileMQTTStorm(t *testing.T) {
	if !alone(t) { // it measures the heap
		return
	}
	h := newHarness(t, "mochi")
	h.cfg.Poll.Interval = 2 * time.Second
	f := h.addFleet()
	h.start()
	lamp := h.deviceTopic(0, f.lamp)
	h.rec.waitMsg(0, base+"/"+lamp, contains(`"state":"OFF"`))
	var devices []stormDevice
	h.rec.waitMsg(0, base+"/bridge/devices", func(p string) bool {
		return json.Unmarshal([]byte(p), &devices) == nil && len(devices) == 10
	})

	pub := newStormPublisher(t, h.broker.url())
	heapBefore, liveBefore := heapInUse()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	msgs := stormPlan(rng, badPayloads(rng), devices)
	count, size := len(msgs), stormBytes(msgs)
	recBefore := h.rec.mark()
	peak := watchHeap()
	started := time.Now()
	for _, m := range msgs {
		pub.publish(t, m)
	}
	sent := time.Since(started)

	// Every request answered and every bad command logged: wait until the
	// counts add up (or time out and report what is missing).
	var missing []string
	deadline := time.Now().Add(waitFor)
	for {
		missing = stormUnaccounted(h, msgs, recBefore)
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	done := time.Since(started)
	peakInUse := peak()
	for i, m := range missing {
		if i == 20 {
			t.Errorf("… and %d more", len(missing)-20)
			break
		}
		t.Error(m)
	}

	// Memory: what the daemon holds after GC, beyond what the test keeps.
	msgs = nil
	heapAfter, liveAfter := heapInUse()
	var kept int64
	for _, m := range h.rec.all()[recBefore:] {
		kept += int64(len(m.topic) + len(m.payload))
	}
	grownInUse := int64(heapAfter) - int64(heapBefore) - kept
	grownLive := int64(liveAfter) - int64(liveBefore) - kept
	t.Logf("storm of %d messages (%d MiB) published in %v, all answered or logged after %v; after GC: heap in use %d → %d MiB, live %d → %d MiB, of which %d MiB the recorder's copies; peak in use %d MiB",
		count, size>>20, sent.Round(time.Millisecond), done.Round(time.Millisecond),
		heapBefore>>20, heapAfter>>20, liveBefore>>20, liveAfter>>20, kept>>20, peakInUse>>20)
	if grownLive > stormLiveBound {
		t.Errorf("the live heap grew by %d MiB over the storm (beyond the recorder's copies), want < %d MiB", grownLive>>20, stormLiveBound>>20)
	}
	if grownInUse > stormInUseBound {
		t.Errorf("HeapInuse grew by %d MiB over the storm (beyond the recorder's copies), want < %d MiB", grownInUse>>20, stormInUseBound>>20)
	}
	if h.logged(zapcore.WarnLevel, "lost the MQTT connection") {
		t.Errorf("the bridge lost its MQTT connection during the storm")
	}

	// Still working: a normal command is applied and confirmed.
	from := h.rec.mark()
	h.rec.publish(base+"/"+lamp+"/set", "ON", false)
	h.rec.waitMsg(from, base+"/"+lamp, contains(`"state":"ON"`))
	if !h.fake.Relay(f.lamp) {
		t.Errorf("the lamp's relay is off in the cloud after ON")
	}
	if r := h.request("health_check", "{}"); r.Status != "ok" {
		t.Errorf("health_check after the storm: %+v", r)
	}
}

// stormPaths are the bridge request paths of the storm, known and unknown.
var stormPaths = []string{"health_check", "info", "devices/refresh", "device/refresh", "device/rename", "device/options",
	"log_level", "restart", "nope", "device", "device/", "devices/refresh/x", "../info", "ïnfo", "info/😀",
	"＋", "＃/x", "$SYS", "INFO", " info", "info ", "log_level/x/y/z", strings.Repeat("a/", 200) + "b"}

// stormPlan builds the storm: every message is bad for the topic it goes
// to, except /get of a known device (a refresh, whatever the payload).
// The huge payloads are separate (hugePayloads): the tests' embedded
// broker refuses packets over 1 MiB before they reach the bridge.
func stormPlan(rng *rand.Rand, bad func(bool) []byte, devices []stormDevice) []stormMsg {
	paths := stormPaths
	weirdDevices := []string{"nope", "ünïcødé", "＋", "＃", "$SYS", "bridge", "lamp/set/state", "😀/😀", " ", "a b",
		"living_room_lamp/x", strings.Repeat("deep/", 100) + "x", "\u200b", "\u202e", "ｌａｍｐ"}
	props := []string{"", "/state", "/led", "/bogus", "/ünï", "/STATE"}
	var out []stormMsg
	add := func(topic string, payload []byte, kind stormKind) {
		out = append(out, stormMsg{topic: topic, payload: payload, kind: kind})
	}
	for len(out) < stormMessages {
		switch n := rng.IntN(100); {
		case n < 55: // a known device's command topics
			d := devices[rng.IntN(len(devices))]
			if rng.IntN(20) == 0 {
				add(base+"/"+d.Topic+"/get", bad(true), stormRefresh)
				continue
			}
			prop := props[rng.IntN(len(props))]
			add(base+"/"+d.Topic+"/set"+prop, bad(prop == ""), stormCommand)
		case n < 65: // devices that do not exist, with odd levels
			dev := weirdDevices[rng.IntN(len(weirdDevices))]
			suffix := []string{"/set", "/get", "/set/state", "/set/restart"}[rng.IntN(4)]
			add(base+"/"+dev+suffix, bad(true), stormCommand)
		case n < 92: // bridge requests, known and unknown paths
			add(base+"/bridge/request/"+paths[rng.IntN(len(paths))], bad(true), stormRequest)
		default: // not commands: state, availability, spoofed responses and events
			d := devices[rng.IntN(len(devices))]
			topic := []string{base + "/" + d.Topic, base + "/" + d.Topic + "/availability", base + "/bridge/response/spoofed",
				base + "/bridge/event", base + "/ünï/😀", base + "/" + d.Topic + "/set/state/x/y"}[rng.IntN(6)]
			add(topic, bad(true), stormIgnored)
		}
	}
	// Retained commands and requests are ignored.
	for range 20 {
		i := rng.IntN(len(out))
		if out[i].kind == stormCommand || out[i].kind == stormRequest {
			out[i].retained, out[i].kind = true, stormRetained
		}
	}
	// The longest topics MQTT allows: a request whose response topic would
	// be longer than that, plain and with a multi-byte character where a
	// cut at 65,535 bytes would fall.
	prefix := base + "/bridge/request/"
	long := prefix + strings.Repeat("x", 65535-len(prefix))
	cut := prefix + strings.Repeat("x", 65535-len(prefix)-2) + "é"
	out = append(out, stormMsg{topic: long, payload: []byte("[1]"), kind: stormRequest},
		stormMsg{topic: cut, payload: []byte("[2]"), kind: stormRequest})
	return out
}

// hugePayloads are 8 messages of 1 to 2 MiB, on commands and requests.
func hugePayloads(rng *rand.Rand, devices []stormDevice) []stormMsg {
	var out []stormMsg
	for i := range 8 {
		big := make([]byte, 1<<20+rng.IntN(1<<20))
		for j := range big {
			big[j] = byte('A' + j%26)
		}
		big[0] = '{'
		topic, kind := base+"/"+devices[i%len(devices)].Topic+"/set", stormCommand
		if i%2 == 1 {
			topic, kind = base+"/bridge/request/"+stormPaths[i], stormRequest
		}
		out = append(out, stormMsg{topic: topic, payload: big, kind: kind})
	}
	return out
}

func stormBytes(msgs []stormMsg) int64 {
	var n int64
	for _, m := range msgs {
		n += int64(len(m.topic) + len(m.payload))
	}
	return n
}

// stormReasons are the log messages that account for a bad command, with
// the lowest level each may have.
var stormReasons = map[string]zapcore.Level{
	"ignoring bad command":                               zapcore.WarnLevel,
	"command for an unknown device":                      zapcore.WarnLevel,
	"device does not support this command":               zapcore.WarnLevel,
	"device has no relay":                                zapcore.WarnLevel,
	"command queue full, dropping message":               zapcore.WarnLevel,
	"ignoring retained message on a command topic":       zapcore.DebugLevel,
	"ignoring retained bridge request":                   zapcore.DebugLevel,
	"cannot answer the request: response topic too long": zapcore.WarnLevel,
}

// stormUnaccounted returns one line per storm topic whose messages are not
// all answered (requests: one response with status "error" each) or logged
// with a reason (commands). It reads the logs and the recorder once.
func stormUnaccounted(h *harness, msgs []stormMsg, recFrom int) []string {
	logged := map[string]int{}
	for _, e := range h.logs.All() {
		lvl, ok := stormReasons[e.Message]
		if !ok || e.Level < lvl {
			continue
		}
		for _, f := range e.Context {
			if f.Key == "topic" {
				logged[f.String]++
				break
			}
		}
	}
	answered := map[string]int{}
	var wrong []string
	for _, m := range h.rec.all()[recFrom:] {
		path, ok := strings.CutPrefix(m.topic, base+"/bridge/response/")
		if !ok || path == "spoofed" { // "spoofed" is the storm's own
			continue
		}
		var r response
		if json.Unmarshal([]byte(m.payload), &r) != nil {
			wrong = append(wrong, fmt.Sprintf("request %s answered with invalid JSON: %s", short(path), short(m.payload)))
			continue
		}
		if r.Status != "error" {
			wrong = append(wrong, fmt.Sprintf("request %s answered %q: %s", short(path), r.Status, short(m.payload)))
			continue
		}
		answered[base+"/bridge/request/"+path]++
	}
	// A retained message reaches a live subscription either with the
	// retain flag (ignored, debug) or without (handled like any other), so
	// it counts like the others on its topic.
	want := map[string]int{}
	requests := map[string]bool{}
	for _, m := range msgs {
		if m.kind == stormRequest || m.kind == stormCommand || m.kind == stormRetained {
			want[m.topic]++
		}
		if strings.HasPrefix(m.topic, base+"/bridge/request/") {
			requests[m.topic] = true
		}
	}
	var out []string
	for topic, n := range want {
		got := logged[topic] + answered[topic]
		if requests[topic] {
			if got != n {
				out = append(out, fmt.Sprintf("%d requests on %s: %d answered with an error or logged", n, short(topic), got))
			}
			continue
		}
		if got < n {
			out = append(out, fmt.Sprintf("%d bad commands on %s: %d logged with a reason", n, short(topic), got))
		}
	}
	return append(wrong, out...)
}

func short(s string) string {
	if len(s) > 120 {
		return fmt.Sprintf("%s… (%d bytes)", s[:120], len(s))
	}
	return s
}

// heapInUse returns HeapInuse and the live heap after a full GC.
func heapInUse() (inUse, live uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return ms.HeapInuse, s[0].Value.Uint64()
}

// watchHeap samples HeapInuse every 20ms until the returned function is
// called, which returns the peak.
func watchHeap() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 {
		close(stop)
		wg.Wait()
		return peak.Load()
	}
}

// stormPublisher publishes the storm at QoS 1, one message at a time.
type stormPublisher struct {
	client paho.Client
}

func newStormPublisher(t *testing.T, brokerURL string) *stormPublisher {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(strings.Replace(brokerURL, "mqtt://", "tcp://", 1)).
		SetClientID(fmt.Sprintf("storm-%d", time.Now().UnixNano())).SetAutoReconnect(false).SetOrderMatters(true)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("storm publisher connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return &stormPublisher{client: c}
}

func (p *stormPublisher) publish(t *testing.T, m stormMsg) {
	t.Helper()
	tok := p.client.Publish(m.topic, 1, m.retained, m.payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish on %s: %v (connected: %v)", short(m.topic), tok.Error(), p.client.IsConnectionOpen())
	}
}

// TestHostileMQTTHugePayloads: payloads of 1 to 2 MiB on command topics
// and bridge requests. Through Mosquitto (no size limit) they reach the
// bridge, which refuses each for its real size: requests are answered with
// an error naming the size, commands logged. The embedded broker refuses
// them itself (the tests' broker has max_packet_size 1 MiB): the sender is
// disconnected, nothing reaches the bridge, and the bridge carries on.
func TestHostileMQTTHugePayloads(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, kind string) {
		h := newHarness(t, kind)
		f := h.addFleet()
		h.start()
		lamp := h.deviceTopic(0, f.lamp)
		var devices []stormDevice
		h.rec.waitMsg(0, base+"/bridge/devices", func(p string) bool {
			return json.Unmarshal([]byte(p), &devices) == nil && len(devices) == 10
		})
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
		msgs := hugePayloads(rng, devices)
		from := h.rec.mark()

		if kind == "mosquitto" {
			pub := newStormPublisher(t, h.broker.url())
			for _, m := range msgs {
				pub.publish(t, m)
			}
			eventually(t, "every huge request answered and every huge command logged", func() bool {
				return len(stormUnaccounted(h, msgs, from)) == 0
			})
			errs := map[string]bool{}
			for _, m := range h.rec.all()[from:] {
				var r response
				if strings.HasPrefix(m.topic, base+"/bridge/response/") && json.Unmarshal([]byte(m.payload), &r) == nil {
					errs[r.Error] = true
				}
			}
			for _, m := range msgs {
				if m.kind != stormRequest {
					continue
				}
				found := false
				for e := range errs {
					if strings.Contains(e, fmt.Sprintf("payload of %d bytes is larger than", len(m.payload))) {
						found = true
					}
				}
				if !found {
					t.Errorf("no response names the size of the %d-byte request", len(m.payload))
				}
			}
		} else {
			for _, m := range msgs[:2] { // a command and a request
				lost := make(chan error, 1)
				c := paho.NewClient(paho.NewClientOptions().AddBroker(strings.Replace(h.broker.url(), "mqtt://", "tcp://", 1)).
					SetClientID(fmt.Sprintf("huge-%d", time.Now().UnixNano())).SetAutoReconnect(false).
					SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }))
				if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
					t.Fatalf("connect: %v", tok.Error())
				}
				c.Publish(m.topic, 1, false, m.payload)
				select {
				case <-lost:
				case <-time.After(waitFor):
					t.Errorf("the embedded broker kept the connection of a client that sent %d bytes", len(m.payload))
				}
				c.Disconnect(50)
			}
			if r := h.request("health_check", "{}"); r.Status != "ok" {
				t.Errorf("health_check after the refused packets: %+v", r)
			}
			for _, m := range h.rec.all()[from:] {
				if strings.HasPrefix(m.topic, base+"/bridge/response/") && strings.Contains(m.payload, "larger than") {
					t.Errorf("a refused packet reached the bridge: %s %s", m.topic, short(m.payload))
				}
			}
		}
		// Still working: a normal command is applied and confirmed.
		mk := h.rec.mark()
		h.rec.publish(base+"/"+lamp+"/set", "ON", false)
		h.rec.waitMsg(mk, base+"/"+lamp, contains(`"state":"ON"`))
	})
}
