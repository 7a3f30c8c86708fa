package bridge

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/internal/broker"
)

// listAccount is an account whose device list the test changes.
type listAccount struct {
	testProvider
	mu   sync.Mutex
	devs []cloud.Device
}

func (a *listAccount) set(devs ...cloud.Device) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.devs = devs
}

func (a *listAccount) ListDevices(context.Context) ([]cloud.Device, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.devs), nil
}

func (a *listAccount) ReadStates(_ context.Context, ids []string) ([]cloud.State, error) {
	var out []cloud.State
	for _, id := range ids {
		out = append(out, relayState(id, true))
	}
	return out, nil
}

// indexOf returns the index of the first message since the mark on topic
// with exactly payload, waiting for it.
func (w *watcher) indexOf(topic, payload string) int {
	w.t.Helper()
	guard := time.After(20 * time.Second) // against a hang, not a timing
	for {
		w.mu.Lock()
		for i, m := range w.msgs[w.from:] {
			if m.Topic() == topic && string(m.Payload()) == payload {
				w.mu.Unlock()
				return w.from + i
			}
		}
		w.mu.Unlock()
		select {
		case <-w.more:
		case <-guard:
			w.t.Fatalf("no message on %s with payload %q", topic, payload)
		}
	}
}

// seen reports whether a message on topic with payload came since the mark.
func (w *watcher) seen(topic, payload string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.ContainsFunc(w.msgs[w.from:], func(m paho.Message) bool { return m.Topic() == topic && string(m.Payload()) == payload })
}

// The run loop's timer for delayed clears: a device that leaves the
// account has its discovery cleared at once and its state and
// availability only when the fake clock has moved on by clearGrace.
func TestRun_RemovalClearsStateAfterTheGrace(t *testing.T) {
	brk, err := broker.Start(broker.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer brk.Close()
	w := watch(t, brk.URL())
	clk := newFakeClock()
	acct := &listAccount{testProvider: *home}
	acct.set(plug("A", "Lamp", true), plug("B", "Fan", true))
	b, err := New(Options{MQTT: MQTTOptions{Server: brk.URL(), ClientID: "bridge"}, HomeAssistant: true, StateDir: t.TempDir(), clock: clk}, acct)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	<-b.FirstConnect()
	w.waitFor("kasa2mqtt/fan", `"state":"ON"`)

	w.mark()
	acct.set(plug("A", "Lamp", true))
	w.publish("kasa2mqtt/bridge/request/devices/refresh", "{}")
	config := w.indexOf("homeassistant/device/kasa_B/config", "")
	w.waitFor("kasa2mqtt/bridge/devices", "lamp") // the end of the list's publications
	if w.seen("kasa2mqtt/fan", "") || w.seen("kasa2mqtt/fan/availability", "") {
		t.Fatal("state or availability cleared before the grace")
	}
	clk.waitArmed(t, 4) // the poller's two, the tick, the clear
	clk.Advance(clearGrace)
	state, avail := w.indexOf("kasa2mqtt/fan", ""), w.indexOf("kasa2mqtt/fan/availability", "")
	if state < config || avail < config {
		t.Errorf("cleared state at %d and availability at %d, before discovery at %d", state, avail, config)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
