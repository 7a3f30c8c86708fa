package bridge

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kasa2mqtt/kasa2mqtt/internal/broker"
)

// drain pops everything queued, as "topic=payload".
func drain(o *outbox) []string {
	var got []string
	for {
		m, ok := o.pop()
		if !ok {
			return got
		}
		got = append(got, m.topic+"="+string(m.payload))
	}
}

func TestOutboxCoalescesRetainedTopicsInOrder(t *testing.T) {
	o := newOutbox(nil, func() bool { return false }, zap.NewNop())
	o.put(message{topic: "a", payload: []byte("1"), retained: true})
	o.put(message{topic: "b", payload: []byte("1"), retained: true})
	o.put(message{topic: "a", payload: []byte("2"), retained: true}) // replaces, keeps a's place
	o.put(message{topic: "e", payload: []byte("x")})                 // not retained: never coalesced
	o.put(message{topic: "e", payload: []byte("y")})
	got := drain(o)
	want := []string{"a=2", "b=1", "e=x", "e=y"}
	if len(got) != len(want) {
		t.Fatalf("popped %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("popped %v, want %v", got, want)
		}
	}
}

// A clear that replaces a queued publication goes after everything queued
// before it: a rename's old state topic, still queued from a replay, must
// not be cleared before the new discovery that moves Home Assistant's
// entities off it.
func TestOutboxClearGoesAfterWhatWasQueued(t *testing.T) {
	o := newOutbox(nil, func() bool { return false }, zap.NewNop())
	o.put(message{topic: "k/lamp", payload: []byte("state"), retained: true})
	o.put(message{topic: "ha/lamp/config", payload: []byte("moved"), retained: true})
	o.put(message{topic: "k/desk_lamp", payload: []byte("state"), retained: true})
	o.put(message{topic: "k/lamp", payload: nil, retained: true})
	o.put(message{topic: "k/desk_lamp", payload: []byte("newer"), retained: true}) // not a clear: keeps its place
	if got, want := drain(o), []string{"ha/lamp/config=moved", "k/desk_lamp=newer", "k/lamp="}; !slices.Equal(got, want) {
		t.Errorf("popped %q, want %q", got, want)
	}
}

// A message larger than the broker accepts is not sent (the broker would
// drop the connection, again after every replay): one error per topic
// names the size and the limit; smaller ones go on.
func TestOutboxKeepsBackWhatTheBrokerRefuses(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	o := newOutbox(nil, func() bool { return false }, zap.New(core))
	o.maxPacket = 1000
	big := bytes.Repeat([]byte("x"), 1000)
	o.put(message{topic: "k/bridge/devices", payload: big, retained: true})
	o.put(message{topic: "k/lamp", payload: []byte("on"), retained: true})
	o.put(message{topic: "k/bridge/devices", payload: big, retained: true})
	if got, want := drain(o), []string{"k/lamp=on"}; !slices.Equal(got, want) {
		t.Errorf("popped %q, want %q", got, want)
	}
	lines := logs.FilterMessageSnippet("larger than the broker accepts").All()
	if len(lines) != 1 || lines[0].ContextMap()["max_packet_size"] != int64(1000) {
		t.Errorf("logged %v, want one error naming the limit", lines)
	}
}

func TestBrokerURL(t *testing.T) {
	tests := map[string]string{
		"mqtt://broker":        "tcp://broker:1883",
		"mqtt://10.0.0.2:1884": "tcp://10.0.0.2:1884",
		"mqtts://broker.lan":   "ssl://broker.lan:8883",
		"mqtts://[::1]:8884":   "ssl://[::1]:8884",
		"http://broker:1883":   "",
		"broker:1883":          "",
	}
	for in, want := range tests {
		got, err := brokerURL(in)
		if want == "" {
			if err == nil {
				t.Errorf("brokerURL(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("brokerURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// Coalesced discovery messages keep the stubs of the newest one, which
// are the ones the broker will acknowledge.
func TestOutboxCoalescedKeepsTheNewestRemoval(t *testing.T) {
	o := newOutbox(nil, func() bool { return false }, zap.NewNop())
	o.put(message{topic: "ha/d/config", payload: []byte("1"), retained: true, removal: &removal{seq: 1}})
	o.put(message{topic: "ha/d/config", payload: []byte("2"), retained: true, removal: &removal{seq: 2}})
	m, ok := o.pop()
	if !ok || string(m.payload) != "2" || m.removal == nil || m.removal.seq != 2 {
		t.Errorf("popped %q with %+v, want the newest payload and its removal", m.payload, m.removal)
	}
}

// The outbox keeps several publications awaiting their acknowledgement
// (publishWindow) and still delivers everything in the order it was
// queued, and hands every acknowledged one to sent in that order.
func TestOutboxDeliversInOrderThroughARealBroker(t *testing.T) {
	brk, err := broker.Start(broker.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer brk.Close()
	w := watch(t, brk.URL())
	client := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + brk.Addr()).SetClientID("bridge"))
	if err := waitToken(t.Context(), client.Connect(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(0)
	o := newOutbox(client, func() bool { return true }, zap.NewNop())
	var mu sync.Mutex
	var sent []string
	o.sent = func(m message) {
		mu.Lock()
		sent = append(sent, m.topic+"="+string(m.payload))
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go o.run(ctx)

	const n = 20 * publishWindow
	var want []string
	for i := range n {
		topic, retained := "seq", i%2 == 0 // an event stream and retained topics, interleaved
		if retained {
			topic = fmt.Sprintf("r/%d", i)
		}
		o.put(message{topic: topic, payload: []byte(strconv.Itoa(i)), retained: retained})
		want = append(want, topic+"="+strconv.Itoa(i))
	}
	guard := time.After(30 * time.Second) // against a hang, not a timing
	for {
		w.mu.Lock()
		got := len(w.msgs)
		w.mu.Unlock()
		if got >= n {
			break
		}
		select {
		case <-w.more:
		case <-guard:
			t.Fatalf("the subscriber got %d of %d messages", got, n)
		}
	}
	w.mu.Lock()
	var got []string
	for _, m := range w.msgs {
		got = append(got, m.Topic()+"="+string(m.Payload()))
	}
	w.mu.Unlock()
	if !slices.Equal(got, want) {
		t.Errorf("the subscriber got the messages in another order than they were queued")
	}
	cancel()
	mu.Lock()
	defer mu.Unlock()
	// All n were published; at most a window's worth awaits its PUBACK.
	if len(sent) < n-publishWindow || len(sent) > n || !slices.Equal(sent, want[:len(sent)]) {
		t.Errorf("sent was told of %d acknowledged messages (want at least %d), in the queued order: %v",
			len(sent), n-publishWindow, len(sent) <= n && slices.Equal(sent, want[:len(sent)]))
	}
}
