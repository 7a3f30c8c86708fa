package bridge

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/internal/broker"
)

// memAccount is an account of one plug held in memory.
type memAccount struct {
	testProvider
	mu sync.Mutex
	on bool
}

func (a *memAccount) ListDevices(context.Context) ([]cloud.Device, error) {
	return []cloud.Device{plug("A", "Lamp", true)}, nil
}

func (a *memAccount) ReadStates(_ context.Context, ids []string) ([]cloud.State, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return []cloud.State{relayState(ids[0], a.on)}, nil
}

func (a *memAccount) Apply(_ context.Context, cmd cloud.Command) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.on = cmd.On
	return nil
}

// watcher is an MQTT client that records every message it sees.
type watcher struct {
	t      *testing.T
	client paho.Client
	mu     sync.Mutex
	msgs   []paho.Message
	from   int           // waitFor looks at msgs[from:]
	more   chan struct{} // signalled on every message
}

func watch(t *testing.T, server string) *watcher {
	t.Helper()
	w := &watcher{t: t, more: make(chan struct{}, 1)}
	opts := paho.NewClientOptions().AddBroker(strings.Replace(server, "mqtt://", "tcp://", 1)).SetClientID("watcher").
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			w.mu.Lock()
			w.msgs = append(w.msgs, m)
			w.mu.Unlock()
			select {
			case w.more <- struct{}{}:
			default:
			}
		})
	w.client = paho.NewClient(opts)
	if err := waitToken(t.Context(), w.client.Connect(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := waitToken(t.Context(), w.client.Subscribe("#", 1, nil), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.client.Disconnect(0) })
	return w
}

// waitFor waits for a message on topic whose payload contains want, among
// those since the last mark (retained topics are coalesced by the outbox,
// so messages of different topics may come in any order).
func (w *watcher) waitFor(topic, want string) {
	w.t.Helper()
	guard := time.After(20 * time.Second) // against a hang, not a timing
	for {
		w.mu.Lock()
		for _, m := range w.msgs[w.from:] {
			if m.Topic() == topic && strings.Contains(string(m.Payload()), want) {
				w.mu.Unlock()
				return
			}
		}
		w.mu.Unlock()
		select {
		case <-w.more:
		case <-guard:
			w.t.Fatalf("no message on %s containing %s", topic, want)
		}
	}
}

// mark makes waitFor ignore the messages seen so far.
func (w *watcher) mark() {
	w.mu.Lock()
	w.from = len(w.msgs)
	w.mu.Unlock()
}

func (w *watcher) publish(topic, payload string) {
	w.t.Helper()
	if err := waitToken(w.t.Context(), w.client.Publish(topic, 1, false, payload), 10*time.Second); err != nil {
		w.t.Fatal(err)
	}
}

// The run loop wired to a real broker: the first connect replays, a
// command goes through the device's worker, Home Assistant's birth replays
// after the birth delay, bridge/info is refreshed every minute, and a
// clean stop leaves the bridge offline. Time is the fake clock's.
func TestRun_ThroughARealBroker(t *testing.T) {
	brk, err := broker.Start(broker.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer brk.Close()
	w := watch(t, brk.URL())
	clk := newFakeClock()
	b, err := New(Options{MQTT: MQTTOptions{Server: brk.URL(), ClientID: "bridge"}, HomeAssistant: true, StateDir: t.TempDir(),
		BirthDelay: func() time.Duration { return 3 * time.Second }, clock: clk},
		&memAccount{testProvider: *home})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()

	<-b.FirstConnect()
	w.waitFor("kasa2mqtt/lamp/availability", "online")
	w.waitFor("kasa2mqtt/lamp", `"state":"OFF"`)
	if err := b.Ready(); err != nil || !b.Connected() || !b.Alive(time.Minute) {
		t.Errorf("ready %v, connected %v, alive %v", err, b.Connected(), b.Alive(time.Minute))
	}

	w.mark()
	w.publish("kasa2mqtt/lamp/set", "ON")
	w.waitFor("kasa2mqtt/lamp", `"state":"ON"`)
	w.publish("kasa2mqtt/bridge/request/device/refresh", `{"topic":"lamp","transaction":1}`)
	w.waitFor("kasa2mqtt/bridge/response/device/refresh", `"state":{"state":"ON"`)
	// Everything published before the answer went out before it.
	w.mark()

	// Timers armed now: the poller's two, the run loop's tick; Home
	// Assistant's birth adds the fourth.
	w.publish("homeassistant/status", "online")
	clk.waitArmed(t, 4)
	clk.Advance(3 * time.Second)
	w.waitFor("homeassistant/device/kasa2mqtt_bridge_kasa2mqtt/config", "kasa2mqtt")
	w.mark()

	for range 4 {
		clk.waitArmed(t, 3)
		clk.Advance(infoTick)
	}
	w.waitFor("kasa2mqtt/bridge/info", `"uptime_seconds":63`)

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	w.waitFor("kasa2mqtt/bridge/state", "offline")
}
